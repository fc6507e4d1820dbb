package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tether-dev/tether/registry"
)

var _ registry.CallStore = (*Store)(nil)

// InsertCalls implements registry.CallStore: one transaction for the
// whole batch, the insert prepared once for it (parsing it for every record
// was about half of the batch's cost). Only the connections in prune are
// pruned: a prune walks keep index entries, so the recorder asks for one
// only once a connection has gained enough records since its last.
func (s *Store) InsertCalls(ctx context.Context, calls []registry.Call, prune []string, keep int) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		insert, err := tx.PrepareContext(ctx, `INSERT INTO calls (id, tenant_id, connection_id, tool_path, slug, via, outcome, duration_ms, error, created_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM connections WHERE id = ?)`)
		if err != nil {
			return fmt.Errorf("prepare call record insert: %w", err)
		}
		defer insert.Close()
		newest := map[string]registry.Call{}
		for _, c := range calls {
			_, err := insert.ExecContext(ctx,
				c.ID, c.TenantID, c.ConnectionID, c.ToolPath, c.Slug, c.Via, c.Outcome, c.DurationMS, c.Error, formatTime(c.CreatedAt), c.ConnectionID)
			if err != nil {
				return fmt.Errorf("insert call record: %w", err)
			}
			newest[c.ConnectionID] = c
		}
		for id, c := range newest {
			if _, err := tx.ExecContext(ctx, `UPDATE connections SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
				formatTime(c.CreatedAt), id, formatTime(c.CreatedAt)); err != nil {
				return fmt.Errorf("update last_used_at: %w", err)
			}
		}
		for _, id := range prune {
			if _, err := tx.ExecContext(ctx, `DELETE FROM calls WHERE connection_id = ? AND seq <= (
				SELECT seq FROM calls WHERE connection_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`, id, id, keep); err != nil {
				return fmt.Errorf("prune call records: %w", err)
			}
		}
		return nil
	})
}

// ListCalls implements registry.CallStore: newest first, at most limit.
// The registry bounds limit by the records it keeps: between prunes a
// connection may store a few more.
func (s *Store) ListCalls(ctx context.Context, tenantID, connectionID string, limit int) ([]registry.Call, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, tenant_id, connection_id, tool_path, slug, via, outcome, duration_ms, error, created_at
		FROM calls WHERE tenant_id = ? AND connection_id = ? ORDER BY seq DESC LIMIT ?`, tenantID, connectionID, limit)
	if err != nil {
		return nil, fmt.Errorf("list call records: %w", err)
	}
	defer rows.Close()
	var out []registry.Call
	for rows.Next() {
		var c registry.Call
		var created string
		if err := rows.Scan(&c.ID, &c.TenantID, &c.ConnectionID, &c.ToolPath, &c.Slug, &c.Via, &c.Outcome, &c.DurationMS, &c.Error, &created); err != nil {
			return nil, err
		}
		if c.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
