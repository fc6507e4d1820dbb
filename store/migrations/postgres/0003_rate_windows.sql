-- Fleet-wide rate limits (PostgreSQL only: one SQLite tether counts in
-- memory). One row per budget and API key: the current fixed window,
-- opened by the first request after the previous one ended (as the
-- in-memory limiter does), and what it has spent. Times are the
-- database's clock, in milliseconds since the epoch.
CREATE TABLE rate_windows (
    name         TEXT NOT NULL,
    key_id       BYTEA NOT NULL, -- the API key as the server names it (opaque bytes)
    window_start BIGINT NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (name, key_id)
);
CREATE INDEX rate_windows_start ON rate_windows (window_start);
