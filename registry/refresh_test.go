package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
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

// holdingProber is a registrytest.Prober whose probes, once hold is
// called, wait for the returned release after saying they started.
type holdingProber struct {
	*registrytest.Prober
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
}

func (p *holdingProber) hold() (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	gate := make(chan struct{})
	p.gate, p.entered = gate, make(chan struct{}, 1)
	return func() {
		p.mu.Lock()
		p.gate = nil
		p.mu.Unlock()
		close(gate)
	}
}

func (p *holdingProber) Probe(ctx context.Context, c *registry.Connection) (*registry.ProbeResult, error) {
	p.mu.Lock()
	gate, entered := p.gate, p.entered
	p.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	return p.Prober.Probe(ctx, c)
}

// TestRoutineProbeRacingAWrite: a probe that finds the server as recorded
// while the row is edited (its reach: not recorded at all) or its tools
// re-read (the probe's list then changes the stored one: recorded as a
// change, not as a routine refresh) is recorded as any other probe would
// be.
func TestRoutineProbeRacingAWrite(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)}
	prober := &holdingProber{Prober: &registrytest.Prober{}}
	prober.SetTools("add", "echo")
	f := newFixture(t, func(o *registry.Options) { o.Now, o.Prober = clock.Now, prober })
	c := f.create(t, registry.NewConnection{Name: "calc"})
	var mu sync.Mutex
	var changes int
	f.svc.OnChange(func(ch registry.Change) {
		if ch.ConnectionID == c.ID {
			mu.Lock()
			changes++
			mu.Unlock()
		}
	})
	announced := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := changes
		changes = 0
		return n
	}
	test := func(during func()) {
		t.Helper()
		clock.Advance(time.Minute)
		release := prober.hold()
		done := make(chan *registry.TestOutcome, 1)
		go func() {
			out, err := f.svc.Test(ctx, f.acme, c.ID)
			assert.NoError(t, err)
			done <- out
		}()
		<-prober.entered
		during()
		release()
		out := <-done
		require.True(t, out.Connected, "%v", out.Err)
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
	out, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.True(t, out.Connected)
	announced()

	// The endpoint is edited while the probe runs: nothing recorded.
	row1, tools1 := state()
	test(func() {
		_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Endpoint: ptr("https://mcp2.example.com/mcp")})
		require.NoError(t, err)
	})
	row2, tools2 := state()
	assert.Equal(t, row1.LastRefreshedAt, row2.LastRefreshedAt, "the probe of the old endpoint is not recorded")
	assert.Equal(t, row1.ToolsSyncedAt, row2.ToolsSyncedAt)
	for name, tool := range tools2 {
		assert.Equal(t, tools1[name].LastSeenAt, tool.LastSeenAt, name)
	}
	announced()

	// A third tool is recorded while the probe (listing two) runs: the
	// probe's record is a change, tool mul vanishing, announced.
	test(func() {
		require.NoError(t, f.svc.RecordTools(ctx, f.acme, c.ID, []registry.ToolSpec{
			{Name: "add", Description: "the add tool", InputSchema: map[string]any{"type": "object"}},
			{Name: "echo", Description: "the echo tool", InputSchema: map[string]any{"type": "object"}},
			{Name: "mul"}}))
		_, tools := state()
		require.True(t, tools["mul"].Available)
		assert.Positive(t, announced())
	})
	row3, tools3 := state()
	assert.Positive(t, announced(), "the probe's record is a change")
	assert.Equal(t, clock.Now(), *row3.LastRefreshedAt)
	assert.Equal(t, 2, row3.ToolCount)
	require.Len(t, tools3, 3)
	assert.False(t, tools3["mul"].Available, "the probe found it gone")
	assert.Equal(t, clock.Now(), tools3["mul"].UpdatedAt)
	assert.Equal(t, clock.Now(), tools3["add"].LastSeenAt)

	// And the next probe, finding the server as recorded, is routine.
	test(func() {})
	row4, tools4 := state()
	assert.Zero(t, announced())
	assert.Equal(t, clock.Now(), *row4.LastRefreshedAt)
	assert.False(t, tools4["mul"].Available)
	assert.Equal(t, tools3["mul"].UpdatedAt, tools4["mul"].UpdatedAt, "a vanished tool's timestamps stay")
	assert.Equal(t, clock.Now(), tools4["echo"].LastSeenAt)

	// The same tools are recorded in another order while the probe runs:
	// only the tools differ from what the probe finds (their positions),
	// and its record puts them back, announced.
	test(func() {
		require.NoError(t, f.svc.RecordTools(ctx, f.acme, c.ID, []registry.ToolSpec{
			{Name: "echo", Description: "the echo tool", InputSchema: map[string]any{"type": "object"}},
			{Name: "add", Description: "the add tool", InputSchema: map[string]any{"type": "object"}}}))
		_, tools := state()
		require.Equal(t, 0, tools["echo"].Position)
		assert.Positive(t, announced())
	})
	_, tools5 := state()
	assert.Positive(t, announced(), "the probe's record is a change")
	assert.Equal(t, 0, tools5["add"].Position)
	assert.Equal(t, 1, tools5["echo"].Position)
	assert.Equal(t, clock.Now(), tools5["add"].LastSeenAt)
}
