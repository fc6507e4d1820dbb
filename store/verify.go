package store

import (
	"context"
	"fmt"
)

// CheckDecryptable decrypts every encrypted value in the database and
// reports the first that the cipher cannot open, naming the row and the
// error (which names the key id). tether refuses to start on such an error
// rather than fail later, one request at a time.
func (s *Store) CheckDecryptable(ctx context.Context) error {
	rows, err := s.read.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE headers_enc IS NOT NULL OR secrets_enc IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("check encrypted values: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		// scanConnection decrypts both columns.
		if _, err := s.scanConnection(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
