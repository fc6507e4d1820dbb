package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LockConnection implements registry.ConnectionLocker: a fleet-wide lock
// on one connection (the OAuth refresh takes it). On SQLite, one process
// owns the database and the registry's own flight is the lock.
func (s *Store) LockConnection(ctx context.Context, connectionID string) (unlock func(), err error) {
	return s.fleetLock(ctx, "tether.connection:"+connectionID)
}

// fleetLock holds a PostgreSQL session advisory lock named name until
// unlock, on a connection of its own outside the pool: the holder goes on
// to use the pool while it holds the lock, and a pool full of waiting
// holders must not starve it. Closing that session releases the lock
// whatever happened. On SQLite it is a no-op.
func (s *Store) fleetLock(ctx context.Context, name string) (unlock func(), err error) {
	if s.pg == nil {
		return func() {}, nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.pg.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect for a lock: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", name); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("take the lock %s: %w", name, err)
	}
	return func() { _ = conn.Close(context.Background()) }, nil
}
