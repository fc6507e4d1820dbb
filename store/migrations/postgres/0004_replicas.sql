-- The replicas of a fleet and the encryption keys each has loaded, for
-- the two-step key rotation: `tether keys promote` makes a key primary
-- only once every live replica (seen within a bound) reports it loaded.
-- A replica reports at start, on every key reload and every half minute;
-- it removes its row when it stops cleanly.
CREATE TABLE replicas (
    replica_id  TEXT PRIMARY KEY,
    key_ids     TEXT NOT NULL, -- comma-separated, primary first
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at     TIMESTAMPTZ NOT NULL
);
