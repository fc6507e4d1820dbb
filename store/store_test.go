package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
)

func openTest(t testing.TB, path string) *Store {
	t.Helper()
	key, err := secrets.NewKey("test", make([]byte, 32))
	require.NoError(t, err)
	ring, err := secrets.NewKeyring([]secrets.Key{key})
	require.NoError(t, err)
	st, err := Open(context.Background(), path, Options{Cipher: ring})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newConn(tenant, id, slug string) *registry.Connection {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &registry.Connection{
		ID: id, TenantID: tenant, Slug: slug, Nickname: slug, Transport: registry.TransportHTTP,
		Endpoint: "https://mcp.example.com/", AuthType: registry.AuthHeaders, Enabled: true, TimeoutMS: 30000,
		Headers: registry.Sensitive{"X-Key": "{{secrets.K}}"}, Secrets: registry.Sensitive{"K": "value-" + id},
		Status: registry.StatusActive, ToolsStatus: registry.ToolsPending, CreatedAt: now, UpdatedAt: now,
		ToolPolicy: registry.PolicyAuto,
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		path := db
		st := openTest(t, path)
		require.NoError(t, st.Close())
		st2 := openTest(t, path)
		var n int
		require.NoError(t, st2.read.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n))
		dir := "migrations/sqlite"
		if st2.Postgres() {
			dir = "migrations/postgres"
		}
		files, err := migrationFiles.ReadDir(dir)
		require.NoError(t, err)
		assert.Equal(t, len(files), n, "each migration recorded once")
	})
}

// Replicas that start together on an empty PostgreSQL database take turns
// at the migrations: every one opens, and each migration runs once.
func TestReplicasMigrateTogether(t *testing.T) {
	db := pgtest.URL(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	errs := make([]error, 3)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), db, Options{MaxConns: 2}) })
	}
	wg.Wait()
	for i, st := range stores {
		require.NoError(t, errs[i])
		defer st.Close()
	}
	files, err := migrationFiles.ReadDir("migrations/postgres")
	require.NoError(t, err)
	var n int
	require.NoError(t, stores[0].read.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n))
	assert.Equal(t, len(files), n)
}

// Two concurrent creates of one Ferni name (no suffix): exactly one wins,
// the other is ErrNameExists; concurrent Feather creates (next free
// suffix) all succeed with distinct slugs. On PostgreSQL the stores are
// separate pools, as on separate replicas.
func TestConcurrentCreatesOfOneName(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		a, b := openTest(t, db), openTest(t, db)
		ten, err := a.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		for round := range 5 {
			slug := fmt.Sprintf("crm%d", round)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, st := range []*Store{a, b} {
				wg.Go(func() {
					errs[i] = st.InsertConnectionCapped(ctx, newConn(ten.ID, fmt.Sprintf("%s-%d", slug, i), slug), false, 0)
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else {
					assert.ErrorIs(t, err, registry.ErrNameExists)
				}
			}
			assert.Equal(t, 1, won, "exactly one create of %q wins", slug)
		}

		const n = 6
		slugs := make([]string, n)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			st := []*Store{a, b}[i%2]
			wg.Go(func() {
				c := newConn(ten.ID, fmt.Sprintf("weather-%d", i), "weather")
				errs[i] = st.InsertConnectionCapped(ctx, c, true, 0)
				slugs[i] = c.Slug
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		want := []string{"weather"}
		for i := 2; i <= n; i++ {
			want = append(want, fmt.Sprintf("weather_%d", i))
		}
		assert.ElementsMatch(t, want, slugs)
	})
}

func TestConnectionRoundTripAndConflicts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		again, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t-other", Name: "acme"})
		require.NoError(t, err)
		assert.Equal(t, ten.ID, again.ID, "a tenant name maps to one id")

		c := newConn(ten.ID, "c1", "crm")
		require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		got, err := st.GetConnection(ctx, ten.ID, "c1")
		require.NoError(t, err)
		assert.Equal(t, c, got)

		err = st.InsertConnectionCapped(ctx, newConn(ten.ID, "c2", "crm"), false, 0)
		assert.ErrorIs(t, err, registry.ErrNameExists)
		dup := newConn(ten.ID, "c3", "crm")
		require.NoError(t, st.InsertConnectionCapped(ctx, dup, true, 0))
		assert.Equal(t, "crm_2", dup.Slug)

		_, err = st.GetConnection(ctx, "another-tenant", "c1")
		assert.ErrorIs(t, err, registry.ErrNotFound)
		assert.ErrorIs(t, st.DeleteConnection(ctx, "another-tenant", "c1"), registry.ErrNotFound)
		_, err = st.UpdateConnection(ctx, ten.ID, "c1", func(c *registry.Connection) error { return registry.ErrValidation })
		assert.ErrorIs(t, err, registry.ErrValidation, "an error from fn aborts the update")
	})
}

// TestCiphertextIsBoundToItsRow copies one row's encrypted secrets onto
// another row: reading it must fail rather than hand out the secret.
func TestCiphertextIsBoundToItsRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		require.NoError(t, st.InsertConnectionCapped(ctx, newConn(ten.ID, "a", "a"), false, 0))
		require.NoError(t, st.InsertConnectionCapped(ctx, newConn(ten.ID, "b", "b"), false, 0))
		require.NoError(t, st.CheckDecryptable(ctx))

		_, err = st.write.Exec(`UPDATE connections SET secrets_enc = (SELECT secrets_enc FROM connections WHERE id = 'a') WHERE id = 'b'`)
		require.NoError(t, err)
		_, err = st.GetConnection(ctx, ten.ID, "b")
		assert.ErrorIs(t, err, secrets.ErrDecrypt)
		assert.ErrorIs(t, st.CheckDecryptable(ctx), secrets.ErrDecrypt)
		_, err = st.GetConnection(ctx, ten.ID, "a")
		assert.NoError(t, err)
	})
}

// The database file and its journals are tether's alone: a world-readable
// file (an older tether's, or one copied in) is made 0600 on Open, and so
// are the journals that exist then.
func TestOpenRestrictsTheFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	first := openTest(t, path) // kept open: its -wal and -shm stay
	_, err := first.EnsureTenant(context.Background(), &registry.Tenant{ID: "t1", Name: "acme"})
	require.NoError(t, err)
	files := []string{path, path + "-wal", path + "-shm"}
	for _, f := range files {
		require.NoError(t, os.Chmod(f, 0o644))
	}

	openTest(t, path)
	for _, f := range files {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}
}
