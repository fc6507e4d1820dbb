package registry_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/registry"
)

// countingKeyStore counts the key lookups that reach the store.
type countingKeyStore struct {
	registry.KeyStore
	lookups atomic.Int64
}

func (s *countingKeyStore) KeyByHash(ctx context.Context, hash []byte) (*registry.APIKey, error) {
	s.lookups.Add(1)
	return s.KeyStore.KeyByHash(ctx, hash)
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// keysEnv is the server's Keys (timed by a fake clock, counting its
// lookups) and, over the same database, the Keys of another process (the
// CLI, another replica).
type keysEnv struct {
	server, other *registry.Keys
	st            *countingKeyStore
	clock         *fakeClock
}

func newKeysEnv(t *testing.T) *keysEnv {
	db := registrytest.OpenStore(t)
	e := &keysEnv{st: &countingKeyStore{KeyStore: db}, clock: &fakeClock{now: time.Unix(1e9, 0)}}
	e.server = registry.NewKeys(e.st)
	registry.SetKeysClock(e.server, e.clock.Now)
	e.other = registry.NewKeys(db)
	return e
}

func TestAuthenticateRemembersValidKeysForAtMostTheTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newKeysEnv(t)
	key, ak, err := e.other.Create(ctx, "acme")
	require.NoError(t, err)

	for range 100 {
		tn, err := e.server.Authenticate(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, ak.TenantID, tn.ID)
		assert.Equal(t, "acme", tn.Name)
	}
	assert.Equal(t, int64(1), e.st.lookups.Load(), "one lookup for many requests")

	// Revoked by another process: accepted while the lookup is fresh, at
	// most KeyCacheTTL, then refused on every request.
	require.NoError(t, e.other.Revoke(ctx, ak.ID))
	e.clock.Advance(registry.KeyCacheTTL - time.Millisecond)
	_, err = e.server.Authenticate(ctx, key)
	require.NoError(t, err, "still within the TTL")
	e.clock.Advance(time.Millisecond)
	for range 3 {
		_, err = e.server.Authenticate(ctx, key)
		require.ErrorIs(t, err, registry.ErrUnauthorized, "refused once the TTL has passed")
	}
	assert.Equal(t, int64(4), e.st.lookups.Load(), "a refused key is looked up every time")
}

func TestAuthenticateRefusesAKeyRevokedThroughItAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newKeysEnv(t)
	key, ak, err := e.server.Create(ctx, "acme")
	require.NoError(t, err)
	_, err = e.server.Authenticate(ctx, key)
	require.NoError(t, err)
	require.NoError(t, e.server.Revoke(ctx, ak.Prefix))
	_, err = e.server.Authenticate(ctx, key)
	require.ErrorIs(t, err, registry.ErrUnauthorized)
}

func TestAuthenticateAcceptsANewKeyAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newKeysEnv(t)
	const key = "tth_created-elsewhere-0123456789"
	_, err := e.server.Authenticate(ctx, key)
	require.ErrorIs(t, err, registry.ErrUnauthorized)
	_, err = e.other.Import(ctx, "acme", key)
	require.NoError(t, err)
	_, err = e.server.Authenticate(ctx, key)
	require.NoError(t, err, "an unknown key is not remembered as such")
}

// TestExpiredKeyIsRefused: a key is refused from its expiry on, like a
// revoked one, also while the cache still holds it; an expiry must be in
// the future when the key is made.
func TestExpiredKeyIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newKeysEnv(t)
	wall := &fakeClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	registry.SetKeysNow(e.server, wall.Now)
	expires := wall.Now().Add(time.Hour)
	key, ak, err := e.server.CreateWith(ctx, "acme", registry.NewKey{Scope: registry.ScopeAgent, ExpiresAt: &expires})
	require.NoError(t, err)
	require.NotNil(t, ak.ExpiresAt)

	p, err := e.server.AuthenticateKey(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, registry.ScopeAgent, p.Scope)
	assert.Equal(t, ak.ID, p.KeyID)
	assert.Equal(t, ak.Prefix, p.KeyPrefix)
	require.Equal(t, int64(1), e.st.lookups.Load())

	wall.Advance(time.Hour - time.Millisecond)
	_, err = e.server.AuthenticateKey(ctx, key)
	require.NoError(t, err, "valid until its expiry")
	wall.Advance(time.Millisecond)
	_, err = e.server.AuthenticateKey(ctx, key)
	require.ErrorIs(t, err, registry.ErrUnauthorized, "refused at its expiry, though the cache still holds it")
	assert.Equal(t, int64(1), e.st.lookups.Load(), "the cache entry was fresh: expiry is checked on every use")
	e.clock.Advance(registry.KeyCacheTTL)
	_, err = e.server.AuthenticateKey(ctx, key)
	require.ErrorIs(t, err, registry.ErrUnauthorized, "and after a new lookup")

	past := wall.Now().Add(-time.Second)
	_, _, err = e.server.CreateWith(ctx, "acme", registry.NewKey{ExpiresAt: &past})
	require.ErrorIs(t, err, registry.ErrValidation)
}

// TestKeyScopeDefaultsToAdmin: keys made without a scope (and imported
// ones) are admin keys.
func TestKeyScopeDefaultsToAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newKeysEnv(t)
	key, _, err := e.other.Create(ctx, "acme")
	require.NoError(t, err)
	p, err := e.server.AuthenticateKey(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, registry.ScopeAdmin, p.Scope)
	assert.Nil(t, p.ExpiresAt)
	list, err := e.other.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, registry.ScopeAdmin, list[0].Scope)
}
