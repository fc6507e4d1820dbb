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

// A batch larger than one INSERT (two full statements and a partial one)
// stores every record as given, skips the records of a connection that is
// gone, moves last_used_at to each connection's newest call, and prunes.
func TestInsertCallsInStatementsOfManyRows(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		for _, id := range []string{"c1", "c2"} {
			c := newConn(ten.ID, id, "crm-"+id)
			require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		}
		t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
		var batch []registry.Call
		for i := range 2*callsPerInsert + 7 {
			conn := []string{"c1", "c2", "gone"}[i%3]
			batch = append(batch, registry.Call{ID: fmt.Sprintf("call-%03d", i), TenantID: ten.ID, ConnectionID: conn,
				ToolPath: fmt.Sprintf("tool-%d", i), Slug: "crm_tool", Via: []string{"mcp", "rest"}[i%2],
				Outcome: "ok", DurationMS: i * 7, Error: fmt.Sprintf("e%d", i), CreatedAt: t0.Add(time.Duration(i) * time.Second)})
		}
		require.NoError(t, st.InsertCalls(ctx, batch, nil, 1000))
		for _, conn := range []string{"c1", "c2"} {
			got, err := st.ListCalls(ctx, ten.ID, conn, 1000)
			require.NoError(t, err)
			var want []registry.Call
			for i := len(batch) - 1; i >= 0; i-- { // newest first
				if batch[i].ConnectionID == conn {
					want = append(want, batch[i])
				}
			}
			require.Len(t, got, len(want))
			for i := range want {
				assert.Equal(t, want[i].ID, got[i].ID)
				assert.Equal(t, want[i].ToolPath, got[i].ToolPath)
				assert.Equal(t, want[i].Via, got[i].Via)
				assert.Equal(t, want[i].DurationMS, got[i].DurationMS)
				assert.Equal(t, want[i].Error, got[i].Error)
				assert.True(t, want[i].CreatedAt.Equal(got[i].CreatedAt))
			}
			c, err := st.GetConnection(ctx, ten.ID, conn)
			require.NoError(t, err)
			require.NotNil(t, c.LastUsedAt)
			assert.True(t, want[0].CreatedAt.Equal(*c.LastUsedAt), "last_used_at is the newest call's time")
		}
		gone, err := st.ListCalls(ctx, ten.ID, "gone", 1000)
		require.NoError(t, err)
		assert.Empty(t, gone)

		// Pruned to the newest 10 of c1.
		require.NoError(t, st.InsertCalls(ctx, nil, []string{"c1"}, 10))
		got, err := st.ListCalls(ctx, ten.ID, "c1", 1000)
		require.NoError(t, err)
		require.Len(t, got, 10)
		assert.Equal(t, "call-132", got[0].ID)
	})
}
