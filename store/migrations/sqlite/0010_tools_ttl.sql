-- The cache hint (ttlMs) of a connection's last tool list, in
-- milliseconds: the health monitor re-syncs the connection at that pace,
-- within the operator's bounds. 0: no hint. Expand only: the previous
-- release leaves it at 0 and re-syncs at its interval.
ALTER TABLE connections ADD COLUMN tools_ttl_ms INTEGER NOT NULL DEFAULT 0;
