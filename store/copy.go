package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// copiedTables are the tables CopyInstallation copies, parents first.
// connection_counts is not among them: the target's triggers rebuild it
// as the connections arrive. schema_migrations is each backend's own.
var copiedTables = []struct {
	name string
	// extra selects columns SQLite keeps implicitly that the PostgreSQL
	// table holds explicitly (tool_versions' rowid orders ties).
	extra string
}{
	{"tenants", ""},
	{"api_keys", ""},
	{"connections", ""},
	{"tools", ""},
	{"tool_versions", "rowid AS rowid, "},
	{"calls", ""},
	{"oauth_states", ""},
	{"audit_events", ""},
}

// identityColumns are the PostgreSQL identity columns that the copy fills
// with SQLite's values; their sequences continue after the largest.
var identityColumns = [][2]string{{"connections", "seq"}, {"calls", "seq"}, {"audit_events", "seq"}, {"tool_versions", "rowid"}}

// CopyInstallation copies every row of a SQLite store into an empty
// PostgreSQL one, in one transaction, ciphertexts as they are (their
// associated data names tenant, table, column and row, which the copy
// keeps), and returns the number of rows per table. It refuses a target
// that holds any row. It checks that each table got as many rows as the
// source has; the caller checks that every value decrypts on the target
// (CheckDecryptable with the same keys).
func CopyInstallation(ctx context.Context, src, dst *Store) (map[string]int64, error) {
	if src.pg != nil || dst.pg == nil {
		return nil, errors.New("copy: the source must be a SQLite database and the target a PostgreSQL one")
	}
	for _, t := range append(copiedTables, struct{ name, extra string }{"connection_counts", ""}) {
		var n int64
		if err := dst.read.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("inspect the target: %w", err)
		}
		if n > 0 {
			return nil, fmt.Errorf("the target database is not empty (%s holds %d rows): tether migrate copies into an empty database only", t.name, n)
		}
	}
	// One snapshot of the source: a tether still running on it cannot
	// make the copy inconsistent.
	stx, err := src.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = stx.Rollback() }()
	dtx, err := dst.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = dtx.Rollback() }()
	counts := map[string]int64{}
	for _, t := range copiedTables {
		rows, err := stx.QueryContext(ctx, "SELECT "+t.extra+"* FROM "+t.name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return nil, err
		}
		insert, err := dtx.PrepareContext(ctx, "INSERT INTO "+t.name+" ("+strings.Join(cols, ", ")+
			") VALUES (?"+strings.Repeat(", ?", len(cols)-1)+")")
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("copy %s: %w", t.name, err)
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read %s: %w", t.name, err)
			}
			if _, err := insert.ExecContext(ctx, vals...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("copy %s: %w", t.name, err)
			}
			counts[t.name]++
		}
		err = rows.Err()
		rows.Close()
		insert.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
	}
	for _, ic := range identityColumns {
		if _, err := dtx.ExecContext(ctx, fmt.Sprintf(
			"SELECT setval(pg_get_serial_sequence('%[1]s', '%[2]s'), coalesce((SELECT max(%[2]s) FROM %[1]s), 0) + 1, false)",
			ic[0], ic[1])); err != nil {
			return nil, fmt.Errorf("continue the %s.%s sequence: %w", ic[0], ic[1], err)
		}
	}
	// Verify before committing: every table has the source's row count,
	// and the counts the triggers built agree with the rows.
	for _, t := range copiedTables {
		var want, got int64
		if err := stx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&want); err != nil {
			return nil, err
		}
		if err := dtx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&got); err != nil {
			return nil, err
		}
		if got != want || got != counts[t.name] {
			return nil, fmt.Errorf("copy %s: the source has %d rows, the target %d", t.name, want, got)
		}
	}
	var bad int64
	if err := dtx.QueryRowContext(ctx, `SELECT count(*) FROM connection_counts cc WHERE n <> (SELECT count(*) FROM connections c
		WHERE c.tenant_id = cc.tenant_id AND (cc.status = '' OR c.status = cc.status))`).Scan(&bad); err != nil {
		return nil, err
	}
	if bad > 0 {
		return nil, fmt.Errorf("copy: %d connection counts disagree with the rows", bad)
	}
	if err := dtx.Commit(); err != nil {
		return nil, fmt.Errorf("commit the copy: %w", err)
	}
	return counts, nil
}
