package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func TestToolsAcrossTransports(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	calc := newUpstream(t, "calc", false)
	notes := newUpstream(t, "notes", true)
	e.connect("acme", connOptions{name: "calc", transport: calc.transport(), endpoint: calc.url()})
	e.connect("acme", connOptions{name: "my-notes", transport: notes.transport(), endpoint: notes.url()})

	cs := e.agent(agentOptions{tenant: "acme"})
	tools := listTools(t, cs)
	byName := map[string]*mcp.Tool{}
	for _, tool := range tools {
		byName[tool.Name] = tool
	}
	assert.ElementsMatch(t, []string{
		"calc_add", "calc_echo", "calc_lookup", "calc_slow",
		"my_notes_add", "my_notes_echo", "my_notes_lookup", "my_notes_slow",
	}, toolNames(t, cs))
	require.Contains(t, byName, "calc_add")
	assert.Equal(t, "Add two numbers", byName["calc_add"].Description)
	schema := byName["calc_add"].InputSchema.(map[string]any)
	assert.Equal(t, "object", schema["type"])
	assert.Contains(t, schema["properties"], "a")

	tests := []struct {
		name  string
		tool  string
		args  map[string]any
		check func(t *testing.T, res *mcp.CallToolResult)
	}{
		{
			name: "streamable structured", tool: "calc_add", args: map[string]any{"a": 2, "b": 3},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				assert.False(t, res.IsError, text(res))
				assert.Equal(t, float64(5), structured(t, res)["sum"])
			},
		},
		{
			name: "sse text", tool: "my_notes_echo", args: map[string]any{"text": "hello"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				assert.False(t, res.IsError, text(res))
				assert.Equal(t, "hello", text(res))
			},
		},
		{
			name: "unknown slug", tool: "calc_nope", args: map[string]any{},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				assert.True(t, res.IsError)
				assert.Contains(t, text(res), "tool unavailable")
			},
		},
		{
			name: "upstream rejects the arguments", tool: "calc_add", args: map[string]any{"a": "two"},
			check: func(t *testing.T, res *mcp.CallToolResult) {
				assert.True(t, res.IsError)
				assert.NotEmpty(t, text(res))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, callTool(t, cs, tt.tool, tt.args))
		})
	}
}

func TestPinnedAndDefaultInputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "crm", false)
	c := e.connect("acme", connOptions{name: "crm", transport: up.transport(), endpoint: up.url()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{tenant: "acme", onListChanged: func() { changed.Add(1) }})
	require.Contains(t, toolNames(t, cs), "crm_lookup")
	_, _, err := e.svc.UpdateTool(context.Background(), "acme", c.ID, e.toolID("acme", c.ID, "lookup"), registry.ToolPatch{
		InputDefaults: registry.Optional[map[string]registry.InputArg]{Set: true, Value: map[string]registry.InputArg{
			"account": {Value: "acme-1", Pinned: true},
			"limit":   {Value: float64(5)},
		}},
	})
	require.NoError(t, err)
	eventually(t, func() bool { return changed.Load() > 0 }, "an input_defaults edit changes the advertised schema")

	var lookup *mcp.Tool
	for _, tool := range listTools(t, cs) {
		if tool.Name == "crm_lookup" {
			lookup = tool
		}
	}
	require.NotNil(t, lookup)
	schema := lookup.InputSchema.(map[string]any)
	props := schema["properties"].(map[string]any)
	assert.NotContains(t, props, "account", "a pinned field is not advertised")
	assert.Contains(t, props, "limit")
	assert.Equal(t, float64(5), props["limit"].(map[string]any)["default"])
	assert.ElementsMatch(t, []any{"query"}, schema["required"], "pinned and defaulted fields are not required")

	tests := []struct {
		name string
		args map[string]any
		want map[string]any
	}{
		{
			name: "default fills, pin applies",
			args: map[string]any{"query": "q"},
			want: map[string]any{"query": "q", "account": "acme-1", "limit": float64(5)},
		},
		{
			name: "caller overrides a default, not a pin",
			args: map[string]any{"query": "q", "account": "evil-corp", "limit": 9},
			want: map[string]any{"query": "q", "account": "acme-1", "limit": float64(9)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := callTool(t, cs, "crm_lookup", tt.args)
			require.False(t, res.IsError, text(res))
			assert.Equal(t, tt.want, structured(t, res)["received"])
		})
	}
}

func TestPersonaFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "shared", false)
	e.connect("acme", connOptions{name: "everyone", transport: up.transport(), endpoint: up.url()})
	e.connect("acme", connOptions{name: "sales", transport: up.transport(), endpoint: up.url(), persona: "p-sales"})
	e.connect("acme", connOptions{name: "support", transport: up.transport(), endpoint: up.url(), persona: "p-support"})

	prefixes := func(names []string) []string {
		seen := map[string]bool{}
		var out []string
		for _, n := range names {
			p := n[:strings.LastIndexByte(n, '_')]
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		return out
	}
	tests := []struct {
		name     string
		agent    agentOptions
		want     []string
		refused  string // a slug outside the view
		allowed  string // a slug inside it
		wantCode int
	}{
		{name: "no persona sees all", agent: agentOptions{tenant: "acme"},
			want: []string{"everyone", "sales", "support"}, allowed: "support_add"},
		{name: "query parameter", agent: agentOptions{tenant: "acme", persona: "p-sales"},
			want: []string{"everyone", "sales"}, refused: "support_add", allowed: "sales_add"},
		{name: "header", agent: agentOptions{tenant: "acme", personaHeader: "p-support"},
			want: []string{"everyone", "support"}, refused: "sales_add", allowed: "everyone_add"},
		{name: "unknown persona sees the shared ones", agent: agentOptions{tenant: "acme", persona: "p-other"},
			want: []string{"everyone"}, refused: "sales_add", allowed: "everyone_add"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := e.agent(tt.agent)
			assert.ElementsMatch(t, tt.want, prefixes(toolNames(t, cs)))
			if tt.refused != "" {
				res := callTool(t, cs, tt.refused, map[string]any{"a": 1, "b": 1})
				assert.True(t, res.IsError, "a persona's session cannot call outside it")
				assert.Contains(t, text(res), "tool unavailable")
			}
			res := callTool(t, cs, tt.allowed, map[string]any{"a": 1, "b": 1})
			assert.False(t, res.IsError, text(res))
		})
	}

	t.Run("conflicting persona values", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp?persona=a", strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header.Set(tenantHeader, "acme")
		req.Header.Set("X-Persona-Id", "b")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "shared", false)
	e.connect("acme", connOptions{name: "acme-tools", transport: up.transport(), endpoint: up.url()})
	e.connect("globex", connOptions{name: "globex-tools", transport: up.transport(), endpoint: up.url()})

	acme := e.agent(agentOptions{tenant: "acme"})
	globex := e.agent(agentOptions{tenant: "globex"})
	for _, n := range toolNames(t, acme) {
		assert.True(t, strings.HasPrefix(n, "acme_tools_"), n)
	}
	for _, n := range toolNames(t, globex) {
		assert.True(t, strings.HasPrefix(n, "globex_tools_"), n)
	}
	res := callTool(t, globex, "acme_tools_add", map[string]any{"a": 1, "b": 2})
	assert.True(t, res.IsError)
	assert.Contains(t, text(res), "tool unavailable")

	post := func(tenant, session string) *http.Response {
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
		if tenant != "" {
			req.Header.Set(tenantHeader, tenant)
		}
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	tests := []struct {
		name       string
		tenant     string
		session    string
		wantStatus int
		wantBody   string
	}{
		{name: "no tenant", tenant: "", wantStatus: http.StatusUnauthorized, wantBody: `"error":"unauthorized"`},
		{name: "another tenant's session", tenant: "globex", session: acme.ID(), wantStatus: http.StatusNotFound},
		{name: "own session", tenant: "acme", session: acme.ID(), wantStatus: http.StatusOK, wantBody: "acme_tools_add"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(tt.tenant, tt.session)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			b, _ := io.ReadAll(resp.Body)
			assert.Contains(t, string(b), tt.wantBody)
			if tt.wantStatus == http.StatusUnauthorized {
				assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				var body map[string]string
				require.NoError(t, json.Unmarshal(b, &body))
				assert.NotEmpty(t, body["message"])
			}
		})
	}
}

func TestListChangedOnToggle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{tenant: "acme", onListChanged: func() { changed.Add(1) }})
	require.Contains(t, toolNames(t, cs), "calc_echo")

	// A re-probe that finds the same tools changes nothing an agent sees:
	// no notification.
	_, err := e.svc.Test(context.Background(), "acme", c.ID)
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, changed.Load(), "no notification without a change")

	disabled := false
	_, _, err = e.svc.UpdateTool(context.Background(), "acme", c.ID, e.toolID("acme", c.ID, "echo"), registry.ToolPatch{Enabled: &disabled})
	require.NoError(t, err)
	eventually(t, func() bool { return changed.Load() > 0 }, "the agent hears that its tool list changed")
	assert.NotContains(t, toolNames(t, cs), "calc_echo")
	assert.Contains(t, toolNames(t, cs), "calc_add")

	// A new connection's tools appear once its first sync lands.
	before := changed.Load()
	other := newUpstream(t, "other", true)
	e.connect("acme", connOptions{name: "other", transport: other.transport(), endpoint: other.url()})
	eventually(t, func() bool { return changed.Load() > before }, "notified of the new connection's tools")
	assert.Contains(t, toolNames(t, cs), "other_add")

	// Disabling a connection takes its tools away.
	before = changed.Load()
	_, err = e.svc.Update(context.Background(), "acme", c.ID, registry.Patch{Enabled: &disabled})
	require.NoError(t, err)
	eventually(t, func() bool { return changed.Load() > before }, "notified again")
	for _, n := range toolNames(t, cs) {
		assert.True(t, strings.HasPrefix(n, "other_"), n)
	}
}

func TestListChangedFromUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{tenant: "acme", onListChanged: func() { changed.Add(1) }})
	// A call opens the warm session that will hear the upstream.
	require.False(t, callTool(t, cs, "calc_add", map[string]any{"a": 1, "b": 1}).IsError)
	handshakes := e.pool.Stats().Handshakes

	up.server.AddTool(&mcp.Tool{Name: "extra", Description: "New", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "extra!"}}}, nil
		})
	eventually(t, func() bool { return changed.Load() > 0 }, "the upstream's change reaches the agent")
	eventually(t, func() bool { return contains(toolNames(t, cs), "calc_extra") }, "the new tool is listed")
	res := callTool(t, cs, "calc_extra", nil)
	assert.Equal(t, "extra!", text(res))
	assert.Equal(t, handshakes, e.pool.Stats().Handshakes, "the warm session stayed")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// An upstream that announces a tool list change after every initialize
// (as some do) must not make tether probe it in a loop.
func TestUpstreamChangeAfterEveryInitializeDoesNotLoop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "noisy", false)
	c := e.connect("acme", connOptions{name: "noisy", transport: up.transport(), endpoint: up.url()})
	// After each handshake, re-add a tool: the SDK then announces a change
	// to every session, the warm one included.
	up.server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			res, err := next(ctx, method, req)
			if method == "notifications/initialized" {
				up.server.AddTool(&mcp.Tool{Name: "echo2", InputSchema: map[string]any{"type": "object"}},
					func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
						return &mcp.CallToolResult{}, nil
					})
			}
			return res, err
		}
	})

	_, err := e.pool.CallTool(context.Background(), c, "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	eventually(t, func() bool { return e.refresh.Load() >= 1 }, "the first announcement is checked and re-synced")
	// The handshakes stop: the count holds still across a poll interval
	// (ten debounces), within a deadline a loop never meets. How soon it
	// settles depends on the machine's load; that it settles does not.
	last := int64(-1)
	require.Eventually(t, func() bool {
		n := up.inits.Load()
		settled := n == last
		last = n
		return settled
	}, 30*time.Second, 500*time.Millisecond, "the handshakes never stopped: the loop is not broken")
	t.Logf("settled after %d handshakes and %d re-syncs", up.inits.Load(), e.refresh.Load())
	assert.LessOrEqual(t, e.refresh.Load(), int64(2), "re-syncs stop once the list is seen unchanged")
	assert.LessOrEqual(t, up.inits.Load(), int64(4), "the probe, the warm session, and a handshake per re-sync at most")
}

func TestCloseEndsAgentSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.transport(), endpoint: up.url()})
	cs := e.agent(agentOptions{tenant: "acme"})
	require.False(t, callTool(t, cs, "calc_add", map[string]any{"a": 1, "b": 1}).IsError)

	e.gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cs.ListTools(ctx, nil)
	assert.Error(t, err, "the agent's session is gone")
	_, err = e.dial(agentOptions{tenant: "acme"})
	assert.ErrorContains(t, err, "Service Unavailable")
}
