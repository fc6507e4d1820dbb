-- Tenants, their API keys (hashed) and their connections.
CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hash       BLOB NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
) STRICT;

CREATE TABLE connections (
    -- seq orders rows by creation for stable offset pagination.
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug                TEXT NOT NULL,
    nickname            TEXT NOT NULL,
    description         TEXT NOT NULL,
    transport           TEXT NOT NULL,
    connected_transport TEXT NOT NULL DEFAULT '',
    endpoint            TEXT NOT NULL DEFAULT '',
    command             TEXT NOT NULL DEFAULT '',
    args                TEXT NOT NULL DEFAULT '[]',
    auth_type           TEXT NOT NULL,
    -- JSON maps, AES-256-GCM encrypted (secrets package), NULL when empty.
    headers_enc         BLOB,
    secrets_enc         BLOB,
    auto_connect        INTEGER NOT NULL,
    enabled             INTEGER NOT NULL,
    timeout_ms          INTEGER NOT NULL,
    persona_id          TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL,
    status_reason       TEXT NOT NULL DEFAULT '',
    tools_status        TEXT NOT NULL,
    tool_count          INTEGER NOT NULL DEFAULT 0,
    connected_at        TEXT,
    tools_synced_at     TEXT,
    last_refreshed_at   TEXT,
    last_used_at        TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (tenant_id, slug)
) STRICT;

CREATE INDEX connections_tenant_seq ON connections (tenant_id, seq);
CREATE INDEX connections_tenant_status_seq ON connections (tenant_id, status, seq);
