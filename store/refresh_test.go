package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// TestRoutineRefreshCommitsLight: on SQLite a routine refresh
// (registry.WithRoutineRefresh) runs with synchronous=NORMAL, every other
// write with FULL, and the writer is FULL again after it, whether the
// refresh committed or failed.
func TestRoutineRefreshCommitsLight(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "t.db"))
	ctx := context.Background()
	// PRAGMA synchronous: 1 is NORMAL, 2 is FULL.
	level := func(ctx context.Context) (n int) {
		t.Helper()
		require.NoError(t, st.inTx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n)
		}))
		return n
	}
	assert.Equal(t, 2, level(ctx))
	assert.Equal(t, 1, level(registry.WithRoutineRefresh(ctx)))
	assert.Equal(t, 2, level(ctx), "the writer is FULL again")

	err := st.inTx(registry.WithRoutineRefresh(ctx), func(tx *sql.Tx) error { return assert.AnError })
	require.ErrorIs(t, err, assert.AnError)
	assert.Equal(t, 2, level(ctx), "after a failed refresh too")
}

// TestRoutineRefreshWritesTimestamps: on each backend, a routine refresh
// stores the timestamps it moved (the connection's, each tool's and each
// tool's current version's last_seen_at) and leaves everything else as it
// was stored.
func TestRoutineRefreshWritesTimestamps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		c := newConn(ten.ID, "c1", "crm")
		require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))

		t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
		tool := &registry.Tool{ID: "tool-1", ConnectionID: c.ID, TenantID: ten.ID, Name: "add", Slug: "crm_add",
			Description: "adds", InputSchema: map[string]any{"type": "object"}, DefinitionHash: "h1",
			ApprovalStatus: registry.Approved, ApprovedHash: "h1", Enabled: true, Available: true,
			LastSeenAt: t0, CreatedAt: t0, UpdatedAt: t0}
		tool.Version = &registry.ToolVersion{ToolID: tool.ID, TenantID: ten.ID, ConnectionID: c.ID, Hash: "h1",
			FirstSeenAt: t0, LastSeenAt: t0}
		_, _, err = st.UpdateConnectionTools(ctx, ten.ID, c.ID, func(c *registry.Connection, _ []*registry.Tool) ([]*registry.Tool, error) {
			c.Status, c.ToolsStatus, c.ToolCount, c.ProtocolVersion = registry.StatusActive, registry.ToolsSynced, 1, "2025-11-25"
			c.ConnectedAt, c.ToolsSyncedAt, c.LastRefreshedAt = &t0, &t0, &t0
			return []*registry.Tool{tool}, nil
		})
		require.NoError(t, err)
		before, err := st.GetConnection(ctx, ten.ID, c.ID)
		require.NoError(t, err)
		toolsBefore, err := st.ListTools(ctx, ten.ID, c.ID)
		require.NoError(t, err)

		t1 := t0.Add(time.Minute)
		_, tools, err := st.UpdateConnectionTools(registry.WithRoutineRefresh(ctx), ten.ID, c.ID, func(c *registry.Connection, tools []*registry.Tool) ([]*registry.Tool, error) {
			c.ConnectedAt, c.ToolsSyncedAt, c.LastRefreshedAt = &t1, &t1, &t1
			for _, tool := range tools {
				tool.LastSeenAt, tool.UpdatedAt = t1, t1
				tool.Version = &registry.ToolVersion{ToolID: tool.ID, TenantID: ten.ID, ConnectionID: c.ID, Hash: tool.DefinitionHash,
					FirstSeenAt: t1, LastSeenAt: t1}
			}
			return tools, nil
		})
		require.NoError(t, err)
		require.Len(t, tools, 1)

		after, err := st.GetConnection(ctx, ten.ID, c.ID)
		require.NoError(t, err)
		assert.Equal(t, t1, *after.ConnectedAt)
		assert.Equal(t, t1, *after.ToolsSyncedAt)
		assert.Equal(t, t1, *after.LastRefreshedAt)
		after.ConnectedAt, after.ToolsSyncedAt, after.LastRefreshedAt = before.ConnectedAt, before.ToolsSyncedAt, before.LastRefreshedAt
		assert.Equal(t, before, after, "nothing else moved")

		toolsAfter, err := st.ListTools(ctx, ten.ID, c.ID)
		require.NoError(t, err)
		require.Len(t, toolsAfter[c.ID], 1)
		got := toolsAfter[c.ID][0]
		assert.Equal(t, t1, got.LastSeenAt)
		assert.Equal(t, t1, got.UpdatedAt)
		got.LastSeenAt, got.UpdatedAt = t0, t0
		assert.Equal(t, toolsBefore[c.ID][0], got, "nothing else moved")

		versions, err := st.ToolVersions(ctx, ten.ID, c.ID, tool.ID)
		require.NoError(t, err)
		require.Len(t, versions, 1)
		assert.Equal(t, t0, versions[0].FirstSeenAt)
		assert.Equal(t, t1, versions[0].LastSeenAt)
	})
}
