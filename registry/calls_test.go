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
