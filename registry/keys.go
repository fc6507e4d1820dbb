package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
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
	// APIKeyIDByHash returns the id of the key with this hash, or
	// ErrNotFound.
	APIKeyIDByHash(ctx context.Context, hash []byte) (string, error)
}

// keyPrefix marks tether API keys so they are recognisable in a leak scan.
const keyPrefix = "tth_"

// KeyCacheTTL is how long [Keys.Authenticate] trusts a key it has looked
// up, and so the longest a revoked key is still accepted by a process that
// did not revoke it (another process, the CLI's revoke, another replica): the
// store is asked again once an entry is this old, counted from before the
// lookup began. A key revoked through the same Keys is refused at once.
const KeyCacheTTL = time.Second

// maxCachedKeys bounds the cache; past it, stale entries are dropped, and
// if none is, the whole cache (it refills from the store).
const maxCachedKeys = 4096

// Keys manages tenants and their API keys.
type Keys struct {
	store KeyStore
	now   func() time.Time
	// clock times the cache (monotonic); tests replace it.
	clock func() time.Time

	mu    sync.RWMutex
	cache map[[sha256.Size]byte]cachedKey // valid keys only, by hash
	// gen counts revocations through k: a lookup that began before one
	// is not cached.
	gen uint64
}

// cachedKey is a key the store said was valid, until expires.
type cachedKey struct {
	tenant  Tenant
	expires time.Time
}

// NewKeys returns the API-key service over st.
func NewKeys(st KeyStore) *Keys {
	return &Keys{
		store: st,
		now:   func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
		clock: time.Now,
		cache: map[[sha256.Size]byte]cachedKey{},
	}
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
//
// Every request authenticates, so a valid key is remembered for
// KeyCacheTTL instead of being looked up in the store each time; an
// unknown or revoked key is looked up every time (a key created a moment
// ago, by another process, works at once).
func (k *Keys) Authenticate(ctx context.Context, key string) (*Tenant, error) {
	if key == "" {
		return nil, errorf(ErrUnauthorized, "missing API key: send x-api-key or Authorization: Bearer")
	}
	hash := sha256.Sum256([]byte(key))
	now := k.clock()
	k.mu.RLock()
	c, ok := k.cache[hash]
	gen := k.gen
	k.mu.RUnlock()
	if ok && now.Before(c.expires) {
		t := c.tenant
		return &t, nil
	}
	t, err := k.store.TenantByKeyHash(ctx, hash[:])
	if err != nil {
		if isNotFound(err) {
			return nil, errorf(ErrUnauthorized, "invalid or revoked API key")
		}
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	k.remember(hash, *t, now.Add(KeyCacheTTL), gen)
	return t, nil
}

// remember caches a valid key until expires, unless a revocation through k
// happened since gen was read. The expiry counts from before the lookup: a
// revocation elsewhere that the lookup did not see is honoured within
// KeyCacheTTL of it.
func (k *Keys) remember(hash [sha256.Size]byte, t Tenant, expires time.Time, gen uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gen != gen {
		return
	}
	if len(k.cache) >= maxCachedKeys {
		now := k.clock()
		for h, c := range k.cache {
			if !now.Before(c.expires) {
				delete(k.cache, h)
			}
		}
		if len(k.cache) >= maxCachedKeys {
			clear(k.cache)
		}
	}
	k.cache[hash] = cachedKey{tenant: t, expires: expires}
}

// forget empties the cache, so that a revocation made through k is
// honoured from the next request on, by lookups in flight too.
func (k *Keys) forget() {
	k.mu.Lock()
	clear(k.cache)
	k.gen++
	k.mu.Unlock()
}

// KeyID returns the id of the API key whose hash (HashKey) is given: the
// name an approval records for the key that made it.
func (k *Keys) KeyID(ctx context.Context, hash []byte) (string, error) {
	return k.store.APIKeyIDByHash(ctx, hash)
}

// List returns every key (hashes and prefixes only).
func (k *Keys) List(ctx context.Context) ([]*APIKey, error) { return k.store.ListAPIKeys(ctx) }

// Revoke revokes a key by id or prefix. Authenticate on k refuses it from
// the next request on; other processes sharing the store within
// KeyCacheTTL.
func (k *Keys) Revoke(ctx context.Context, idOrPrefix string) error {
	err := k.store.RevokeAPIKey(ctx, idOrPrefix)
	// Also on failure: the revocation may have been committed.
	k.forget()
	return err
}
