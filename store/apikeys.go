package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tether-dev/tether/registry"
)

var _ registry.KeyStore = (*Store)(nil)

// EnsureTenant implements registry.KeyStore: it returns the tenant named
// t.Name, inserting t when there is none.
func (s *Store) EnsureTenant(ctx context.Context, t *registry.Tenant) (*registry.Tenant, error) {
	var out registry.Tenant
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, t.ID, t.Name, formatTime(time.Now())); err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		return tx.QueryRowContext(ctx, `SELECT id, name FROM tenants WHERE name = ?`, t.Name).Scan(&out.ID, &out.Name)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateTenant implements registry.KeyStore.
func (s *Store) CreateTenant(ctx context.Context, t *registry.Tenant) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`, t.ID, t.Name, formatTime(t.CreatedAt))
		if isUniqueViolation(err) {
			return &registry.Error{Kind: registry.ErrNameExists, Message: fmt.Sprintf("a tenant named %q already exists", t.Name)}
		}
		if err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		return nil
	})
}

// ListTenants implements registry.KeyStore.
func (s *Store) ListTenants(ctx context.Context) ([]*registry.Tenant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	out := []*registry.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanTenant(row scanner) (*registry.Tenant, error) {
	var (
		t       registry.Tenant
		created string
	)
	if err := row.Scan(&t.ID, &t.Name, &created); err != nil {
		return nil, err
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		// Tenants made by EnsureTenant carry SQLite's own timestamp,
		// which has the same layout; anything else is a bug.
		return nil, fmt.Errorf("decode tenant %s: %w", t.ID, err)
	}
	return &t, nil
}

// GetTenant implements registry.KeyStore (by id first, then by name).
func (s *Store) GetTenant(ctx context.Context, idOrName string) (*registry.Tenant, error) {
	t, err := scanTenant(s.read.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?
		UNION ALL SELECT id, name, created_at FROM tenants WHERE name = ? LIMIT 1`, idOrName, idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no tenant %q", idOrName)}
	}
	if err != nil {
		return nil, fmt.Errorf("get tenant: %w", err)
	}
	return t, nil
}

// DeleteTenant implements registry.KeyStore. The tenant's keys,
// connections and audit events go by foreign-key cascades (and tools,
// call records and OAuth states with the connections); the per-tenant
// counters that triggers keep are deleted here.
func (s *Store) DeleteTenant(ctx context.Context, id string) ([]*registry.Connection, error) {
	var conns []*registry.Connection
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections WHERE tenant_id = ? ORDER BY seq`, id)
		if err != nil {
			return fmt.Errorf("read the tenant's connections: %w", err)
		}
		for rows.Next() {
			c, err := s.scanConnection(rows)
			if err != nil {
				rows.Close()
				return err
			}
			conns = append(conns, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("delete tenant: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no tenant %q", id)}
		}
		// tools and calls name the tenant but hang off connections; delete
		// any that a connection-less path could have left.
		for _, q := range []string{`DELETE FROM tools WHERE tenant_id = ?`, `DELETE FROM calls WHERE tenant_id = ?`,
			`DELETE FROM oauth_states WHERE tenant_id = ?`, `DELETE FROM connection_counts WHERE tenant_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("delete tenant rows: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return conns, nil
}

// InsertAPIKey implements registry.KeyStore. A key whose hash is already
// stored is left as it is, and nothing is audited.
func (s *Store) InsertAPIKey(ctx context.Context, k *registry.APIKey) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		scope := k.Scope
		if scope == "" {
			scope = registry.ScopeAdmin
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, hash, prefix, created_at, scope, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			k.ID, k.TenantID, k.Hash, k.Prefix, formatTime(k.CreatedAt), string(scope), formatTimePtr(k.ExpiresAt))
		if err != nil {
			return fmt.Errorf("insert API key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			registry.TakeAudit(ctx) // nothing was created
		}
		return nil
	})
}

// KeyByHash implements registry.KeyStore.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (*registry.APIKey, error) {
	k, err := scanAPIKey(s.keyLookup.QueryRowContext(ctx, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &registry.Error{Kind: registry.ErrNotFound, Message: "unknown API key"}
	}
	if err != nil {
		return nil, fmt.Errorf("look up API key: %w", err)
	}
	return k, nil
}

// apiKeyColumns are what scanAPIKey reads, from api_keys k joined with
// tenants t.
const apiKeyColumns = `k.id, k.tenant_id, t.name, k.prefix, k.scope, k.created_at, k.expires_at, k.revoked_at`

// keyLookupSQL finds an unrevoked key by hash (expiry is the registry's
// to judge, by its clock).
const keyLookupSQL = `SELECT ` + apiKeyColumns + ` FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
	WHERE k.hash = ? AND k.revoked_at IS NULL`

func scanAPIKey(row scanner) (*registry.APIKey, error) {
	var (
		k                registry.APIKey
		scope, created   string
		expires, revoked sql.NullString
	)
	if err := row.Scan(&k.ID, &k.TenantID, &k.TenantName, &k.Prefix, &scope, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	k.Scope = registry.Scope(scope)
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if k.ExpiresAt, err = parseTimePtr(expires); err != nil {
		return nil, err
	}
	if k.RevokedAt, err = parseTimePtr(revoked); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListAPIKeys implements registry.KeyStore.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID string) ([]*registry.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+apiKeyColumns+`
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE ? = '' OR k.tenant_id = ? ORDER BY k.created_at, k.id`,
		tenantID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	defer rows.Close()
	out := []*registry.APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list API keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// GetAPIKey implements registry.KeyStore: by exact id, or by prefix when
// exactly one key starts with it.
func (s *Store) GetAPIKey(ctx context.Context, idOrPrefix string) (*registry.APIKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.id = ? UNION ALL SELECT `+apiKeyColumns+` FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.prefix = ? AND k.id <> ? LIMIT 3`, idOrPrefix, idOrPrefix, idOrPrefix)
	if err != nil {
		return nil, fmt.Errorf("get API key: %w", err)
	}
	defer rows.Close()
	var found []*registry.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("get API key: %w", err)
		}
		found = append(found, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get API key: %w", err)
	}
	switch {
	case len(found) > 0 && found[0].ID == idOrPrefix:
		return found[0], nil
	case len(found) == 1:
		return found[0], nil
	}
	return nil, &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no API key with id or prefix %q", idOrPrefix)}
}

// RevokeAPIKey implements registry.KeyStore.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?
			WHERE revoked_at IS NULL AND id = ?`, formatTime(time.Now()), id)
		if err != nil {
			return fmt.Errorf("revoke API key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no active API key with id %q", id)}
		}
		return nil
	})
}
