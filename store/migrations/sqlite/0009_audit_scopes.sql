-- The audit log, API key scopes and expiry, and who started an OAuth flow.
-- Expand only: the previous release keeps working against this schema.

-- One row per change made through the API or the CLI (or by tether itself,
-- actor_type 'system'), written in the same transaction as the change.
-- tenant_id NULL: an operator event (keyring rotation and retirement,
-- tenants created and deleted), shown by `tether audit --operator` only.
-- A tenant's events go with the tenant; a connection's stay after it is
-- deleted (connection_id is no foreign key), until retention prunes them.
CREATE TABLE audit_events (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    tenant_id        TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    at               TEXT NOT NULL,
    actor_type       TEXT NOT NULL,
    actor_key_id     TEXT,
    actor_key_prefix TEXT,
    action           TEXT NOT NULL,
    target_id        TEXT NOT NULL,
    -- The connection the event concerns (its own id, or a tool's
    -- connection), for the connection_id filter; NULL for others.
    connection_id    TEXT,
    -- JSON {field: {from, to}}, secret-bearing fields as "set"/"removed".
    changes          TEXT NOT NULL DEFAULT '{}'
) STRICT;

CREATE INDEX audit_events_tenant_seq ON audit_events (tenant_id, seq);
CREATE INDEX audit_events_tenant_connection_seq ON audit_events (tenant_id, connection_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- admin (everything) or agent (/mcp and the tool API only); expired keys
-- are refused like revoked ones.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE api_keys ADD COLUMN expires_at TEXT;
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Who started an OAuth flow: the callback that finishes it is recorded as
-- theirs. NULL on states written before this migration.
ALTER TABLE oauth_states ADD COLUMN actor_type TEXT;
ALTER TABLE oauth_states ADD COLUMN actor_key_id TEXT;
ALTER TABLE oauth_states ADD COLUMN actor_key_prefix TEXT;
