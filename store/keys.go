package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/tether-dev/tether/secrets"
)

// encColumn is one secret-bearing column: every encrypted value tether
// stores lives in one of these, so the start-up key check, key status and
// re-encryption cover them all. A new encrypted column is added here and
// nowhere else.
type encColumn struct {
	table, column string
	// name is the column's name in the associated data.
	name string
	// rowID is the SQL expression of the row id in the associated data,
	// and pgRowID the same on PostgreSQL.
	rowID, pgRowID string
}

// aad is the associated data of this column's value in one row.
func (col encColumn) aad(tenant, rowID string) secrets.AAD {
	return secrets.AAD{Tenant: tenant, Table: col.table, Column: col.name, RowID: rowID}
}

var encryptedColumns = []encColumn{
	{"connections", "headers_enc", "headers", "id", "id"},
	{"connections", "secrets_enc", "secrets", "id", "id"},
	{"connections", "oauth_enc", "oauth", "id", "id"},
}

// pendingColumns hold short-lived values (PKCE verifiers of authorizations
// in progress, at most registry.StateTTL old). They are counted by
// KeyUsage, so a key is not retired under them, and checked at start-up,
// but not re-encrypted: they expire first.
var pendingColumns = []encColumn{
	// stateAAD: the row id is the state hash in lowercase hex.
	{"oauth_states", "verifier_enc", "verifier", "lower(hex(state_hash))", "encode(state_hash, 'hex')"},
}

// allEncryptedColumns is every column that holds ciphertext.
func allEncryptedColumns() []encColumn {
	return append(append([]encColumn{}, encryptedColumns...), pendingColumns...)
}

// KeyUsage counts the stored values encrypted under each key id.
func (s *Store) KeyUsage(ctx context.Context) (map[string]int, error) {
	usage := map[string]int{}
	for _, col := range allEncryptedColumns() {
		rows, err := s.read.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL`, col.column, col.table, col.column))
		if err != nil {
			return nil, fmt.Errorf("key usage of %s.%s: %w", col.table, col.column, err)
		}
		for rows.Next() {
			var ct []byte
			if err := rows.Scan(&ct); err != nil {
				rows.Close()
				return nil, err
			}
			id, err := secrets.KeyIDOf(ct)
			if err != nil {
				id = "(malformed)"
			}
			usage[id]++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return usage, nil
}

// Reencrypt re-encrypts, under the cipher's current primary key, every
// stored value that uses another key, batch rows per write transaction, so
// requests keep flowing while it runs. It returns how many values it
// rewrote. A value that cannot be decrypted stops it with an error naming
// the row and the key id.
func (s *Store) Reencrypt(ctx context.Context, ring *secrets.Keyring, batch int) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	// One runner at a time across a fleet: the replicas that got the same
	// SIGHUP take turns, and those after the first find little to do.
	unlock, err := s.fleetLock(ctx, "tether.reencrypt")
	if err != nil {
		return 0, err
	}
	defer unlock()
	total := 0
	for _, col := range encryptedColumns {
		var after int64
		for {
			n, last, err := s.reencryptBatch(ctx, ring, col, after, batch)
			total += n
			if err != nil {
				return total, err
			}
			if last == 0 {
				break
			}
			after = last
		}
	}
	return total, nil
}

// reencryptBatch handles the rows after seq `after`; last is the last
// seq seen (0 when there were none). (Re-encrypted columns are all
// connections', whose seq is SQLite's rowid.)
func (s *Store) reencryptBatch(ctx context.Context, ring *secrets.Keyring, col encColumn, after int64, batch int) (n int, last int64, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT seq, %s, tenant_id, %s FROM %s
			WHERE seq > ? AND %s IS NOT NULL ORDER BY seq LIMIT ?`, s.rowIDOf(col), col.column, col.table, col.column), after, batch)
		if err != nil {
			return err
		}
		type pending struct {
			rowid int64
			ct    []byte
		}
		var todo []pending
		for rows.Next() {
			var (
				rowid      int64
				id, tenant string
				ct         []byte
			)
			if err := rows.Scan(&rowid, &id, &tenant, &ct); err != nil {
				rows.Close()
				return err
			}
			last = rowid
			if !ring.NeedsRotation(ct) {
				continue
			}
			aad := col.aad(tenant, id)
			plain, err := ring.Decrypt(ct, aad)
			if err != nil {
				rows.Close()
				return fmt.Errorf("re-encrypt %s.%s of %s: %w", col.table, col.name, id, err)
			}
			fresh, err := ring.Encrypt(plain, aad)
			if err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, pending{rowid, fresh})
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		rows.Close()
		for _, p := range todo {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE seq = ?`, col.table, col.column), p.ct, p.rowid); err != nil {
				return err
			}
		}
		n = len(todo)
		return nil
	})
	return n, last, err
}

// ErrBackupPostgres is Backup's answer on PostgreSQL, whose own tool makes
// a consistent copy of a live database.
var ErrBackupPostgres = errors.New("tether backup copies a SQLite database; back up PostgreSQL with pg_dump, " +
	"e.g. pg_dump --format=custom --file=tether.dump \"$TETHER_DB\" (the keys file is backed up separately)")

// Backup writes a consistent copy of the database to path (which must not
// exist) while the server keeps running (VACUUM INTO).
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.pg != nil {
		return ErrBackupPostgres
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup: %s already exists", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := s.write.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}
