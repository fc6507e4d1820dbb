package gateway_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/registry"
)

func TestWarmSessionIsReused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sse  bool
	}{
		{name: "streamable"},
		{name: "sse", sse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			up := newUpstream(t, "calc", tt.sse)
			e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
			probeInits := up.inits.Load()
			cs := e.agent(agentOptions{tenant: "acme"})
			const n = 10
			for i := range n {
				res := callTool(t, cs, "calc_add", map[string]any{"a": i, "b": 1})
				require.False(t, res.IsError, text(res))
				assert.Equal(t, float64(i+1), structured(t, res)["sum"])
			}
			assert.Equal(t, int64(1), e.pool.Stats().Handshakes, "one handshake for %d calls", n)
			assert.Equal(t, probeInits+1, up.inits.Load(), "the upstream saw one initialize for the calls")
			assert.Equal(t, int64(n), up.calls.Load())
			assert.Equal(t, 1, e.pool.Stats().Open)
		})
	}
}

func TestConcurrentFirstCallsShareOneHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 2})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1), e.pool.Stats().Handshakes)
}

func TestHangingUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	slow := newUpstream(t, "slow", false)
	fast := newUpstream(t, "fast", true)
	e.connect("acme", connOptions{name: "slow", transport: slow.transport(), endpoint: slow.url(), timeoutMS: 1000})
	// The same server, with a timeout no test waits for: its call hangs
	// until the agent gives up.
	e.connect("acme", connOptions{name: "hang", transport: slow.transport(), endpoint: slow.url(), timeoutMS: 120000})
	e.connect("acme", connOptions{name: "fast", transport: fast.transport(), endpoint: fast.url()})
	cs := e.agent(agentOptions{tenant: "acme"})
	// Warm them all, so what follows runs on warm sessions.
	for _, slug := range []string{"slow_add", "hang_add", "fast_add"} {
		require.False(t, callTool(t, cs, slug, map[string]any{"a": 1, "b": 1}).IsError, slug)
	}

	// A hanging upstream does not hold up others: while a call to it is
	// in flight (and can only end when the agent cancels it), another
	// connection answers as usual. No clock is read: the hanging call
	// cannot end by itself, however slow the machine.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hung := make(chan error, 1)
	before := slow.calls.Load()
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hang_slow", Arguments: map[string]any{}})
		hung <- err
	}()
	eventually(t, func() bool { return slow.calls.Load() > before }, "the hanging call reached its server")
	for i := range 5 {
		res := callTool(t, cs, "fast_add", map[string]any{"a": i, "b": i})
		require.False(t, res.IsError, text(res))
		select {
		case err := <-hung:
			t.Fatalf("the hanging call ended by itself: %v", err)
		default:
		}
	}
	cancel()
	<-hung

	// The connection's timeout bounds the wait: the answer says so.
	start := time.Now()
	res := callTool(t, cs, "slow_slow", nil)
	t.Logf("the timed-out call answered after %v", time.Since(start).Round(time.Millisecond))
	assert.True(t, res.IsError)
	assert.Equal(t, "upstream timeout: no answer within 1000ms", text(res))

	// The slow tool's session is still good for the next call.
	require.False(t, callTool(t, cs, "slow_add", map[string]any{"a": 1, "b": 1}).IsError)
	assert.Equal(t, int64(3), e.pool.Stats().Handshakes)
}

func TestBrokenSessionIsReplaced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sse  bool
		drop func(u *upstream)
		// mustRetry: the call itself finds out (a dropped stream may be
		// noticed before the call, and then there is nothing to retry).
		mustRetry bool
	}{
		{name: "streamable server forgets its sessions", drop: func(u *upstream) { u.restart() }, mustRetry: true},
		{name: "sse stream drops", sse: true, drop: func(u *upstream) { u.srv.CloseClientConnections() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			up := newUpstream(t, "calc", tt.sse)
			e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
			cs := e.agent(agentOptions{tenant: "acme"})
			require.False(t, callTool(t, cs, "calc_add", map[string]any{"a": 1, "b": 1}).IsError)
			require.Equal(t, int64(1), e.pool.Stats().Handshakes)

			tt.drop(up)
			res := callTool(t, cs, "calc_add", map[string]any{"a": 2, "b": 2})
			require.False(t, res.IsError, text(res))
			assert.Equal(t, float64(4), structured(t, res)["sum"])
			assert.Equal(t, int64(2), e.pool.Stats().Handshakes, "re-established once")
			if tt.mustRetry {
				assert.Equal(t, int64(1), e.pool.Stats().Retries, "the call found the session broken and retried")
			}
		})
	}
}

func TestEditedConnectionGetsANewSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "crm", false)
	c := e.connect("acme", connOptions{
		name: "crm", transport: up.transport(), endpoint: up.url(),
		headers: registry.Sensitive{"X-Api-Key": "{{secrets.key}}"}, secrets: registry.Sensitive{"key": "old-key"},
	})
	ctx := context.Background()
	_, err := e.pool.CallTool(ctx, c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	assert.Equal(t, "old-key", up.lastHeader("X-Api-Key"))

	t.Run("edit announced", func(t *testing.T) {
		newKey := "new-key"
		_, err := e.svc.Update(ctx, "acme", c.ID, registry.Patch{Secrets: map[string]*string{"key": &newKey}})
		require.NoError(t, err)
		assert.Equal(t, 0, e.pool.Stats().Open, "the edit closed the session")
		cs := e.agent(agentOptions{tenant: "acme"})
		require.False(t, callTool(t, cs, "crm_add", map[string]any{"a": 1, "b": 1}).IsError)
		assert.Equal(t, "new-key", up.lastHeader("X-Api-Key"))
		assert.Equal(t, int64(2), e.pool.Stats().Handshakes)
	})

	t.Run("edit not announced", func(t *testing.T) {
		// The fingerprint alone keeps old credentials from being reused.
		edited := *c
		edited.Secrets = registry.Sensitive{"key": "newer-key"}
		_, err := e.pool.CallTool(ctx, &edited, "add", map[string]any{"a": 1, "b": 1})
		require.NoError(t, err)
		assert.Equal(t, "newer-key", up.lastHeader("X-Api-Key"))
		assert.Equal(t, int64(3), e.pool.Stats().Handshakes)
		assert.Equal(t, 1, e.pool.Stats().Open)
	})

	t.Run("deleted", func(t *testing.T) {
		require.NoError(t, e.svc.Delete(ctx, "acme", c.ID))
		assert.Equal(t, 0, e.pool.Stats().Open)
	})
}

func TestPoolBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  gateway.PoolOptions
		conns int
		check func(t *testing.T, e *env)
	}{
		{
			name: "least recently used closed beyond the bound", opts: gateway.PoolOptions{MaxSessions: 2}, conns: 3,
			check: func(t *testing.T, e *env) { assert.Equal(t, 2, e.pool.Stats().Open) },
		},
		{
			name: "idle sessions closed", opts: gateway.PoolOptions{IdleTimeout: 100 * time.Millisecond}, conns: 2,
			check: func(t *testing.T, e *env) {
				eventually(t, func() bool { return e.pool.Stats().Open == 0 }, "idle sessions are closed")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{pool: tt.opts})
			up := newUpstream(t, "calc", false)
			for i := range tt.conns {
				c := e.connect("acme", connOptions{name: "calc-" + string(rune('a'+i)), transport: up.transport(), endpoint: up.url()})
				_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
				require.NoError(t, err)
			}
			tt.check(t, e)
		})
	}
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
	_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	e.pool.Close()
	assert.Equal(t, 0, e.pool.Stats().Open)
	_, err = e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	assert.True(t, errors.Is(err, gateway.ErrPoolClosed))
	assert.True(t, errors.Is(err, registry.ErrUpstreamConnection))
}
