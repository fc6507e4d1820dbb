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

func TestToolsAcrossTransports(t *testing.T) { forEachVersion(t, testToolsAcrossTransports) }

func testToolsAcrossTransports(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	calc := newUpstream(t, "calc", false)
	notes := newUpstream(t, "notes", true)
	e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})
	e.connect("acme", connOptions{name: "my-notes", transport: notes.Transport(), endpoint: notes.URL()})

	cs := e.agent(agentOptions{version: version, tenant: "acme"})
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
	// Served in front of the SDK (fastcall.go), on every revision: the
	// lists (a 2026-07-28 client reuses the first for its ttlMs) and the
	// calls.
	lists := 2
	if version >= newVersion {
		lists = 1
	}
	assert.Equal(t, int64(lists+len(tests)), e.gw.Stats().FastRequests)
}

func TestPinnedAndDefaultInputs(t *testing.T) { forEachVersion(t, testPinnedAndDefaultInputs) }

func testPinnedAndDefaultInputs(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "crm", false)
	c := e.connect("acme", connOptions{name: "crm", transport: up.Transport(), endpoint: up.URL()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{version: version, tenant: "acme", onListChanged: func() { changed.Add(1) }})
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

func TestPersonaFilter(t *testing.T) { forEachVersion(t, testPersonaFilter) }

func testPersonaFilter(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "shared", false)
	e.connect("acme", connOptions{name: "everyone", transport: up.Transport(), endpoint: up.URL()})
	e.connect("acme", connOptions{name: "sales", transport: up.Transport(), endpoint: up.URL(), persona: "p-sales"})
	e.connect("acme", connOptions{name: "support", transport: up.Transport(), endpoint: up.URL(), persona: "p-support"})

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
			tt.agent.version = version
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
	e.connect("acme", connOptions{name: "acme-tools", transport: up.Transport(), endpoint: up.URL()})
	e.connect("globex", connOptions{name: "globex-tools", transport: up.Transport(), endpoint: up.URL()})

	// With sessions and without: tenant and persona come from each
	// request's credentials, never from a session.
	for _, version := range []string{legacyVersion, newVersion} {
		globex := e.agent(agentOptions{tenant: "globex", version: version})
		for _, n := range toolNames(t, e.agent(agentOptions{tenant: "acme", version: version})) {
			assert.True(t, strings.HasPrefix(n, "acme_tools_"), "%s: %s", version, n)
		}
		for _, n := range toolNames(t, globex) {
			assert.True(t, strings.HasPrefix(n, "globex_tools_"), "%s: %s", version, n)
		}
		res := callTool(t, globex, "acme_tools_add", map[string]any{"a": 1, "b": 2})
		assert.True(t, res.IsError, version)
		assert.Contains(t, text(res), "tool unavailable", version)
	}
	acme := e.agent(agentOptions{tenant: "acme"})

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

func TestListChangedOnToggle(t *testing.T) { forEachVersion(t, testListChangedOnToggle) }

func testListChangedOnToggle(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{version: version, tenant: "acme", onListChanged: func() { changed.Add(1) }})
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
	e.connect("acme", connOptions{name: "other", transport: other.Transport(), endpoint: other.URL()})
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

func TestListChangedFromUpstream(t *testing.T) { forEachVersion(t, testListChangedFromUpstream) }

func testListChangedFromUpstream(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{version: version, tenant: "acme", onListChanged: func() { changed.Add(1) }})
	// A call opens the warm session that will hear the upstream.
	require.False(t, callTool(t, cs, "calc_add", map[string]any{"a": 1, "b": 1}).IsError)
	handshakes := e.pool.Stats().Handshakes

	up.Server.AddTool(&mcp.Tool{Name: "extra", Description: "New", InputSchema: map[string]any{"type": "object"}},
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

func TestCloseEndsAgentSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
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

func TestHangingUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	slow := newUpstream(t, "slow", false)
	fast := newUpstream(t, "fast", true)
	e.connect("acme", connOptions{name: "slow", transport: slow.Transport(), endpoint: slow.URL(), timeoutMS: 1000})
	// The same server, with a timeout no test waits for: its call hangs
	// until the agent gives up.
	e.connect("acme", connOptions{name: "hang", transport: slow.Transport(), endpoint: slow.URL(), timeoutMS: 120000})
	e.connect("acme", connOptions{name: "fast", transport: fast.Transport(), endpoint: fast.URL()})
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
	before := slow.Calls.Load()
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "hang_slow", Arguments: map[string]any{}})
		hung <- err
	}()
	eventually(t, func() bool { return slow.Calls.Load() > before }, "the hanging call reached its server")
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

// Announcements from other replicas may be lost (the bus reconnects);
// the registry then says so (ResyncRemote), and every view re-reads the
// registry: an agent hears of a change nobody announced to this process.
func TestMissedChangesResyncEveryView(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	calc := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})
	var changed atomic.Int64
	cs := e.agent(agentOptions{tenant: "acme", onListChanged: func() { changed.Add(1) }})
	require.Contains(t, toolNames(t, cs), "calc_echo")

	// Another replica disables a tool; its announcement never arrives.
	_, _, err := e.store.UpdateConnectionTools(context.Background(), "acme", c.ID, func(_ *registry.Connection, tools []*registry.Tool) ([]*registry.Tool, error) {
		for _, tool := range tools {
			if tool.Name == "echo" {
				tool.Enabled = false
			}
		}
		return tools, nil
	})
	require.NoError(t, err)
	e.svc.ResyncRemote()
	eventually(t, func() bool { return changed.Load() > 0 }, "the agent hears that the list changed")
	assert.NotContains(t, toolNames(t, cs), "calc_echo")
}
