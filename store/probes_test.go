package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/registry"
)

// A connection's tool-list hint (tools_ttl_ms) is stored with the row, so
// that every replica paces its re-syncs alike: it reads back through a
// get, a list (full and listing-only), the monitor's targets and a second
// store on the same database, and an update that leaves it keeps it.
func TestToolsTTLIsStored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		require.NoError(t, st.InsertConnectionCapped(ctx, newConn(ten.ID, "c1", "crm"), false, 0))
		got, err := st.GetConnection(ctx, ten.ID, "c1")
		require.NoError(t, err)
		assert.Zero(t, got.ToolsTTL, "no hint until a list brings one")

		const ttl = 90*time.Second + 250*time.Millisecond
		_, _, err = st.UpdateConnectionTools(ctx, ten.ID, "c1", func(c *registry.Connection, tools []*registry.Tool) ([]*registry.Tool, error) {
			c.ToolsTTL = ttl
			return tools, nil
		})
		require.NoError(t, err)
		_, err = st.UpdateConnection(ctx, ten.ID, "c1", func(c *registry.Connection) error {
			c.Nickname = "renamed"
			return nil
		})
		require.NoError(t, err)

		got, err = st.GetConnection(ctx, ten.ID, "c1")
		require.NoError(t, err)
		assert.Equal(t, ttl, got.ToolsTTL)
		for _, creds := range []bool{true, false} {
			list, _, err := st.ListConnections(ctx, ten.ID, registry.ListFilter{Credentials: creds})
			require.NoError(t, err)
			require.Len(t, list, 1)
			assert.Equal(t, ttl, list[0].ToolsTTL, "list with credentials %v", creds)
		}
		targets, err := st.ListProbeTargets(ctx)
		require.NoError(t, err)
		require.Len(t, targets, 1)
		assert.Equal(t, ttl, targets[0].ToolsTTL)

		other := openTest(t, db) // another replica (SQLite: another process)
		got, err = other.GetConnection(ctx, ten.ID, "c1")
		require.NoError(t, err)
		assert.Equal(t, ttl, got.ToolsTTL)
	})
}

// tether migrate carries the hint from SQLite to PostgreSQL.
func TestToolsTTLIsCopied(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, filepath.Join(t.TempDir(), "src.db"))
	ten, err := src.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
	require.NoError(t, err)
	c := newConn(ten.ID, "c1", "crm")
	c.ToolsTTL = 42 * time.Second
	require.NoError(t, src.InsertConnectionCapped(ctx, c, false, 0))
	dst := openTest(t, pgtest.URL(t))
	_, err = CopyInstallation(ctx, src, dst)
	require.NoError(t, err)
	got, err := dst.GetConnection(ctx, ten.ID, "c1")
	require.NoError(t, err)
	assert.Equal(t, 42*time.Second, got.ToolsTTL)
}
