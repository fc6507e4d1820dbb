package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// TestRoutineRefresh: a probe that finds the server as recorded moves the
// timestamps (of the row, of each tool and of each tool's current
// version) and announces nothing; a probe that finds a change records and
// announces it as before, and so does a new failure; a failure that
// repeats is routine again.
func TestRoutineRefresh(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}
	f := newFixture(t, func(o *registry.Options) { o.Now = clock.Now })
	c := f.create(t, registry.NewConnection{Name: "calc"})

	var mu sync.Mutex
	var changes []registry.Change
	f.svc.OnChange(func(ch registry.Change) {
		if ch.ConnectionID == c.ID {
			mu.Lock()
			changes = append(changes, ch)
			mu.Unlock()
		}
	})
	announced := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := len(changes)
		changes = nil
		return n
	}
	test := func(connected bool) {
		t.Helper()
		clock.Advance(time.Minute)
		out, err := f.svc.Test(ctx, f.acme, c.ID)
		require.NoError(t, err)
		require.Equal(t, connected, out.Connected, "%v", out.Err)
	}
	state := func() (*registry.Connection, map[string]*registry.Tool) {
		t.Helper()
		row, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
		require.NoError(t, err)
		byName := map[string]*registry.Tool{}
		for _, tool := range tools {
			byName[tool.Name] = tool
		}
		return row, byName
	}

	test(true)
	assert.Positive(t, announced(), "the first sync is a change")
	row1, tools1 := state()
	require.Len(t, tools1, 2)

	test(true)
	assert.Zero(t, announced(), "nothing agents see changed")
	row2, tools2 := state()
	now := clock.Now()
	assert.Equal(t, now, *row2.LastRefreshedAt)
	assert.Equal(t, now, *row2.ConnectedAt)
	assert.Equal(t, now, *row2.ToolsSyncedAt)
	assert.Equal(t, row1.Status, row2.Status)
	for name, tool := range tools2 {
		before := tools1[name]
		assert.Equal(t, now, tool.LastSeenAt, name)
		assert.Equal(t, now, tool.UpdatedAt, name)
		assert.Equal(t, before.ID, tool.ID, name)
		assert.Equal(t, before.DefinitionHash, tool.DefinitionHash, name)
		assert.Equal(t, before.ApprovalStatus, tool.ApprovalStatus, name)
		history, err := f.svc.ToolHistory(ctx, f.acme, c.ID, tool.ID)
		require.NoError(t, err)
		require.Len(t, history, 1, name)
		assert.Equal(t, now, history[0].LastSeenAt, "%s: the current version was seen now", name)
	}

	// A changed description: a new fingerprint, recorded and announced.
	f.prober.SetToolSpecs(registry.ToolSpec{Name: "add", Description: "adds"}, registry.ToolSpec{Name: "echo"})
	test(true)
	assert.Positive(t, announced())
	_, tools3 := state()
	assert.NotEqual(t, tools2["add"].DefinitionHash, tools3["add"].DefinitionHash)
	assert.Equal(t, "adds", tools3["add"].Description)

	// A new tool is a change too.
	f.prober.SetToolSpecs(registry.ToolSpec{Name: "add", Description: "adds"}, registry.ToolSpec{Name: "echo"}, registry.ToolSpec{Name: "mul"})
	test(true)
	assert.Positive(t, announced())
	row4, tools4 := state()
	assert.Equal(t, 3, row4.ToolCount)
	assert.True(t, tools4["mul"].Available)

	// The server fails: a change; failing again the same way: routine.
	f.prober.Fail(fmt.Errorf("%w: connection refused", registry.ErrUpstreamConnection))
	test(false)
	assert.Positive(t, announced())
	row5, _ := state()
	assert.Equal(t, registry.StatusError, row5.Status)
	test(false)
	assert.Zero(t, announced())
	row6, _ := state()
	assert.Equal(t, registry.StatusError, row6.Status)
	assert.Equal(t, row5.StatusReason, row6.StatusReason)
	assert.Equal(t, clock.Now(), *row6.LastRefreshedAt)
}
