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
	// EnsureTenant returns the tenant named t.Name, inserting t when there
	// is none.
	EnsureTenant(ctx context.Context, t *Tenant) (*Tenant, error)
	// CreateTenant inserts t; a taken name is ErrNameExists.
	CreateTenant(ctx context.Context, t *Tenant) error
	ListTenants(ctx context.Context) ([]*Tenant, error)
	// GetTenant finds a tenant by id or name, or ErrNotFound.
	GetTenant(ctx context.Context, idOrName string) (*Tenant, error)
	// DeleteTenant deletes a tenant and every row it owns (keys,
	// connections and their tools, call records, OAuth states, its audit
	// events) in one transaction, and returns its connections as they were.
	DeleteTenant(ctx context.Context, id string) ([]*Connection, error)
	// InsertAPIKey stores k; a key whose hash is stored already is left as
	// it is (and the audit events pending on ctx are dropped).
	InsertAPIKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns an unrevoked key (expired or not) with its
	// tenant's name, or ErrNotFound.
	KeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListAPIKeys lists the keys of a tenant, or of all tenants for "".
	ListAPIKeys(ctx context.Context, tenantID string) ([]*APIKey, error)
	// GetAPIKey finds a key by exact id, or by a prefix exactly one key
	// has; ErrNotFound otherwise.
	GetAPIKey(ctx context.Context, idOrPrefix string) (*APIKey, error)
	// RevokeAPIKey revokes an active key by id; ErrNotFound when there is
	// none.
	RevokeAPIKey(ctx context.Context, id string) error
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

	onTenantDeleted []func([]*Connection)
}

// cachedKey is a key the store said was valid, until expires (by the
// cache clock); the key's own expiry is checked on every use.
type cachedKey struct {
	principal Principal
	expires   time.Time
}

// Principal is who a request authenticated as: a tenant, through one of
// its keys, with that key's scope.
type Principal struct {
	Tenant    Tenant
	KeyID     string
	KeyPrefix string
	Scope     Scope
	// ExpiresAt is the key's expiry, if it has one.
	ExpiresAt *time.Time
}

// Actor is the principal as the audit log names it.
func (p *Principal) Actor() Actor {
	return Actor{Type: ActorAPIKey, KeyID: p.KeyID, KeyPrefix: p.KeyPrefix}
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

// OnTenantDeleted adds a listener that hears of a deleted tenant's
// connections (the registry's listeners drop their sessions and tokens).
// Listeners are added during wiring, before the first request.
func (k *Keys) OnTenantDeleted(fn func([]*Connection)) {
	k.onTenantDeleted = append(k.onTenantDeleted, fn)
}

// HashKey is the stored form of an API key.
func HashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// NewKey is what a key is created with.
type NewKey struct {
	// Scope defaults to ScopeAdmin.
	Scope Scope
	// ExpiresAt, when set, must be in the future.
	ExpiresAt *time.Time
}

// Create makes a new admin key for the named tenant (creating the tenant
// if needed) and returns the key, which is never shown again.
func (k *Keys) Create(ctx context.Context, tenantName string) (string, *APIKey, error) {
	return k.CreateWith(ctx, tenantName, NewKey{})
}

// CreateWith is Create with a scope and an expiry.
func (k *Keys) CreateWith(ctx context.Context, tenantName string, in NewKey) (string, *APIKey, error) {
	key := newKeyString()
	ak, err := k.importKey(ctx, tenantName, key, in)
	return key, ak, err
}

func newKeyString() string {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	return keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
}

// Import stores a key chosen by the operator (--bootstrap-api-key) for the
// named tenant. Importing a key that already exists is a no-op.
func (k *Keys) Import(ctx context.Context, tenantName, key string) (*APIKey, error) {
	return k.importKey(ctx, tenantName, key, NewKey{})
}

// importKey stores key for the named tenant, creating the tenant if needed.
func (k *Keys) importKey(ctx context.Context, tenantName, key string, in NewKey) (*APIKey, error) {
	tenantName = strings.TrimSpace(tenantName)
	if tenantName == "" {
		return nil, errorf(ErrValidation, "tenant name must not be empty")
	}
	if len(key) < 16 {
		return nil, errorf(ErrValidation, "an API key must be at least 16 characters")
	}
	if err := k.checkNewKey(&in); err != nil {
		return nil, err
	}
	t, err := k.store.EnsureTenant(ctx, &Tenant{ID: newUUID(), Name: tenantName})
	if err != nil {
		return nil, fmt.Errorf("ensure tenant %q: %w", tenantName, err)
	}
	return k.insert(ctx, t, key, in)
}

func (k *Keys) checkNewKey(in *NewKey) error {
	if in.Scope == "" {
		in.Scope = ScopeAdmin
	}
	if !in.Scope.Valid() {
		return errorf(ErrValidation, "scope %q is not one of admin, agent", in.Scope)
	}
	if in.ExpiresAt != nil {
		e := in.ExpiresAt.UTC().Truncate(time.Millisecond)
		if !e.After(k.now()) {
			return errorf(ErrValidation, "expires_at must be in the future")
		}
		in.ExpiresAt = &e
	}
	return nil
}

// insert stores a key of tenant t, recording apikey.created in the same
// transaction.
func (k *Keys) insert(ctx context.Context, t *Tenant, key string, in NewKey) (*APIKey, error) {
	ak := &APIKey{
		ID:         newUUID(),
		TenantID:   t.ID,
		TenantName: t.Name,
		Prefix:     key[:min(len(key), 12)],
		Hash:       HashKey(key),
		Scope:      in.Scope,
		CreatedAt:  k.now(),
		ExpiresAt:  in.ExpiresAt,
	}
	ctx, au := auditing(ctx, t.ID, k.now)
	changes := Changes{"prefix": {To: ak.Prefix}, "scope": {To: string(ak.Scope)}}
	if ak.ExpiresAt != nil {
		changes["expires_at"] = FieldChange{To: ak.ExpiresAt}
	}
	au.record(ActionAPIKeyCreated, ak.ID, "", changes)
	if err := k.store.InsertAPIKey(ctx, ak); err != nil {
		return nil, fmt.Errorf("store API key: %w", err)
	}
	return ak, nil
}

// Authenticate returns the tenant owning key, or ErrUnauthorized.
func (k *Keys) Authenticate(ctx context.Context, key string) (*Tenant, error) {
	p, err := k.AuthenticateKey(ctx, key)
	if err != nil {
		return nil, err
	}
	return &p.Tenant, nil
}

// AuthenticateKey returns who key authenticates as, or ErrUnauthorized
// for a missing, unknown, revoked or expired key.
//
// Every request authenticates, so a valid key is remembered for
// KeyCacheTTL instead of being looked up in the store each time; an
// unknown or revoked key is looked up every time (a key created a moment
// ago, by another process, works at once). A key's expiry is checked on
// every request, cached or not.
func (k *Keys) AuthenticateKey(ctx context.Context, key string) (*Principal, error) {
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
		return k.unexpired(c.principal)
	}
	ak, err := k.store.KeyByHash(ctx, hash[:])
	if err != nil {
		if isNotFound(err) {
			return nil, errorf(ErrUnauthorized, "invalid or revoked API key")
		}
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	p := Principal{Tenant: Tenant{ID: ak.TenantID, Name: ak.TenantName}, KeyID: ak.ID, KeyPrefix: ak.Prefix,
		Scope: ak.Scope, ExpiresAt: ak.ExpiresAt}
	if p.Scope == "" {
		p.Scope = ScopeAdmin
	}
	out, err := k.unexpired(p)
	if err != nil {
		return nil, err
	}
	k.remember(hash, p, now.Add(KeyCacheTTL), gen)
	return out, nil
}

// unexpired returns a copy of p, or ErrUnauthorized once its key expired.
func (k *Keys) unexpired(p Principal) (*Principal, error) {
	if p.ExpiresAt != nil && !k.now().Before(*p.ExpiresAt) {
		return nil, errorf(ErrUnauthorized, "expired API key")
	}
	return &p, nil
}

// remember caches a valid key until expires, unless a revocation through k
// happened since gen was read. The expiry counts from before the lookup: a
// revocation elsewhere that the lookup did not see is honoured within
// KeyCacheTTL of it.
func (k *Keys) remember(hash [sha256.Size]byte, p Principal, expires time.Time, gen uint64) {
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
	k.cache[hash] = cachedKey{principal: p, expires: expires}
}

// forget empties the cache, so that a revocation made through k is
// honoured from the next request on, by lookups in flight too.
func (k *Keys) forget() {
	k.mu.Lock()
	clear(k.cache)
	k.gen++
	k.mu.Unlock()
}

// List returns every key (hashes and prefixes only).
func (k *Keys) List(ctx context.Context) ([]*APIKey, error) { return k.store.ListAPIKeys(ctx, "") }

// Revoke revokes a key by id or prefix. Authenticate on k refuses it from
// the next request on; other processes sharing the store within
// KeyCacheTTL.
func (k *Keys) Revoke(ctx context.Context, idOrPrefix string) error {
	ak, err := k.store.GetAPIKey(ctx, idOrPrefix)
	if err != nil {
		return err
	}
	return k.revoke(ctx, ak)
}

func (k *Keys) revoke(ctx context.Context, ak *APIKey) error {
	if ak.RevokedAt != nil {
		return errorf(ErrNotFound, "API key %s is already revoked", ak.ID)
	}
	ctx, au := auditing(ctx, ak.TenantID, k.now)
	au.record(ActionAPIKeyRevoked, ak.ID, "", Changes{"revoked_at": {From: nil, To: k.now()}})
	err := k.store.RevokeAPIKey(ctx, ak.ID)
	// Also on failure: the revocation may have been committed.
	k.forget()
	return err
}
