package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/registry"
)

// upstreamState is mcptest.Asking's own request state.
const upstreamState = mcptest.AskingState

func askingUpstream(t *testing.T) (string, *atomic.Int64) {
	a := mcptest.NewAsking(t)
	return a.URL, &a.Calls
}

// A 2026-07-28 agent that declares elicitation is asked, through tether,
// what the upstream asks; its retry reaches the upstream with the
// upstream's own state. One that declares nothing is never asked.
func TestInputRequiredRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	url, calls := askingUpstream(t)
	e.connect("acme", connOptions{name: "asker", transport: registry.TransportStreamableHTTP, endpoint: url})

	var asked atomic.Int64
	cs := e.agent(agentOptions{tenant: "acme", version: newVersion, elicit: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		asked.Add(1)
		assert.Equal(t, "What is your name?", req.Params.Message)
		return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "octocat"}}, nil
	}})
	res := callTool(t, cs, "asker_greet", nil)
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "hello octocat", text(res))
	assert.Equal(t, int64(1), asked.Load())
	assert.Equal(t, int64(2), calls.Load(), "the question and the retry")

	silent := e.agent(agentOptions{tenant: "acme", version: newVersion})
	res = callTool(t, silent, "asker_greet", nil)
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "hello stranger", text(res), "an agent without elicitation is not asked")
}

// An agent on a revision with sessions cannot be asked through tether: a
// server that asks anyway is an isError result naming what it asked for.
func TestInputRequiredLegacyAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	url, _ := askingUpstream(t)
	e.connect("acme", connOptions{name: "asker", transport: registry.TransportStreamableHTTP, endpoint: url})

	cs := e.agent(agentOptions{tenant: "acme", version: legacyVersion, elicit: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		t.Error("a legacy agent must not be asked")
		return &mcp.ElicitResult{Action: "decline"}, nil
	}})
	res := callTool(t, cs, "asker_demand", nil)
	require.True(t, res.IsError)
	assert.Contains(t, text(res), "input required")
	assert.Contains(t, text(res), "What is your name?")
	assert.Contains(t, text(res), "fields: name")
	assert.NotContains(t, text(res), upstreamState)

	// The compliant tool is not asked to ask.
	res = callTool(t, cs, "asker_greet", nil)
	assert.Equal(t, "hello stranger", text(res))
}

// rpc posts one 2026-07-28 JSON-RPC request to the gateway as a tenant
// and key, with routing headers from the body, and returns the decoded
// answer.
func (e *env) rpc(tenant, key, method, name string, params map[string]any) (status int, msg map[string]any) {
	e.t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	if _, ok := params["_meta"]; !ok {
		params["_meta"] = map[string]any{
			"io.modelcontextprotocol/protocolVersion":    newVersion,
			"io.modelcontextprotocol/clientCapabilities": map[string]any{"elicitation": map[string]any{}},
		}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	require.NoError(e.t, err)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set(tenantHeader, tenant)
	req.Header.Set(keyHeader, key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", newVersion)
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&msg))
	return resp.StatusCode, msg
}

// rpcError is the code of a JSON-RPC error answer, 0 for a result.
func rpcError(msg map[string]any) int {
	e, _ := msg["error"].(map[string]any)
	code, _ := e["code"].(float64)
	return int(code)
}

// The requestState an agent gets is tether's, sealed: the upstream's own
// never shows, and a forged, tampered, expired, or another tenant's, key's
// or tool's state is refused with -32602 before any upstream sees it.
func TestRequestStateSealed(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := newEnv(t, envOptions{now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	url, calls := askingUpstream(t)
	e.connect("acme", connOptions{name: "asker", transport: registry.TransportStreamableHTTP, endpoint: url})
	e.connect("globex", connOptions{name: "asker", transport: registry.TransportStreamableHTTP, endpoint: url})

	ask := func() string {
		t.Helper()
		status, msg := e.rpc("acme", "key-1", "tools/call", "asker_greet", map[string]any{"name": "asker_greet", "arguments": map[string]any{}})
		require.Equal(t, http.StatusOK, status, msg)
		res, _ := msg["result"].(map[string]any)
		require.Equal(t, "input_required", res["resultType"], msg)
		require.Contains(t, res["inputRequests"], "name")
		state, _ := res["requestState"].(string)
		require.NotEmpty(t, state)
		b, _ := json.Marshal(msg)
		assert.NotContains(t, string(b), upstreamState, "the upstream's state stays sealed")
		return state
	}
	retry := func(tenant, key, tool, state string) map[string]any {
		t.Helper()
		_, msg := e.rpc(tenant, key, "tools/call", tool, map[string]any{
			"name": tool, "arguments": map[string]any{}, "requestState": state,
			"inputResponses": map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "mallory"}}},
		})
		return msg
	}
	state := ask()
	tampered := []byte(state)
	tampered[len(tampered)-3] ^= 1
	before := calls.Load()
	for _, tt := range []struct {
		name, tenant, key, tool, state string
	}{
		{"forged", "acme", "key-1", "asker_greet", "tsl1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"not sealed", "acme", "key-1", "asker_greet", upstreamState},
		{"tampered", "acme", "key-1", "asker_greet", string(tampered)},
		{"another tenant", "globex", "key-1", "asker_greet", state},
		{"another key", "acme", "key-2", "asker_greet", state},
		{"another tool", "acme", "key-1", "asker_demand", state},
	} {
		msg := retry(tt.tenant, tt.key, tt.tool, tt.state)
		assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "%s: %v", tt.name, msg)
	}
	assert.Equal(t, before, calls.Load(), "no refused retry reached the upstream")

	msg := retry("acme", "key-1", "asker_greet", state)
	require.Zero(t, rpcError(msg), msg)
	res, _ := msg["result"].(map[string]any)
	b, _ := json.Marshal(res["content"])
	assert.Contains(t, string(b), "hello mallory")

	// Expired: the state is good for registry.RequestStateTTL.
	state = ask()
	offset.Store(int64(registry.RequestStateTTL + time.Minute))
	msg = retry("acme", "key-1", "asker_greet", state)
	assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), msg)
	assert.True(t, strings.Contains(fmt.Sprint(msg), "expired"), msg)
}
