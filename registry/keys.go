package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// KeyStore persists tenants and API keys.
type KeyStore interface {
	EnsureTenant(ctx context.Context, t *Tenant) (*Tenant, error)
	InsertAPIKey(ctx context.Context, k *APIKey) error
	// TenantByKeyHash returns the tenant of an unrevoked key, or ErrNotFound.
	TenantByKeyHash(ctx context.Context, hash []byte) (*Tenant, error)
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeAPIKey revokes by id or by prefix; ErrNotFound when none matches.
	RevokeAPIKey(ctx context.Context, idOrPrefix string) error
}

// keyPrefix marks tether API keys so they are recognisable in a leak scan.
const keyPrefix = "tth_"

// Keys manages tenants and their API keys.
type Keys struct {
	store KeyStore
	now   func() time.Time
}

// NewKeys returns the API-key service over st.
func NewKeys(st KeyStore) *Keys {
	return &Keys{store: st, now: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }}
}

// HashKey is the stored form of an API key.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Create makes a new key for the named tenant (creating the tenant if
// needed) and returns the key, which is never shown again.
func (k *Keys) Create(ctx context.Context, tenantName string) (string, *APIKey, error) {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	ak, err := k.Import(ctx, tenantName, key)
	return key, ak, err
}

// Import stores a key chosen by the operator (--bootstrap-api-key) for the
// named tenant. Importing a key that already exists is a no-op.
func (k *Keys) Import(ctx context.Context, tenantName, key string) (*APIKey, error) {
	tenantName = strings.TrimSpace(tenantName)
	if tenantName == "" {
		return nil, errorf(ErrValidation, "tenant name must not be empty")
	}
	if len(key) < 16 {
		return nil, errorf(ErrValidation, "an API key must be at least 16 characters")
	}
	t, err := k.store.EnsureTenant(ctx, &Tenant{ID: newUUID(), Name: tenantName})
	if err != nil {
		return nil, fmt.Errorf("ensure tenant %q: %w", tenantName, err)
	}
	ak := &APIKey{
		ID:         newUUID(),
		TenantID:   t.ID,
		TenantName: t.Name,
		Prefix:     key[:min(len(key), 12)],
		Hash:       HashKey(key),
		CreatedAt:  k.now(),
	}
	if err := k.store.InsertAPIKey(ctx, ak); err != nil {
		return nil, fmt.Errorf("store API key: %w", err)
	}
	return ak, nil
}

// Authenticate returns the tenant owning key, or ErrUnauthorized.
func (k *Keys) Authenticate(ctx context.Context, key string) (*Tenant, error) {
	if key == "" {
		return nil, errorf(ErrUnauthorized, "missing API key: send x-api-key or Authorization: Bearer")
	}
	t, err := k.store.TenantByKeyHash(ctx, HashKey(key))
	if err != nil {
		if isNotFound(err) {
			return nil, errorf(ErrUnauthorized, "invalid or revoked API key")
		}
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	return t, nil
}

// List returns every key (hashes and prefixes only).
func (k *Keys) List(ctx context.Context) ([]*APIKey, error) { return k.store.ListAPIKeys(ctx) }

// Revoke revokes a key by id or prefix; it is refused from the next request on.
func (k *Keys) Revoke(ctx context.Context, idOrPrefix string) error {
	return k.store.RevokeAPIKey(ctx, idOrPrefix)
}
