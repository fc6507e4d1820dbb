package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// createTask makes a task through tether as tenant and key, and returns
// tether's handle for it.
func (e *env) createTask(tenant, key string) string {
	e.t.Helper()
	status, msg := e.rpc(tenant, key, "tools/call", "tasker_build", map[string]any{
		"name": "tasker_build", "arguments": map[string]any{}, "_meta": tasksMeta(true)})
	require.Equal(e.t, http.StatusOK, status, msg)
	created, _ := msg["result"].(map[string]any)
	require.Equal(e.t, "task", created["resultType"], msg)
	handle, _ := created["taskId"].(string)
	require.NotEmpty(e.t, handle, msg)
	return handle
}

// taskRPC sends a tasks/* request for handle.
func (e *env) taskRPC(tenant, key, method, handle string) map[string]any {
	e.t.Helper()
	_, msg := e.rpc(tenant, key, method, handle, map[string]any{"taskId": handle, "_meta": tasksMeta(true)})
	return msg
}

// A task handle is the API key's, as a request state is: another agent
// of the same tenant (another key) can neither read the task, nor answer
// its questions, nor cancel it (the tasks extension binds a task to the
// requestor's authorization context; tether is the upstream's one client
// for the whole tenant, so the binding is tether's to make).
func TestTaskHandleBoundToKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	handle := e.createTask("acme", "key-1")

	for _, method := range []string{"tasks/get", "tasks/update", "tasks/cancel"} {
		msg := e.taskRPC("acme", "key-2", method, handle)
		assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "%s by another key: %v", method, msg)
	}
	tk.mu.Lock()
	assert.Empty(t, tk.names, "no request of another key reached the upstream")
	assert.Equal(t, "working", tk.status["task-1"], "nothing was cancelled")
	tk.mu.Unlock()

	msg := e.taskRPC("acme", "key-1", "tasks/get", handle)
	require.Zero(t, rpcError(msg), msg)
}

// Sealed state goes back to the server that issued it. When the
// connection's endpoint is edited to another server, a task handle or
// request state issued before the edit is refused (-32602) and never
// reaches the new server: the old server's task id and its own request
// state (which may hold what the user answered) are not another origin's
// to see. An edit that keeps the server (the timeout here) keeps them.
func TestSealedStateAfterEndpointEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, envOptions{})

	t.Run("task handle", func(t *testing.T) {
		first, second := newTasker(t), newTasker(t)
		c := e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: first.url})
		handle := e.createTask("acme", "key-1")

		timeout := 6000
		_, err := e.svc.Update(ctx, "acme", c.ID, registry.Patch{TimeoutMS: &timeout})
		require.NoError(t, err)
		msg := e.taskRPC("acme", "key-1", "tasks/get", handle)
		require.Zero(t, rpcError(msg), "an edit that keeps the server keeps the handle: %v", msg)

		_, err = e.svc.Update(ctx, "acme", c.ID, registry.Patch{Endpoint: &second.url})
		require.NoError(t, err)
		for _, method := range []string{"tasks/get", "tasks/update", "tasks/cancel"} {
			msg := e.taskRPC("acme", "key-1", method, handle)
			assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "%s after the endpoint moved: %v", method, msg)
		}
		second.mu.Lock()
		assert.Empty(t, second.names, "the new server got no tasks request for the old server's task")
		second.mu.Unlock()
	})

	t.Run("request state", func(t *testing.T) {
		first, second := askingUpstream(t)
		other, otherCalls := askingUpstream(t)
		_ = second
		c := e.connect("acme", connOptions{name: "asker", transport: registry.TransportStreamableHTTP, endpoint: first})
		status, msg := e.rpc("acme", "key-1", "tools/call", "asker_greet", map[string]any{"name": "asker_greet", "arguments": map[string]any{}})
		require.Equal(t, http.StatusOK, status, msg)
		res, _ := msg["result"].(map[string]any)
		state, _ := res["requestState"].(string)
		require.NotEmpty(t, state, msg)

		_, err := e.svc.Update(ctx, "acme", c.ID, registry.Patch{Endpoint: &other})
		require.NoError(t, err)
		_, err = e.svc.Test(ctx, "acme", c.ID)
		require.NoError(t, err)
		before := otherCalls.Load()
		_, msg = e.rpc("acme", "key-1", "tools/call", "asker_greet", map[string]any{
			"name": "asker_greet", "arguments": map[string]any{}, "requestState": state,
			"inputResponses": map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "octocat"}}},
		})
		assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "a retry after the endpoint moved: %v", msg)
		assert.Equal(t, before, otherCalls.Load(), "the new server got no retry with the old server's state")
	})
}

// tasks/* for a task whose connection was disabled is refused with a
// message that says so, not "internal error".
func TestTaskOnDisabledConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	c := e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	handle := e.createTask("acme", "key-1")

	disabled := false
	_, err := e.svc.Update(context.Background(), "acme", c.ID, registry.Patch{Enabled: &disabled})
	require.NoError(t, err)
	msg := e.taskRPC("acme", "key-1", "tasks/get", handle)
	rpcErr, _ := msg["error"].(map[string]any)
	require.NotNil(t, rpcErr, msg)
	assert.Contains(t, rpcErr["message"], "disabled", msg)
	assert.NotContains(t, rpcErr["message"], "internal error", msg)
}

// bigStateUpstream is a 2026-07-28 server whose tool ask answers
// input_required with a requestState of n bytes, and "done" to a retry
// that brings it back whole.
func bigStateUpstream(t *testing.T, n int) string {
	t.Helper()
	state := strings.Repeat("s", n)
	srv := mcp.NewServer(&mcp.Implementation{Name: "big", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "ask", InputSchema: map[string]any{"type": "object"}}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.RequestState == "" {
			return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"ok": &mcp.ElicitParams{
				Message: "Go on?", RequestedSchema: map[string]any{"type": "object"},
			}}, RequestState: state}, nil
		}
		if req.Params.RequestState != state {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "state lost"}}}, nil
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	})
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL + "/mcp"
}

// tether never hands out a request state it would itself refuse: an
// upstream state too large to come back sealed fails the call, saying
// so, instead of reaching the agent as a requestState whose retry is
// "not issued by tether".
func TestRequestStateTooLargeToSeal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.connect("acme", connOptions{name: "small", transport: registry.TransportStreamableHTTP, endpoint: bigStateUpstream(t, 1000)})
	e.connect("acme", connOptions{name: "big", transport: registry.TransportStreamableHTTP, endpoint: bigStateUpstream(t, 60000)})

	roundTrip := func(tool string) (first, retry map[string]any) {
		_, first = e.rpc("acme", "key-1", "tools/call", tool, map[string]any{"name": tool, "arguments": map[string]any{}})
		res, _ := first["result"].(map[string]any)
		if res["resultType"] != "input_required" {
			return first, nil
		}
		state, _ := res["requestState"].(string)
		_, retry = e.rpc("acme", "key-1", "tools/call", tool, map[string]any{
			"name": tool, "arguments": map[string]any{}, "requestState": state,
			"inputResponses": map[string]any{"ok": map[string]any{"action": "accept", "content": map[string]any{}}},
		})
		return first, retry
	}
	_, retry := roundTrip("small_ask")
	require.NotNil(t, retry)
	assert.Contains(t, fmt.Sprint(retry), "done", "a state of ordinary size makes the round trip")

	first, retry := roundTrip("big_ask")
	assert.Nil(t, retry, "no requestState is handed out that tether would refuse: %.300v", retry)
	res, _ := first["result"].(map[string]any)
	assert.Equal(t, true, res["isError"], "%.300v", first)
	assert.Contains(t, fmt.Sprint(res["content"]), "requestState", "the failure names the cause")
}
