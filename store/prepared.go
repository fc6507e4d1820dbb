package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// hotWrites are the statements of the most frequent write transactions, a
// probe's record (the connection row, its tools and their versions, or
// only their timestamps in a routine refresh) and a batch of call records,
// prepared once on the writer. SQLite otherwise parses a statement on
// every Exec, and parsing the 27-column tool upsert cost more than running
// it: five tools made parsing the largest share of a probe's record.
var hotWrites = []string{
	getConnectionSQL,
	toolsOfConnectionSQL,
	updateConnectionSQL,
	upsertToolSQL,
	touchVersionSQL,
	touchConnectionSQL,
	touchToolSQL,
	touchAvailableSQL,
	touchAvailableVersionsSQL,
	insertFullCallsSQL,
	touchUsedSQL,
	pruneCallsSQL,
}

// prepareWrites prepares hotWrites and d's own (dialect.touchRefresh) on
// db, by query text.
func prepareWrites(ctx context.Context, db *sql.DB, d *dialect) (map[string]*sql.Stmt, error) {
	queries := hotWrites
	if d.touchRefresh != "" {
		queries = append(slices.Clip(hotWrites), d.touchRefresh)
	}
	out := make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			closeStmts(out)
			return nil, fmt.Errorf("prepare %.40q: %w", q, err)
		}
		out[q] = st
	}
	return out, nil
}

func closeStmts(m map[string]*sql.Stmt) error {
	var first error
	for _, st := range m {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// txStmt is query as a statement of tx: the one prepared on the writer
// when query is one of hotWrites (database/sql reuses it on the writer's
// connection), else nil.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if st, ok := s.writes[query]; ok {
		return tx.StmtContext(ctx, st)
	}
	return nil
}

// execTx runs query in tx, prepared when it is one of hotWrites.
func (s *Store) execTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.txStmt(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// queryTx is execTx for queries returning rows.
func (s *Store) queryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := s.txStmt(ctx, tx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// queryRowTx is execTx for queries returning one row.
func (s *Store) queryRowTx(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.txStmt(ctx, tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// updateConnectionSQL stores every column of connectionColumns but id and
// tenant_id (which never change), in that order, and moves the row to its
// next rev.
var updateConnectionSQL = func() string {
	cols := strings.Split(connectionColumns, ",")[2:]
	set := make([]string, len(cols), len(cols)+1)
	for i, col := range cols {
		set[i] = strings.TrimSpace(col) + " = ?"
	}
	set = append(set, "rev = rev + 1")
	return `UPDATE connections SET ` + strings.Join(set, ", ") + ` WHERE tenant_id = ? AND id = ?`
}()
