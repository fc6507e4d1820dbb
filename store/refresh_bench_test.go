package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tether-dev/tether/internal/benchmeasure"
	"github.com/tether-dev/tether/registry"
)

// BenchmarkRoutineRefresh measures the store's share of a connection test
// that finds the server as recorded, on each backend: the row read before
// the probe, then the routine refresh of the row and its five tools (each
// tool's timestamps and its current version's last_seen_at), as the
// registry records it.
func BenchmarkRoutineRefresh(b *testing.B) {
	forEachBenchBackend(b, func(b *testing.B, db string) {
		ctx := context.Background()
		st := openTest(b, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		if err != nil {
			b.Fatal(err)
		}
		c := newConn(ten.ID, "c1", "crm")
		c.AuthType, c.Headers, c.Secrets = registry.AuthNone, nil, nil
		if err := st.InsertConnectionCapped(ctx, c, false, 0); err != nil {
			b.Fatal(err)
		}
		t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
		var first []*registry.Tool
		for i := range 5 {
			tool := &registry.Tool{ID: fmt.Sprintf("tool-%d", i), ConnectionID: c.ID, TenantID: ten.ID,
				Name: fmt.Sprintf("tool-%d", i), Slug: fmt.Sprintf("crm_tool_%d", i), Description: "a tool",
				InputSchema:    map[string]any{"type": "object", "additionalProperties": false},
				DefinitionHash: fmt.Sprintf("h%d", i), ApprovalStatus: registry.Approved, ApprovedHash: fmt.Sprintf("h%d", i),
				Enabled: true, Available: true, Position: i, LastSeenAt: t0, CreatedAt: t0, UpdatedAt: t0}
			tool.Version = &registry.ToolVersion{ToolID: tool.ID, TenantID: ten.ID, ConnectionID: c.ID,
				Hash: tool.DefinitionHash, FirstSeenAt: t0, LastSeenAt: t0}
			first = append(first, tool)
		}
		if _, _, err := st.UpdateConnectionTools(ctx, ten.ID, c.ID, func(c *registry.Connection, _ []*registry.Tool) ([]*registry.Tool, error) {
			c.ToolsStatus, c.ToolCount, c.ProtocolVersion = registry.ToolsSynced, 5, "2025-11-25"
			c.ConnectedAt, c.ToolsSyncedAt, c.LastRefreshedAt = &t0, &t0, &t0
			return first, nil
		}); err != nil {
			b.Fatal(err)
		}
		now := t0
		routine := registry.WithRoutineRefresh(ctx)
		refresh := func() {
			if _, err := st.GetConnection(ctx, ten.ID, c.ID); err != nil {
				b.Fatal(err)
			}
			now = now.Add(time.Millisecond)
			if _, _, err := st.UpdateConnectionTools(routine, ten.ID, c.ID, func(c *registry.Connection, tools []*registry.Tool) ([]*registry.Tool, error) {
				c.ConnectedAt, c.ToolsSyncedAt, c.LastRefreshedAt = &now, &now, &now
				for _, t := range tools {
					t.LastSeenAt, t.UpdatedAt = now, now
					t.Version = &registry.ToolVersion{ToolID: t.ID, TenantID: t.TenantID, ConnectionID: t.ConnectionID,
						Hash: t.DefinitionHash, FirstSeenAt: now, LastSeenAt: now}
				}
				return tools, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		m := benchmeasure.Start()
		for b.Loop() {
			m.Time(refresh)
		}
		m.Report(b)
	})
}
