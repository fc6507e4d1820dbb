package mcpclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/internal/syncbuf"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

// poolEnv is the pool as tether uses it: the Prober of a registry service
// over a SQLite store, hearing the service's changes.
type poolEnv struct {
	t       testing.TB
	svc     *registry.Service
	pool    *mcpclient.Pool
	refresh atomic.Int64 // upstream-triggered re-syncs requested
}

func newPoolEnv(t testing.TB, opts mcpclient.PoolOptions) *poolEnv {
	t.Helper()
	st := registrytest.OpenStore(t)
	_, err := st.EnsureTenant(context.Background(), &registry.Tenant{ID: "acme", Name: "acme"})
	require.NoError(t, err)

	guard := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	e := &poolEnv{t: t}
	opts.Client = mcpclient.New(mcpclient.Options{Guard: guard})
	if opts.ToolsChangedDebounce == 0 {
		opts.ToolsChangedDebounce = 50 * time.Millisecond
	}
	e.pool = mcpclient.NewPool(opts)
	e.svc = registry.NewService(registry.Options{Store: st, Prober: e.pool})
	e.svc.OnChange(e.pool.HandleChange)
	e.pool.OnToolsChanged(func(ctx context.Context, tenantID, id string, tools []registry.ToolSpec) {
		e.refresh.Add(1)
		_ = e.svc.RecordTools(ctx, tenantID, id, tools)
	})
	t.Cleanup(func() {
		e.svc.Close()
		e.pool.Close()
	})
	return e
}

// connect registers a connection to up and probes it, which syncs its
// tools.
func (e *poolEnv) connect(name string, up *mcptest.Upstream, headers, secrets registry.Sensitive) *registry.Connection {
	e.t.Helper()
	ctx := context.Background()
	c, err := e.svc.Create(ctx, "acme", registry.NewConnection{
		Name: name, Transport: up.Transport(), Endpoint: up.URL(), Enabled: true,
		TimeoutMS: 5000, Headers: headers, Secrets: secrets,
	})
	require.NoError(e.t, err)
	out, err := e.svc.Test(ctx, "acme", c.ID)
	require.NoError(e.t, err)
	require.True(e.t, out.Connected, "probe of %s: %v", name, out.Err)
	c, err = e.svc.Get(ctx, "acme", c.ID)
	require.NoError(e.t, err)
	return c
}

// call calls a tool by slug as an agent would (through the registry); the
// result must not be a tool error.
func (e *poolEnv) call(t *testing.T, slug string, args map[string]any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := e.svc.CallAgentTool(ctx, "acme", "", slug, args)
	require.NoError(t, err)
	require.NotEqual(t, true, res["isError"], "%v", res["content"])
	return res
}

// sum is the result of the add tool.
func sum(res map[string]any) any {
	sc, _ := res["structuredContent"].(map[string]any)
	return sc["sum"]
}

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
			e := newPoolEnv(t, mcpclient.PoolOptions{})
			up := mcptest.New(t, mcptest.Options{Name: "calc", SSE: tt.sse})
			e.connect("calc", up, nil, nil)
			probeInits := up.Inits.Load()
			const n = 10
			for i := range n {
				res := e.call(t, "calc_add", map[string]any{"a": i, "b": 1})
				assert.Equal(t, float64(i+1), sum(res))
			}
			assert.Equal(t, int64(1), e.pool.Stats().Handshakes, "one handshake for %d calls", n)
			assert.Equal(t, probeInits+1, up.Inits.Load(), "the upstream saw one initialize for the calls")
			assert.Equal(t, int64(n), up.Calls.Load())
			assert.Equal(t, 1, e.pool.Stats().Open)
		})
	}
}

func TestConcurrentFirstCallsShareOneHandshake(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, mcpclient.PoolOptions{})
	up := mcptest.New(t, mcptest.Options{Name: "calc"})
	c := e.connect("calc", up, nil, nil)
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

func TestBrokenSessionIsReplaced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sse  bool
		drop func(u *mcptest.Upstream)
		// mustRetry: the call itself finds out (a dropped stream may be
		// noticed before the call, and then there is nothing to retry).
		mustRetry bool
	}{
		{name: "streamable server forgets its sessions", drop: func(u *mcptest.Upstream) { u.Restart() }, mustRetry: true},
		{name: "sse stream drops", sse: true, drop: func(u *mcptest.Upstream) { u.HTTP.CloseClientConnections() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newPoolEnv(t, mcpclient.PoolOptions{})
			up := mcptest.New(t, mcptest.Options{Name: "calc", SSE: tt.sse})
			e.connect("calc", up, nil, nil)
			e.call(t, "calc_add", map[string]any{"a": 1, "b": 1})
			require.Equal(t, int64(1), e.pool.Stats().Handshakes)

			tt.drop(up)
			res := e.call(t, "calc_add", map[string]any{"a": 2, "b": 2})
			assert.Equal(t, float64(4), sum(res))
			assert.Equal(t, int64(2), e.pool.Stats().Handshakes, "re-established once")
			if tt.mustRetry {
				assert.Equal(t, int64(1), e.pool.Stats().Retries, "the call found the session broken and retried")
			}
		})
	}
}

func TestEditedConnectionGetsANewSession(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, mcpclient.PoolOptions{})
	up := mcptest.New(t, mcptest.Options{Name: "crm"})
	c := e.connect("crm", up, registry.Sensitive{"X-Api-Key": "{{secrets.key}}"}, registry.Sensitive{"key": "old-key"})
	ctx := context.Background()
	_, err := e.pool.CallTool(ctx, c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	assert.Equal(t, "old-key", up.LastHeader("X-Api-Key"))

	t.Run("edit announced", func(t *testing.T) {
		newKey := "new-key"
		_, err := e.svc.Update(ctx, "acme", c.ID, registry.Patch{Secrets: map[string]*string{"key": &newKey}})
		require.NoError(t, err)
		assert.Equal(t, 0, e.pool.Stats().Open, "the edit closed the session")
		e.call(t, "crm_add", map[string]any{"a": 1, "b": 1})
		assert.Equal(t, "new-key", up.LastHeader("X-Api-Key"))
		assert.Equal(t, int64(2), e.pool.Stats().Handshakes)
	})

	t.Run("edit not announced", func(t *testing.T) {
		// The reach key alone keeps old credentials from being reused.
		edited := *c
		edited.Secrets = registry.Sensitive{"key": "newer-key"}
		seen := len(up.Headers())
		_, err := e.pool.CallTool(ctx, &edited, "add", map[string]any{"a": 1, "b": 1})
		require.NoError(t, err)
		// The old session's last requests (its close) may land after the
		// call's: look for the new key among what came since.
		var keys []string
		for _, h := range up.Headers()[seen:] {
			keys = append(keys, h.Get("X-Api-Key"))
		}
		assert.Contains(t, keys, "newer-key", "the edited secret is sent")
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
		opts  mcpclient.PoolOptions
		conns int
		check func(t *testing.T, e *poolEnv)
	}{
		{
			name: "least recently used closed beyond the bound", opts: mcpclient.PoolOptions{MaxSessions: 2}, conns: 3,
			check: func(t *testing.T, e *poolEnv) { assert.Equal(t, 2, e.pool.Stats().Open) },
		},
		{
			name: "idle sessions closed", opts: mcpclient.PoolOptions{IdleTimeout: 100 * time.Millisecond}, conns: 2,
			check: func(t *testing.T, e *poolEnv) {
				require.Eventually(t, func() bool { return e.pool.Stats().Open == 0 }, 10*time.Second, 10*time.Millisecond, "idle sessions are closed")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newPoolEnv(t, tt.opts)
			up := mcptest.New(t, mcptest.Options{Name: "calc"})
			for i := range tt.conns {
				c := e.connect("calc-"+string(rune('a'+i)), up, nil, nil)
				_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
				require.NoError(t, err)
			}
			tt.check(t, e)
		})
	}
}

func TestPoolClose(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, mcpclient.PoolOptions{})
	up := mcptest.New(t, mcptest.Options{Name: "calc"})
	c := e.connect("calc", up, nil, nil)
	_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	e.pool.Close()
	assert.Equal(t, 0, e.pool.Stats().Open)
	_, err = e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	assert.True(t, errors.Is(err, mcpclient.ErrPoolClosed))
	assert.True(t, errors.Is(err, registry.ErrUpstreamConnection))
}

// An upstream that announces a tool list change after every initialize
// (as some do) must not make tether probe it in a loop.
func TestUpstreamChangeAfterEveryInitializeDoesNotLoop(t *testing.T) {
	t.Parallel()
	e := newPoolEnv(t, mcpclient.PoolOptions{})
	up := mcptest.New(t, mcptest.Options{Name: "noisy"})
	c := e.connect("noisy", up, nil, nil)
	// After each handshake, re-add a tool: the SDK then announces a change
	// to every session, the warm one included.
	up.Server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if method == "notifications/initialized" {
				up.Server.AddTool(&mcp.Tool{Name: "echo2", InputSchema: map[string]any{"type": "object"}},
					func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
						return &mcp.CallToolResult{}, nil
					})
			}
			return res, err
		}
	})

	_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.refresh.Load() >= 1 }, 10*time.Second, 10*time.Millisecond, "the first announcement is checked and re-synced")
	// The handshakes stop: the count holds still across a poll interval
	// (ten debounces), within a deadline a loop never meets. How soon it
	// settles depends on the machine's load; that it settles does not.
	last := int64(-1)
	require.Eventually(t, func() bool {
		n := up.Inits.Load()
		settled := n == last
		last = n
		return settled
	}, 30*time.Second, 500*time.Millisecond, "the handshakes never stopped: the loop is not broken")
	t.Logf("settled after %d handshakes and %d re-syncs", up.Inits.Load(), e.refresh.Load())
	assert.LessOrEqual(t, e.refresh.Load(), int64(2), "re-syncs stop once the list is seen unchanged")
	assert.LessOrEqual(t, up.Inits.Load(), int64(4), "the probe, the warm session, and a handshake per re-sync at most")
}

// Agents calling one upstream share its warm session; their calls must
// reuse TCP connections rather than open one each (every new one is a dial
// through the guard, and a handshake the upstream pays for).
func TestCallsReuseUpstreamConnections(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		agents, calls int
	}{
		{name: "one agent", agents: 1, calls: 200},
		{name: "16 agents at once", agents: 16, calls: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newPoolEnv(t, mcpclient.PoolOptions{})
			up := mcptest.New(t, mcptest.Options{Name: "calc"})
			e.connect("calc", up, nil, nil)
			e.call(t, "calc_add", map[string]any{"a": 1, "b": 1})
			before := up.Accepts.Load()

			var wg sync.WaitGroup
			var failed atomic.Int64
			for a := range tt.agents {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					for i := a; i < tt.calls; i += tt.agents {
						res, err := e.svc.CallAgentTool(ctx, "acme", "", "calc_add", map[string]any{"a": i, "b": 1})
						if err != nil || sum(res) != float64(i+1) {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			require.Zero(t, failed.Load(), "every call answered")
			require.Equal(t, int64(tt.calls+1), up.Calls.Load())
			opened := up.Accepts.Load() - before
			t.Logf("%d calls on %d agents opened %d connections", tt.calls, tt.agents, opened)
			// Each agent may hold two connections at once: its call's,
			// and the previous call's while the end of its answer is
			// read. A connection per call would be hundreds.
			assert.LessOrEqual(t, opened, int64(2*tt.agents+2), "calls reuse idle connections")
		})
	}
}

// A secret an upstream puts in a tool result is redacted on the agent
// path however it is spelled: plain, or JSON-escaped (\u0073 for a letter,
// \/ for a slash) in a text that is itself JSON, on the wire, or in a
// string of the structured content. An agent that decodes the text would
// otherwise read the secret.
func TestPlantedSecretRedactedPlainAndEscaped(t *testing.T) {
	t.Parallel()
	const secret = "s3cret/planted-0461"
	// \u0073 is "s", \/ is "/".
	const escaped = `\u0073` + `3cret\/planted-0461`
	plainJSON := `{"token":"` + secret + `"}`
	escapedJSON := `{"token":"` + escaped + `"}`
	twiceJSON := `{"inner":"{\"token\":\"\\u0073` + `3cret\\/planted-0461\"}"}`
	e := newPoolEnv(t, mcpclient.PoolOptions{})
	up := mcptest.New(t, mcptest.Options{Name: "leaky", Tools: []mcptest.Tool{func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "leak", InputSchema: map[string]any{"type": "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{
					Content: []mcp.Content{
						&mcp.TextContent{Text: "plain " + secret},
						&mcp.TextContent{Text: escapedJSON},
						&mcp.TextContent{Text: twiceJSON},
					},
					// Raw, so the escapes reach the wire as written.
					StructuredContent: json.RawMessage(`{"wire":"` + escaped + `","nested":` + strconv.Quote(escapedJSON) + `,"plain":` + strconv.Quote(plainJSON) + `}`),
				}, nil
			})
	}}})
	e.connect("leaky", up, registry.Sensitive{"X-Api-Key": "{{secrets.key}}"}, registry.Sensitive{"key": secret})

	res := e.call(t, "leaky_leak", nil)
	// However an agent reads the result: as sent, or decoding JSON it
	// finds in a string, once or twice.
	var seen []string
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		switch x := v.(type) {
		case string:
			seen = append(seen, x)
			var inner any
			if depth < 3 && json.Unmarshal([]byte(x), &inner) == nil {
				walk(inner, depth+1)
			}
		case map[string]any:
			for k, e := range x {
				seen = append(seen, k)
				walk(e, depth)
			}
		case []any:
			for _, e := range x {
				walk(e, depth)
			}
		}
	}
	walk(res, 0)
	all := strings.Join(seen, "\n")
	assert.NotContains(t, all, secret)
	assert.NotContains(t, all, "3cret/planted", "no part of it either")
	assert.NotContains(t, all, `3cret\/planted`)

	content := res["content"].([]any)
	text := func(i int) string { return content[i].(map[string]any)["text"].(string) }
	assert.Equal(t, "plain ***", text(0))
	assert.Equal(t, `{"token":"***"}`, text(1), "the text stays valid JSON")
	assert.True(t, json.Valid([]byte(text(2))), "%s", text(2))
	sc := res["structuredContent"].(map[string]any)
	assert.Equal(t, "***", sc["wire"])
	assert.Equal(t, `{"token":"***"}`, sc["nested"])
	assert.Equal(t, `{"token":"***"}`, sc["plain"])
}

// TestSSERefusalAsTheStreamEndsIsRetried: go-sdk's legacy SSE server
// answers "400 session closed" to a POST for a session whose stream is
// dropping, and the client can read that answer before the stream's end.
// The call was not taken (only a 202 takes a message there): it is retried
// on a new session, as when the end is seen first.
func TestSSERefusalAsTheStreamEndsIsRetried(t *testing.T) {
	t.Parallel()
	server := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
	mcptest.Add(server)
	sse := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil)
	var (
		refuse    atomic.Bool
		mu        sync.Mutex
		endStream context.CancelFunc // ends the latest session's stream
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			mu.Lock()
			endStream = cancel
			mu.Unlock()
			r = r.WithContext(ctx)
		}
		if r.Method == http.MethodPost && refuse.Load() {
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			if bytes.Contains(body, []byte(`"tools/call"`)) && refuse.CompareAndSwap(true, false) {
				http.Error(w, "session closed", http.StatusBadRequest)
				// That session's stream ends only after the refusal is
				// on its way.
				mu.Lock()
				time.AfterFunc(10*time.Millisecond, endStream)
				mu.Unlock()
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		sse.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})

	e := newPoolEnv(t, mcpclient.PoolOptions{})
	ctx := context.Background()
	c, err := e.svc.Create(ctx, "acme", registry.NewConnection{
		Name: "calc", Transport: registry.TransportSSE, Endpoint: hs.URL + "/mcp", Enabled: true, TimeoutMS: 5000,
	})
	require.NoError(t, err)
	out, err := e.svc.Test(ctx, "acme", c.ID)
	require.NoError(t, err)
	require.True(t, out.Connected, "%v", out.Err)
	e.call(t, "calc_add", map[string]any{"a": 1, "b": 1})
	require.Equal(t, int64(1), e.pool.Stats().Handshakes)

	refuse.Store(true)
	res := e.call(t, "calc_add", map[string]any{"a": 2, "b": 2})
	assert.Equal(t, float64(4), sum(res))
	assert.False(t, refuse.Load(), "the call was refused once")
	assert.Equal(t, int64(1), e.pool.Stats().Retries, "the refused call was retried")
	assert.Equal(t, int64(2), e.pool.Stats().Handshakes, "on a new session")
}

// A panic in the re-sync a tool-list change asks for (code that reads what
// a tenant's server listed) costs that check, not the process; the log
// says where, without the value the panic carried, and the next change is
// checked as usual.
func TestToolListCheckPanicIsContained(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	e := newPoolEnv(t, mcpclient.PoolOptions{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	up := mcptest.New(t, mcptest.Options{Name: "calc"})
	c := e.connect("calc", up, nil, nil)
	var checks atomic.Int64
	e.pool.OnToolsChanged(func(context.Context, string, string, []registry.ToolSpec) {
		if checks.Add(1) == 1 {
			panic("listed by the server: sk-live-reflected")
		}
	})
	_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	noop := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	}

	up.Server.AddTool(&mcp.Tool{Name: "first", InputSchema: map[string]any{"type": "object"}}, noop)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "tool-list check panicked") },
		30*time.Second, 10*time.Millisecond, "the panic is logged")
	assert.NotContains(t, logs.String(), "sk-live-reflected", "the panic's value is not logged")
	assert.Contains(t, logs.String(), `"panic":"string"`)

	up.Server.AddTool(&mcp.Tool{Name: "second", InputSchema: map[string]any{"type": "object"}}, noop)
	require.Eventually(t, func() bool { return checks.Load() >= 2 }, 30*time.Second, 10*time.Millisecond,
		"the next change is checked")
	_, err = e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err, "the session still serves calls")
}
