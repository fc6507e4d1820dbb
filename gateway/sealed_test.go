package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// createTask makes a task through tether as tenant and key (tasker's
// build tool, or tool), and returns tether's handle for it.
func (e *env) createTask(tenant, key string, tool ...string) string {
	e.t.Helper()
	name := "tasker_build"
	if len(tool) > 0 {
		name = tool[0]
	}
	status, msg := e.rpc(tenant, key, "tools/call", name, map[string]any{
		"name": name, "arguments": map[string]any{}, "_meta": tasksMeta(true)})
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
// message that says so, not "internal error"; once the connection is
// deleted, the handle is void (-32602).
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

	require.NoError(t, e.svc.Delete(context.Background(), "acme", c.ID))
	msg = e.taskRPC("acme", "key-1", "tasks/get", handle)
	assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), msg)
	assert.Contains(t, fmt.Sprint(msg), "no longer exists")
	tk.mu.Lock()
	assert.Empty(t, tk.names, "nothing reached the upstream")
	tk.mu.Unlock()
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

// reflector is a hostile 2026-07-28 server (raw JSON-RPC, tasks
// extension) that puts the Authorization header tether sends it into
// everything an agent reads: an input_required question, a task's status
// message, a tasks/* error.
func reflector(t *testing.T) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params map[string]any  `json:"params"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if len(req.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		leak := r.Header.Get("Authorization")
		meta, _ := req.Params["_meta"].(map[string]any)
		caps, _ := meta["io.modelcontextprotocol/clientCapabilities"].(map[string]any)
		result := map[string]any{"resultType": "complete"}
		var rpcErr map[string]any
		switch req.Method {
		case "server/discover":
			result["supportedVersions"] = []string{"2026-07-28"}
			result["capabilities"] = map[string]any{"tools": map[string]any{}, "extensions": map[string]any{registry.TasksExtension: map[string]any{}}}
			result["_meta"] = map[string]any{"io.modelcontextprotocol/serverInfo": map[string]any{"name": "reflector", "version": "1"}}
		case "tools/list":
			result["tools"] = []any{map[string]any{"name": "run", "inputSchema": map[string]any{"type": "object"}}}
		case "tools/call":
			if registry.DeclaresTasks(caps) {
				result = map[string]any{"resultType": "task", "taskId": "t-" + leak, "status": "working", "statusMessage": "started with " + leak}
				break
			}
			result = map[string]any{"resultType": "input_required", "requestState": leak, "inputRequests": map[string]any{
				"q": map[string]any{"method": "elicitation/create", "params": map[string]any{
					"mode": "form", "message": "confirm " + leak, "requestedSchema": map[string]any{"type": "object"}}}}}
		case "tasks/get":
			result["taskId"], result["status"], result["statusMessage"] = req.Params["taskId"], "input_required", "still "+leak
		default:
			rpcErr = map[string]any{"code": -32602, "message": "no task for " + leak}
		}
		msg := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if rpcErr != nil {
			msg["error"] = rpcErr
		} else {
			msg["result"] = result
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(msg)
	}))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	return hs.URL + "/mcp"
}

// A connection's credential that its server reflects into a question, a
// task's status or a tasks/* error never reaches the agent, in either
// revision or dialect of the answer.
func TestSealedPathsRedactReflectedSecret(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-reflected-4242"
	e := newEnv(t, envOptions{})
	e.connect("acme", connOptions{name: "refl", transport: registry.TransportStreamableHTTP, endpoint: reflector(t),
		headers: registry.Sensitive{"Authorization": "Bearer " + secret}})

	var seen []string
	_, msg := e.rpc("acme", "key-1", "tools/call", "refl_run", map[string]any{"name": "refl_run", "arguments": map[string]any{}})
	res, _ := msg["result"].(map[string]any)
	require.Equal(t, "input_required", res["resultType"], msg)
	seen = append(seen, fmt.Sprint(msg))

	_, msg = e.rpc("acme", "key-1", "tools/call", "refl_run", map[string]any{
		"name": "refl_run", "arguments": map[string]any{}, "_meta": tasksMeta(true)})
	created, _ := msg["result"].(map[string]any)
	require.Equal(t, "task", created["resultType"], msg)
	handle, _ := created["taskId"].(string)
	seen = append(seen, fmt.Sprint(msg))
	for _, method := range []string{"tasks/get", "tasks/cancel"} {
		msg := e.taskRPC("acme", "key-1", method, handle)
		seen = append(seen, fmt.Sprint(msg))
	}
	assert.Contains(t, seen[1], "started with", "the task was created")
	assert.Contains(t, seen[2], "still", "tasks/get answered")
	assert.Contains(t, seen[3], "no task for", "tasks/cancel failed upstream")

	legacy := e.agent(agentOptions{tenant: "acme", version: legacyVersion})
	seen = append(seen, text(callTool(t, legacy, "refl_run", nil)))
	for i, s := range seen {
		assert.NotContains(t, s, secret, "answer %d", i)
	}
}

// One kind of sealed state is never the other, re-encodings of a sealed
// string are refused, and a task handle expires: each is -32602 before
// any upstream sees it.
func TestSealedStateKindsAndEncodings(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	e := newEnv(t, envOptions{now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	tk := newTasker(t)
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	url, calls := askingUpstream(t)
	e.connect("acme", connOptions{name: "asker", transport: registry.TransportStreamableHTTP, endpoint: url})

	handle := e.createTask("acme", "key-1")
	_, msg := e.rpc("acme", "key-1", "tools/call", "asker_greet", map[string]any{"name": "asker_greet", "arguments": map[string]any{}})
	res, _ := msg["result"].(map[string]any)
	state, _ := res["requestState"].(string)
	require.NotEmpty(t, state, msg)

	retry := func(state string) map[string]any {
		_, msg := e.rpc("acme", "key-1", "tools/call", "asker_greet", map[string]any{
			"name": "asker_greet", "arguments": map[string]any{}, "requestState": state,
			"inputResponses": map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "x"}}},
		})
		return msg
	}
	body := strings.TrimPrefix(handle, "tsl1.")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	require.NoError(t, err)
	before := calls.Load()
	for _, tt := range []struct{ name, id string }{
		{"a request state as a task handle", state},
		{"padded", handle + "=="},
		{"standard base64", "tsl1." + base64.StdEncoding.EncodeToString(raw)},
		{"truncated", handle[:len(handle)-4]},
		{"extended", handle + "AAAA"},
		{"another version", "tsl2." + body},
		{"empty", ""},
	} {
		msg := e.taskRPC("acme", "key-1", "tasks/get", tt.id)
		assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "%s: %v", tt.name, msg)
	}
	msg = retry(handle)
	assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "a task handle as a request state: %v", msg)
	assert.Equal(t, before, calls.Load())

	offset.Store(int64(registry.TaskHandleTTL + time.Minute)) // the task's ttlMs is shorter
	msg = e.taskRPC("acme", "key-1", "tasks/get", handle)
	assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "expired: %v", msg)
	assert.Contains(t, fmt.Sprint(msg), "expired")
	tk.mu.Lock()
	assert.Empty(t, tk.names, "no refused handle reached the upstream")
	tk.mu.Unlock()
}

// A task the server no longer knows (its -32602, "Task not found") is
// -32602 to the agent too, as for a handle tether refuses: the agent
// learns the task is gone, not that tether failed (-32603).
func TestTaskUnknownUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	handle := e.createTask("acme", "key-1")
	tk.mu.Lock()
	delete(tk.status, "task-1") // the server forgot it (restarted, expired)
	tk.mu.Unlock()

	for _, method := range []string{"tasks/get", "tasks/update", "tasks/cancel"} {
		msg := e.taskRPC("acme", "key-1", method, handle)
		assert.Equal(t, int(jsonrpc.CodeInvalidParams), rpcError(msg), "%s: %v", method, msg)
		assert.Contains(t, fmt.Sprint(msg), "Task not found", method)
	}
}
