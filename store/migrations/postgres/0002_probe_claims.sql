-- Health monitor leases (PostgreSQL only: a SQLite database has one
-- tether). A replica probes a connection in its monitor round only after
-- claiming it here; a claim lasts until next_due, so the fleet probes
-- each connection about once per interval, and a replica that dies
-- mid-round holds nothing past next_due. Times are the database's clock,
-- so the replicas' clocks need not agree.
CREATE TABLE probe_claims (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    next_due      TIMESTAMPTZ NOT NULL
);
