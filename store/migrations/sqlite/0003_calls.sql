-- One record per tool invocation (arguments and results are not stored).
CREATE TABLE calls (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    tool_path     TEXT NOT NULL,
    slug          TEXT NOT NULL,
    via           TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX calls_connection_seq ON calls (connection_id, seq);
