package store

import (
	"context"
	"fmt"
)

// CheckDecryptable decrypts every encrypted value in the database, column
// by column from the one list of encrypted columns (encryptedColumns and
// pendingColumns), and reports the first that the cipher cannot open,
// naming the row and the error (which names the key id). tether refuses
// to start on such an error rather than fail later, one request at a
// time.
func (s *Store) CheckDecryptable(ctx context.Context) error {
	for _, col := range allEncryptedColumns() {
		if err := s.checkColumn(ctx, col); err != nil {
			return err
		}
	}
	return nil
}

// checkColumn decrypts every value of one encrypted column.
func (s *Store) checkColumn(ctx context.Context, col encColumn) error {
	rows, err := s.read.QueryContext(ctx, fmt.Sprintf(`SELECT %s, tenant_id, %s FROM %s WHERE %s IS NOT NULL`,
		s.rowIDOf(col), col.column, col.table, col.column))
	if err != nil {
		return fmt.Errorf("check encrypted values of %s.%s: %w", col.table, col.column, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, tenant string
			ct         []byte
		)
		if err := rows.Scan(&id, &tenant, &ct); err != nil {
			return fmt.Errorf("check encrypted values of %s.%s: %w", col.table, col.column, err)
		}
		if _, err := s.open(ct, col.aad(tenant, id)); err != nil {
			return err
		}
	}
	return rows.Err()
}
