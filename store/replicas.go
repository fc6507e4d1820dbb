package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Replica is one replica of a fleet as it last reported itself.
type Replica struct {
	ID string `json:"id"`
	// KeyIDs are the encryption keys it has loaded, primary first.
	KeyIDs []string  `json:"keys"`
	SeenAt time.Time `json:"seen_at"`
}

// ErrNotShared is the answer of the fleet registry on SQLite.
var ErrNotShared = errors.New("replicas are recorded on PostgreSQL only (a SQLite database has one tether)")

// ReportReplica records that replica id is alive with keyIDs loaded
// (primary first). A no-op on SQLite.
func (s *Store) ReportReplica(ctx context.Context, id string, keyIDs []string) error {
	if s.pg == nil {
		return nil
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO replicas (replica_id, key_ids, seen_at) VALUES (?, ?, now())
		ON CONFLICT (replica_id) DO UPDATE SET key_ids = excluded.key_ids, seen_at = excluded.seen_at`,
		id, strings.Join(keyIDs, ","))
	if err != nil {
		return fmt.Errorf("report replica: %w", err)
	}
	return nil
}

// ForgetReplica removes a replica that stops cleanly.
func (s *Store) ForgetReplica(ctx context.Context, id string) error {
	if s.pg == nil {
		return nil
	}
	_, err := s.write.ExecContext(ctx, `DELETE FROM replicas WHERE replica_id = ?`, id)
	return err
}

// LiveReplicas lists the replicas seen within the last `within`, by the
// database's clock, ordered by id.
func (s *Store) LiveReplicas(ctx context.Context, within time.Duration) ([]Replica, error) {
	if s.pg == nil {
		return nil, ErrNotShared
	}
	rows, err := s.read.QueryContext(ctx, `SELECT replica_id, key_ids, seen_at FROM replicas
		WHERE seen_at > now() - make_interval(secs => ?) ORDER BY replica_id`, within.Seconds())
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	out := []Replica{}
	for rows.Next() {
		var (
			r    Replica
			keys string
		)
		if err := rows.Scan(&r.ID, &keys, &r.SeenAt); err != nil {
			return nil, err
		}
		r.KeyIDs = strings.Split(keys, ",")
		r.SeenAt = r.SeenAt.UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
