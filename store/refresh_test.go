package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// TestRoutineRefreshCommitsLight: on SQLite a routine refresh
// (registry.WithRoutineRefresh) runs with synchronous=NORMAL, every other
// write with FULL, whatever ran before it: a refresh that committed, one
// that failed, or several in a row.
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
	assert.Equal(t, 1, level(registry.WithRoutineRefresh(ctx)))
	assert.Equal(t, 1, level(registry.WithRoutineRefresh(ctx)), "refreshes in a row")
	assert.Equal(t, 2, level(ctx), "FULL again after them")
	assert.Equal(t, 2, level(ctx))

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

// TestRoutineRefreshShapes: on each backend, a routine refresh stores
// exactly the timestamps fn moved, whatever their shape: every available
// tool moved together while a vanished one stays (the usual refresh), tools
// moved to different times, and a current version missing from the
// history (recorded as new).
func TestRoutineRefreshShapes(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	for _, tc := range []struct {
		name string
		// move moves tool i (stored with a version unless i is 2) as fn
		// would; false leaves it as read.
		move func(i int, tool *registry.Tool) bool
	}{
		{"together", func(i int, tool *registry.Tool) bool { return i != 3 }},
		{"apart", func(i int, tool *registry.Tool) bool {
			if i == 1 {
				tool.LastSeenAt, tool.UpdatedAt = t2, t2
			}
			return i != 3
		}},
		{"updated apart", func(i int, tool *registry.Tool) bool {
			if i == 0 {
				tool.UpdatedAt = t2
			}
			return i != 3
		}},
		{"a vanished tool seen", func(i int, tool *registry.Tool) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db string) {
				ctx := context.Background()
				st := openTest(t, db)
				ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
				require.NoError(t, err)
				c := newConn(ten.ID, "c1", "crm")
				require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
				other := newConn(ten.ID, "c2", "other")
				require.NoError(t, st.InsertConnectionCapped(ctx, other, false, 0))

				// Tools 0..2 available (2 without a version in the
				// history), 3 vanished; another connection's tool beside.
				tool := func(conn *registry.Connection, i int) *registry.Tool {
					hash := fmt.Sprintf("h%d", i)
					tl := &registry.Tool{ID: fmt.Sprintf("%s-tool-%d", conn.ID, i), ConnectionID: conn.ID, TenantID: ten.ID,
						Name: fmt.Sprintf("tool%d", i), Slug: fmt.Sprintf("%s_tool%d", conn.Slug, i),
						InputSchema: map[string]any{"type": "object"}, DefinitionHash: hash, ApprovalStatus: registry.Approved,
						ApprovedHash: hash, Enabled: true, Available: i != 3, LastSeenAt: t0, CreatedAt: t0, UpdatedAt: t0}
					if i != 2 {
						tl.Version = &registry.ToolVersion{ToolID: tl.ID, TenantID: ten.ID, ConnectionID: conn.ID, Hash: hash,
							FirstSeenAt: t0, LastSeenAt: t0}
					}
					return tl
				}
				for _, conn := range []*registry.Connection{c, other} {
					_, _, err = st.UpdateConnectionTools(ctx, ten.ID, conn.ID, func(row *registry.Connection, _ []*registry.Tool) ([]*registry.Tool, error) {
						row.ConnectedAt, row.ToolsSyncedAt, row.LastRefreshedAt = &t0, &t0, &t0
						return []*registry.Tool{tool(conn, 0), tool(conn, 1), tool(conn, 2), tool(conn, 3)}, nil
					})
					require.NoError(t, err)
				}
				stored := func(conn string) map[string]*registry.Tool {
					all, err := st.ListTools(ctx, ten.ID, conn)
					require.NoError(t, err)
					out := map[string]*registry.Tool{}
					for _, tl := range all[conn] {
						out[tl.ID] = tl
					}
					return out
				}
				before, otherBefore := stored(c.ID), stored(other.ID)

				want := map[string]*registry.Tool{}
				_, _, err = st.UpdateConnectionTools(registry.WithRoutineRefresh(ctx), ten.ID, c.ID, func(row *registry.Connection, tools []*registry.Tool) ([]*registry.Tool, error) {
					row.ConnectedAt, row.ToolsSyncedAt, row.LastRefreshedAt = &t1, &t1, &t1
					for i, tl := range tools {
						tl.LastSeenAt, tl.UpdatedAt = t1, t1
						if tc.move(i, tl) {
							tl.Version = &registry.ToolVersion{ToolID: tl.ID, TenantID: ten.ID, ConnectionID: c.ID,
								Hash: tl.DefinitionHash, FirstSeenAt: tl.LastSeenAt, LastSeenAt: tl.LastSeenAt}
						} else {
							tl.LastSeenAt, tl.UpdatedAt = t0, t0
						}
						w := *tl
						w.Version = nil
						want[tl.ID] = &w
					}
					return tools, nil
				})
				require.NoError(t, err)

				after := stored(c.ID)
				require.Len(t, after, 4)
				for id, tl := range after {
					assert.Equal(t, want[id], tl, id)
					b := *before[id]
					b.LastSeenAt, b.UpdatedAt = tl.LastSeenAt, tl.UpdatedAt
					assert.Equal(t, &b, tl, "%s: nothing but the timestamps moved", id)
					versions, err := st.ToolVersions(ctx, ten.ID, c.ID, id)
					require.NoError(t, err)
					switch {
					case id == c.ID+"-tool-2":
						require.Len(t, versions, 1, "recorded as new")
						assert.Equal(t, tl.LastSeenAt, versions[0].FirstSeenAt)
						assert.Equal(t, tl.LastSeenAt, versions[0].LastSeenAt)
					case id == c.ID+"-tool-3" && tc.name != "a vanished tool seen":
						require.Len(t, versions, 1)
						assert.Equal(t, t0, versions[0].LastSeenAt, "not seen")
					default:
						require.Len(t, versions, 1)
						assert.Equal(t, t0, versions[0].FirstSeenAt)
						assert.Equal(t, tl.LastSeenAt, versions[0].LastSeenAt)
					}
				}
				assert.Equal(t, otherBefore, stored(other.ID), "another connection's tools stay")
				for id := range otherBefore {
					versions, err := st.ToolVersions(ctx, ten.ID, other.ID, id)
					require.NoError(t, err)
					for _, v := range versions {
						assert.Equal(t, t0, v.LastSeenAt, id)
					}
				}
			})
		})
	}
}
