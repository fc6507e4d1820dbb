package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tether-dev/tether/internal/benchmeasure"
	"github.com/tether-dev/tether/registry"
)

// BenchmarkInsertCalls measures the store's share of recording tool calls
// as the registry's recorder writes them under load: batches of 256 calls
// spread over 10 connections, each connection pruned to 1,000 records
// once it gained 100 (registry/calls.go). One op is one call recorded.
func BenchmarkInsertCalls(b *testing.B) {
	forEachBenchBackend(b, func(b *testing.B, db string) {
		ctx := context.Background()
		st := openTest(b, db)
		ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		if err != nil {
			b.Fatal(err)
		}
		const conns, batch, keep, pruneEvery = 10, 256, 1000, 100
		ids := make([]string, conns)
		for i := range ids {
			c := newConn(ten.ID, fmt.Sprintf("c%d", i), fmt.Sprintf("crm%d", i))
			c.AuthType, c.Headers, c.Secrets = registry.AuthNone, nil, nil
			if err := st.InsertConnectionCapped(ctx, c, false, 0); err != nil {
				b.Fatal(err)
			}
			ids[i] = c.ID
		}
		since := map[string]int{}
		now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
		n := 0
		write := func(calls []registry.Call) {
			added := map[string]int{}
			for _, c := range calls {
				added[c.ConnectionID]++
			}
			var prune []string
			for id, k := range added {
				if since[id]+k >= pruneEvery {
					prune = append(prune, id)
				}
			}
			if err := st.InsertCalls(ctx, calls, prune, keep); err != nil {
				b.Fatal(err)
			}
			for id, k := range added {
				since[id] += k
			}
			for _, id := range prune {
				since[id] = 0
			}
		}
		next := func() registry.Call {
			n++
			now = now.Add(time.Millisecond)
			return registry.Call{ID: uuid.Must(uuid.NewV7()).String(), TenantID: ten.ID, ConnectionID: ids[n%conns],
				ToolPath: "add", Slug: "crm_add", Via: "mcp", Outcome: "ok", DurationMS: 1, CreatedAt: now}
		}
		// Steady state: every connection already holds its records.
		for range (keep + pruneEvery) * conns / batch {
			calls := make([]registry.Call, batch)
			for i := range calls {
				calls[i] = next()
			}
			write(calls)
		}
		m := benchmeasure.Start()
		pending := make([]registry.Call, 0, batch)
		for b.Loop() {
			pending = append(pending, next())
			if len(pending) == batch {
				m.Time(func() { write(pending) })
				pending = pending[:0]
			}
		}
		if m.Ops() > 0 {
			// Per call, not per batch.
			b.ReportMetric(float64(m.CPUSince())/float64(m.Ops()*batch), "cpu-ns/call")
		}
	})
}
