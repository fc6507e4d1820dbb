package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// storeTool writes tool t (and its Version) through UpdateConnectionTools.
func storeTool(t *testing.T, st *Store, c *registry.Connection, tool *registry.Tool) {
	t.Helper()
	_, _, err := st.UpdateConnectionTools(context.Background(), c.TenantID, c.ID, func(*registry.Connection, []*registry.Tool) ([]*registry.Tool, error) {
		return []*registry.Tool{tool}, nil
	})
	require.NoError(t, err)
}

func newTool(c *registry.Connection, desc string, at time.Time) *registry.Tool {
	tool := &registry.Tool{ID: "tool-1", ConnectionID: c.ID, TenantID: c.TenantID, Name: "lookup", Slug: "crm_lookup",
		Description: desc, InputSchema: map[string]any{"type": "object"}, Annotations: map[string]any{"readOnlyHint": true},
		Enabled: true, Available: true, LastSeenAt: at, CreatedAt: at, UpdatedAt: at,
		ApprovalStatus: registry.Approved}
	tool.DefinitionHash = tool.Live().Fingerprint()
	tool.ApprovedHash = tool.DefinitionHash
	tool.Version = &registry.ToolVersion{ToolID: tool.ID, TenantID: c.TenantID, ConnectionID: c.ID, Hash: tool.DefinitionHash,
		Definition: tool.Live(), FirstSeenAt: at, LastSeenAt: at}
	return tool
}

// A tool row written before migration 0008 (no fingerprint, no approval)
// reads as approved, fingerprinted from its stored definition.
func TestLegacyToolRowsReadAsApproved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		ctx := context.Background()
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		c := newConn("t1", "c1", "crm")
		require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		tool := newTool(c, "Look up", time.Now().UTC().Truncate(time.Millisecond))
		storeTool(t, st, c, tool)
		_, err = st.write.ExecContext(ctx, `UPDATE tools SET definition_hash = '', approved_hash = '', annotations = NULL`)
		require.NoError(t, err)
		tools, err := st.ListTools(ctx, "t1", "c1")
		require.NoError(t, err)
		got := tools["c1"][0]
		assert.Equal(t, registry.Approved, got.ApprovalStatus)
		assert.Equal(t, got.Live().Fingerprint(), got.DefinitionHash)
		assert.Equal(t, got.DefinitionHash, got.ApprovedHash)
		_, served := got.Served()
		assert.True(t, served)
	})
}

// The history keeps a version per fingerprint, moves last_seen_at on each
// sighting, keeps the approval, and is bounded per tool (the versions
// seen most recently stay); another tenant reads none of it.
func TestToolVersionsRecordAndBound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		ctx := context.Background()
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		c := newConn("t1", "c1", "crm")
		require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		start := time.Now().UTC().Truncate(time.Millisecond)

		first := newTool(c, "v0", start)
		approvedAt := start
		first.Version.ApprovedAt, first.Version.ApprovedBy = &approvedAt, "key-1"
		storeTool(t, st, c, first)
		again := newTool(c, "v0", start.Add(time.Second)) // seen again
		storeTool(t, st, c, again)
		versions, err := st.ToolVersions(ctx, "t1", "c1", "tool-1")
		require.NoError(t, err)
		require.Len(t, versions, 1)
		assert.Equal(t, start, versions[0].FirstSeenAt)
		assert.Equal(t, start.Add(time.Second), versions[0].LastSeenAt)
		assert.Equal(t, "key-1", versions[0].ApprovedBy, "a later sighting keeps the approval")
		assert.Equal(t, "v0", versions[0].Definition.Description)

		for i := 1; i <= registry.MaxToolVersions+5; i++ {
			storeTool(t, st, c, newTool(c, fmt.Sprintf("v%d", i), start.Add(time.Duration(i+1)*time.Second)))
		}
		versions, err = st.ToolVersions(ctx, "t1", "c1", "tool-1")
		require.NoError(t, err)
		require.Len(t, versions, registry.MaxToolVersions)
		assert.Equal(t, fmt.Sprintf("v%d", registry.MaxToolVersions+5), versions[0].Definition.Description, "newest first")
		assert.Equal(t, "v6", versions[len(versions)-1].Definition.Description, "the oldest forgotten")

		_, err = st.ToolVersions(ctx, "t2", "c1", "tool-1")
		assert.ErrorIs(t, err, registry.ErrNotFound)
		_, err = st.ToolVersions(ctx, "t1", "c1", "nope")
		assert.ErrorIs(t, err, registry.ErrNotFound)
	})
}
