package registry_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// TestBurstOfCallsIsFullyRecorded: every call a client was answered for is
// recorded, however fast the calls come; the records are written in the
// background, so the test waits for them.
func TestBurstOfCallsIsFullyRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, func(o *registry.Options) { o.Calls = o.Store.(registry.CallStore) })
	// A connection keeps its newest 1,000 records: spread the calls.
	const conns, calls, agents = 10, 5000, 16
	ids := make([]string, conns)
	for i := range conns {
		c := f.create(t, registry.NewConnection{Name: fmt.Sprintf("c%d", i)})
		_, err := f.svc.Test(ctx, f.acme, c.ID)
		require.NoError(t, err)
		ids[i] = c.ID
	}

	var wg sync.WaitGroup
	var failed atomic.Int64
	for a := range agents {
		wg.Go(func() {
			for i := a; i < calls; i += agents {
				if _, err := f.svc.CallAgentTool(ctx, f.acme, "", fmt.Sprintf("c%d_add", i%conns), nil); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failed.Load())

	recorded := func() int {
		n := 0
		for _, id := range ids {
			recs, err := f.svc.Calls(ctx, f.acme, id, 1000)
			require.NoError(t, err)
			n += len(recs)
		}
		return n
	}
	require.Eventually(t, func() bool { return recorded() >= calls }, 30*time.Second, 50*time.Millisecond,
		"every call is recorded")
	require.Equal(t, calls, recorded(), "and no call twice")
}

// TestCallRecordsKeepTheNewest: a connection is pruned only now and then,
// so it may store a few more than it keeps, but reads return exactly the
// newest 1,000; and a restarted service prunes a connection when it first
// writes for it.
func TestCallRecordsKeepTheNewest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var opts registry.Options
	f := newFixture(t, func(o *registry.Options) { o.Calls = o.Store.(registry.CallStore); opts = *o })
	c := f.create(t, registry.NewConnection{Name: "crm"})
	_, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	stored := func() int {
		recs, err := opts.Calls.ListCalls(ctx, f.acme, c.ID, 1<<20)
		require.NoError(t, err)
		return len(recs)
	}
	const keep, slack = 1000, 100

	// 250 calls to echo, then 1,000 to add: the newest 1,000 are all add.
	for i := range 1250 {
		tool := "crm_add"
		if i < 250 {
			tool = "crm_echo"
		}
		_, err := f.svc.CallAgentTool(ctx, f.acme, "", tool, nil)
		require.NoError(t, err)
	}
	onlyAdd := func() bool {
		recs, err := f.svc.Calls(ctx, f.acme, c.ID, 1000)
		require.NoError(t, err)
		if len(recs) != keep {
			return false
		}
		for _, r := range recs {
			if r.ToolPath != "add" {
				return false
			}
		}
		return true
	}
	require.Eventually(t, onlyAdd, 30*time.Second, 20*time.Millisecond, "the API returns exactly the newest 1,000")
	f.svc.Close() // writes anything queued
	n := stored()
	require.GreaterOrEqual(t, n, keep)
	require.Less(t, n, keep+slack, "storage stays within keep+slack")

	// Fill the slack as a previous process might have left it, then
	// restart: the first write prunes.
	extra := make([]registry.Call, keep+slack-1-n)
	for i := range extra {
		extra[i] = registry.Call{ID: fmt.Sprintf("extra-%d", i), TenantID: f.acme, ConnectionID: c.ID,
			ToolPath: "add", Slug: "crm_add", Via: "mcp", Outcome: "success", CreatedAt: time.Now()}
	}
	require.NoError(t, opts.Calls.InsertCalls(ctx, extra, nil, keep))
	require.Equal(t, keep+slack-1, stored())
	svc := registry.NewService(opts)
	t.Cleanup(svc.Close)
	_, err = svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	_, err = svc.CallAgentTool(ctx, f.acme, "", "crm_echo", nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		recs, err := svc.Calls(ctx, f.acme, c.ID, 1000)
		require.NoError(t, err)
		return len(recs) == keep && recs[0].ToolPath == "echo"
	}, 30*time.Second, 20*time.Millisecond, "the new record is listed first")
	require.Equal(t, keep, stored(), "a restarted service prunes a connection when it first writes for it")
}
