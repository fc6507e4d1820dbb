package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// nowMS is the database clock in milliseconds since the epoch.
const nowMS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`

// TakeRate implements server.RateCounter on PostgreSQL: it spends n of
// key's budget name, all or none, in one statement (the row's lock orders
// concurrent takes across replicas). A window opens with the first
// request after the previous one ended, by the database's clock. On
// SQLite it is not used: one tether counts in memory.
func (s *Store) TakeRate(ctx context.Context, name, key string, n, limit int, per time.Duration) (ok bool, used int, reset time.Duration, err error) {
	if s.pg == nil {
		return false, 0, 0, errors.New("rate counting needs PostgreSQL")
	}
	perMS := per.Milliseconds()
	var start, now int64
	if n <= limit {
		err = s.write.QueryRowContext(ctx, `INSERT INTO rate_windows AS r (name, key_id, window_start, n) VALUES (?, ?, `+nowMS+`, ?)
			ON CONFLICT (name, key_id) DO UPDATE SET
				window_start = CASE WHEN r.window_start + ? <= excluded.window_start THEN excluded.window_start ELSE r.window_start END,
				n = CASE WHEN r.window_start + ? <= excluded.window_start THEN excluded.n ELSE r.n + excluded.n END
			WHERE r.window_start + ? <= excluded.window_start OR r.n + excluded.n <= ?
			RETURNING n, window_start, `+nowMS, name, []byte(key), n, perMS, perMS, perMS, limit).Scan(&used, &start, &now)
		if err == nil {
			if rand.IntN(1000) == 0 {
				s.dropStaleRateWindows(ctx, name, perMS)
			}
			return true, used, time.Duration(start+perMS-now) * time.Millisecond, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, 0, 0, fmt.Errorf("rate window: %w", err)
		}
	}
	// Refused: nothing was spent; say what is left and for how long.
	err = s.read.QueryRowContext(ctx, `SELECT n, window_start, `+nowMS+` FROM rate_windows WHERE name = ? AND key_id = ?`,
		name, []byte(key)).Scan(&used, &start, &now)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, per, nil
	}
	if err != nil {
		return false, 0, 0, fmt.Errorf("rate window: %w", err)
	}
	if start+perMS <= now {
		return false, 0, per, nil // the window ended meanwhile
	}
	return false, used, time.Duration(start+perMS-now) * time.Millisecond, nil
}

// dropStaleRateWindows forgets the keys whose window ended a day (or a
// period) ago; now and then, so that rows of keys gone quiet do not pile
// up.
func (s *Store) dropStaleRateWindows(ctx context.Context, name string, perMS int64) {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM rate_windows WHERE name = ? AND window_start < `+nowMS+` - ?`,
		name, max(perMS, (24*time.Hour).Milliseconds())); err != nil {
		s.log.Warn("drop old rate windows", "error", err.Error())
	}
}
