package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimProbe implements registry.ProbeClaimer: it reports whether this
// process may probe the connection in its monitor round, claiming it
// until lease from now when no other claim is due. One statement, so two
// replicas claiming at once get one yes between them. On SQLite every
// claim succeeds (one tether per database).
func (s *Store) ClaimProbe(ctx context.Context, connectionID string, lease time.Duration) (bool, error) {
	if s.pg == nil {
		return true, nil
	}
	res, err := s.write.ExecContext(ctx, `INSERT INTO probe_claims (connection_id, next_due)
		VALUES (?, now() + make_interval(secs => ?))
		ON CONFLICT (connection_id) DO UPDATE SET next_due = excluded.next_due
		WHERE probe_claims.next_due <= now()`, connectionID, lease.Seconds())
	if err != nil {
		if pgCode(err) == "23503" {
			return false, nil // the connection was deleted meanwhile
		}
		return false, fmt.Errorf("claim probe: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
