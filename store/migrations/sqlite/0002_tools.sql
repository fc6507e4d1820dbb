-- Probe results on the connection, and the tools each server offers.
ALTER TABLE connections ADD COLUMN server_info TEXT NOT NULL DEFAULT '{}';
ALTER TABLE connections ADD COLUMN protocol_version TEXT NOT NULL DEFAULT '';

CREATE TABLE tools (
    id                 TEXT PRIMARY KEY,
    connection_id      TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL,
    -- name is the tool's name exactly as the server gives it (Feather tool_path).
    name               TEXT NOT NULL,
    slug               TEXT NOT NULL,
    title              TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    input_schema       TEXT NOT NULL DEFAULT '{}',
    output_schema      TEXT,
    -- Author settings, kept across re-syncs.
    response_field_map TEXT,
    input_defaults     TEXT,
    is_enabled         INTEGER NOT NULL DEFAULT 1,
    -- available is 0 once a sync no longer finds the tool on the server.
    available          INTEGER NOT NULL DEFAULT 1,
    stale_input_fields TEXT NOT NULL DEFAULT '[]',
    position           INTEGER NOT NULL DEFAULT 0,
    last_seen_at       TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (connection_id, name)
) STRICT;

CREATE INDEX tools_tenant_connection ON tools (tenant_id, connection_id);
