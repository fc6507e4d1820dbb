package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

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
		// Many rows per statement: on SQLite each statement's execution
		// costs more than a row, on PostgreSQL each is a round trip.
		for rest := calls; len(rest) > 0; {
			n := min(len(rest), callsPerInsert)
			args := make([]any, 0, n*callColumns)
			for _, c := range rest[:n] {
				args = append(args, c.ID, c.TenantID, c.ConnectionID, c.ToolPath, c.Slug, c.Via, c.Outcome, c.DurationMS, c.Error, formatTime(c.CreatedAt))
			}
			query := insertFullCallsSQL
			if n < callsPerInsert {
				query = insertCallsSQL(n)
			}
			if _, err := s.execTx(ctx, tx, query, args...); err != nil {
				return fmt.Errorf("insert call records: %w", err)
			}
			rest = rest[n:]
		}
		newest := map[string]registry.Call{}
		for _, c := range calls {
			newest[c.ConnectionID] = c
		}
		for id, c := range newest {
			if _, err := s.execTx(ctx, tx, touchUsedSQL, formatTime(c.CreatedAt), id, formatTime(c.CreatedAt)); err != nil {
				return fmt.Errorf("update last_used_at: %w", err)
			}
		}
		for _, id := range prune {
			if _, err := s.execTx(ctx, tx, pruneCallsSQL, id, id, keep); err != nil {
				return fmt.Errorf("prune call records: %w", err)
			}
		}
		return nil
	})
}

// callsPerInsert is how many call records one INSERT carries (each takes
// callColumns parameters, far below either backend's limit).
const (
	callsPerInsert = 64
	callColumns    = 10
)

// The statements of a call-record write (prepared: hotWrites).
var (
	insertFullCallsSQL = insertCallsSQL(callsPerInsert)
	touchUsedSQL       = `UPDATE connections SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`
	pruneCallsSQL      = `DELETE FROM calls WHERE connection_id = ? AND seq <= (
		SELECT seq FROM calls WHERE connection_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`
)

// insertCallsSQL inserts n call records, skipping those whose connection
// is gone (deleted while its calls waited to be written), in the order
// given: seq orders a connection's records, and PostgreSQL's semi-join
// would otherwise produce the rows in its own order (column11, a literal,
// is each row's place). The VALUES columns are column1..column11 on both
// backends; duration_ms is cast so that PostgreSQL types its parameters
// (the others are text).
func insertCallsSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO calls (id, tenant_id, connection_id, tool_path, slug, via, outcome, duration_ms, error, created_at)
	SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9, v.column10
	FROM (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(?, ?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?, %d)", i)
	}
	b.WriteString(`) AS v WHERE EXISTS (SELECT 1 FROM connections WHERE id = v.column3) ORDER BY v.column11`)
	return b.String()
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
