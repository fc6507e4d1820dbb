package gateway_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tool calls are served in front of the SDK, whose own idle timer never
// sees them: the handler's sweep must count them as activity, and close a
// session that made none.
func TestIdleSessionsClosedBusyOnesKept(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	e := newEnv(t, envOptions{sessionTimeout: timeout})
	calc := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})

	idle := e.agent(agentOptions{tenant: "acme"})
	busy := e.agent(agentOptions{tenant: "acme"})
	require.Equal(t, 2, e.gw.Stats().Sessions)

	// The busy agent calls a tool without pause for well over the timeout.
	before := e.gw.Stats().FastCalls
	deadline := time.Now().Add(3 * timeout)
	for time.Now().Before(deadline) {
		res := callTool(t, busy, "calc_add", map[string]any{"a": 1, "b": 2})
		require.False(t, res.IsError, text(res))
	}
	assert.Greater(t, e.gw.Stats().FastCalls, before)
	eventually(t, func() bool { return e.gw.Stats().Sessions == 1 }, "the idle session is closed")

	// The busy one is still there; the idle one is gone for good.
	res := callTool(t, busy, "calc_add", map[string]any{"a": 2, "b": 2})
	assert.False(t, res.IsError, text(res))
	_, err := idle.CallTool(context.Background(), &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 1, "b": 1}})
	assert.Error(t, err)
}

// What the fast path does not take goes to the SDK, which answers it as
// before: here a tools/call without the Accept header the transport
// requires, refused by the SDK, and a JSON-RPC batch.
func TestRequestsOutsideTheFastPathReachTheSDK(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	calc := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})
	cs := e.agent(agentOptions{tenant: "acme"})
	require.NotEmpty(t, toolNames(t, cs))

	post := func(accept, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", bytes.NewBufferString(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("Mcp-Session-Id", cs.ID())
		req.Header.Set("Mcp-Protocol-Version", legacyVersion)
		req.Header.Set(tenantHeader, "acme")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":1,"b":2}}}`
	status, _ := post("application/json", call)
	assert.Equal(t, http.StatusBadRequest, status, "the SDK requires both media types")
	status, body := post("application/json, text/event-stream", "["+call+"]")
	assert.Equal(t, http.StatusBadRequest, status, "batches are refused from 2025-06-18 on: %s", body)
	assert.Zero(t, e.gw.Stats().FastCalls)

	status, body = post("application/json, text/event-stream", call)
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"{\"sum\":3}"}],"structuredContent":{"sum":3}}}`, body)
	assert.Equal(t, int64(1), e.gw.Stats().FastCalls)
}
