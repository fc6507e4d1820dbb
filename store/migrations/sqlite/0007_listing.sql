-- Lists without decrypting, counting or skipping rows.
--
-- What lists show of a row's credentials, kept beside the ciphertext:
-- secret names (never values), one per line; and the headers as responses
-- show them, one "name:value" line each, or NULL when a header holds a
-- literal value that responses show (that stays in headers_enc only).
-- NULL secret_names: written before this migration; lists decrypt it.
ALTER TABLE connections ADD COLUMN secret_names TEXT;
ALTER TABLE connections ADD COLUMN header_view TEXT;

-- rev changes with every write to a row, so a decoded row can be reused
-- while its rev stands. Writes bump it themselves; the trigger catches a
-- statement that does not.
ALTER TABLE connections ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER connections_rev AFTER UPDATE ON connections
    FOR EACH ROW WHEN NEW.rev = OLD.rev
BEGIN
    UPDATE connections SET rev = OLD.rev + 1 WHERE seq = NEW.seq;
END;

-- pagination.total without counting rows: the number of a tenant's rows
-- per status, and in all (status ''), kept by triggers. version changes
-- whenever a row joins or leaves the set, so that what was learnt about
-- the set's order (page anchors) is reused only while it holds; changes
-- (on the '' row) with every write to any of the tenant's rows, so that a
-- page's ids and revs are reused only while nothing changed.
CREATE TABLE connection_counts (
    tenant_id TEXT NOT NULL,
    status    TEXT NOT NULL,
    n         INTEGER NOT NULL,
    version   INTEGER NOT NULL,
    changes   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, status)
) STRICT, WITHOUT ROWID;

INSERT INTO connection_counts (tenant_id, status, n, version)
    SELECT tenant_id, status, count(*), 0 FROM connections GROUP BY tenant_id, status;
INSERT INTO connection_counts (tenant_id, status, n, version)
    SELECT tenant_id, '', count(*), 0 FROM connections GROUP BY tenant_id;

CREATE TRIGGER connections_count_insert AFTER INSERT ON connections
BEGIN
    INSERT INTO connection_counts (tenant_id, status, n, version, changes) VALUES (NEW.tenant_id, '', 1, 1, 1)
        ON CONFLICT (tenant_id, status) DO UPDATE SET n = n + 1, version = version + 1, changes = changes + 1;
    INSERT INTO connection_counts (tenant_id, status, n, version) VALUES (NEW.tenant_id, NEW.status, 1, 1)
        ON CONFLICT (tenant_id, status) DO UPDATE SET n = n + 1, version = version + 1;
END;

CREATE TRIGGER connections_count_delete AFTER DELETE ON connections
BEGIN
    UPDATE connection_counts SET n = n - 1, version = version + 1, changes = changes + 1
        WHERE tenant_id = OLD.tenant_id AND status IN ('', OLD.status);
END;

CREATE TRIGGER connections_count_status AFTER UPDATE OF status ON connections
    FOR EACH ROW WHEN NEW.status <> OLD.status
BEGIN
    UPDATE connection_counts SET n = n - 1, version = version + 1
        WHERE tenant_id = OLD.tenant_id AND status = OLD.status;
    INSERT INTO connection_counts (tenant_id, status, n, version) VALUES (NEW.tenant_id, NEW.status, 1, 1)
        ON CONFLICT (tenant_id, status) DO UPDATE SET n = n + 1, version = version + 1;
END;

CREATE TRIGGER connections_changes AFTER UPDATE ON connections
BEGIN
    UPDATE connection_counts SET changes = changes + 1 WHERE tenant_id = NEW.tenant_id AND status = '';
END;
