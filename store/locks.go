package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LockConnection implements registry.ConnectionLocker. On PostgreSQL it
// takes a session advisory lock named after the connection, on a
// connection of its own outside the pool: the holder goes on to use the
// pool (to store what it refreshed) while it holds the lock, and a pool
// full of waiting holders must not starve it. On SQLite, one process
// owns the database and the registry's own flight is the lock.
func (s *Store) LockConnection(ctx context.Context, connectionID string) (unlock func(), err error) {
	if s.pg == nil {
		return func() {}, nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.pg.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect for a lock: %w", err)
	}
	key := "tether.connection:" + connectionID
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", key); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("take the lock of connection %s: %w", connectionID, err)
	}
	// Closing the session releases the lock, whatever happened.
	return func() { _ = conn.Close(context.Background()) }, nil
}
