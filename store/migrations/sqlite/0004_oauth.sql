-- OAuth state of a connection (discovery, client credentials, tokens), one
-- encrypted JSON document; and pending authorizations, by state.
ALTER TABLE connections ADD COLUMN oauth_enc BLOB;

CREATE TABLE oauth_states (
    -- The state itself is a bearer secret for the callback: keep its hash.
    state_hash    BLOB PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    -- The PKCE verifier, encrypted (AAD bound to the state hash).
    verifier_enc  BLOB NOT NULL,
    issuer        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
) STRICT;

CREATE INDEX oauth_states_expiry ON oauth_states (expires_at);
