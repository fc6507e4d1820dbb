package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tether-dev/tether/registry"
)

var _ registry.KeyStore = (*Store)(nil)

// EnsureTenant implements registry.KeyStore: it returns the tenant named
// t.Name, inserting t when there is none.
func (s *Store) EnsureTenant(ctx context.Context, t *registry.Tenant) (*registry.Tenant, error) {
	var out registry.Tenant
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))
			ON CONFLICT (name) DO NOTHING`, t.ID, t.Name); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		return tx.QueryRowContext(ctx, `SELECT id, name FROM tenants WHERE name = ?`, t.Name).Scan(&out.ID, &out.Name)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// InsertAPIKey implements registry.KeyStore. A key whose hash is already
// stored is left as it is.
func (s *Store) InsertAPIKey(ctx context.Context, k *registry.APIKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO NOTHING`, k.ID, k.TenantID, k.Hash, k.Prefix, formatTime(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("insert API key: %w", err)
		}
		return nil
	})
}

// TenantByKeyHash implements registry.KeyStore.
func (s *Store) TenantByKeyHash(ctx context.Context, hash []byte) (*registry.Tenant, error) {
	var t registry.Tenant
	err := s.keyLookup.QueryRowContext(ctx, hash).Scan(&t.ID, &t.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &registry.Error{Kind: registry.ErrNotFound, Message: "unknown API key"}
	}
	if err != nil {
		return nil, fmt.Errorf("look up API key: %w", err)
	}
	return &t, nil
}

// APIKeyIDByHash implements registry.KeyStore.
func (s *Store) APIKeyIDByHash(ctx context.Context, hash []byte) (string, error) {
	var id string
	err := s.read.QueryRowContext(ctx, `SELECT id FROM api_keys WHERE hash = ?`, hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", &registry.Error{Kind: registry.ErrNotFound, Message: "unknown API key"}
	}
	if err != nil {
		return "", fmt.Errorf("look up API key: %w", err)
	}
	return id, nil
}

// ListAPIKeys implements registry.KeyStore.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*registry.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT k.id, k.tenant_id, t.name, k.prefix, k.created_at, k.revoked_at
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id ORDER BY k.created_at, k.id`)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	var out []*registry.APIKey
	for rows.Next() {
		var (
			k       registry.APIKey
			created string
			revoked sql.NullString
		)
		if err := rows.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.Prefix, &created, &revoked); err != nil {
			return nil, err
		}
		if k.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if k.RevokedAt, err = parseTimePtr(revoked); err != nil {
			return nil, err
		}
		out = append(out, &k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements registry.KeyStore: by exact id, or by prefix
// when exactly one key starts with it.
func (s *Store) RevokeAPIKey(ctx context.Context, idOrPrefix string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ')
			WHERE revoked_at IS NULL AND (id = ? OR (prefix = ? AND (SELECT count(*) FROM api_keys WHERE prefix = ?) = 1))`,
			idOrPrefix, idOrPrefix, idOrPrefix)
		if err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no active API key with id or prefix %q", idOrPrefix)}
		}
		return nil
	})
}
