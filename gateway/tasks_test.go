package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// tasker is a customer's 2026-07-28 server that implements the tasks
// extension in raw JSON-RPC (no SDK has it): its tool build becomes a task
// for a client that declared the extension, and runs at once otherwise.
type tasker struct {
	url string

	mu       sync.Mutex
	status   map[string]string // by task id
	updates  []any             // inputResponses received by tasks/update
	names    []string          // Mcp-Name headers of tasks/* requests
	nextTask int
	// unsolicited answers every tools/call with a task, whether or not
	// the client declared the extension (a hostile or broken server).
	unsolicited bool
}

func newTasker(t *testing.T) *tasker {
	t.Helper()
	tk := &tasker{status: map[string]string{}}
	hs := httptest.NewServer(http.HandlerFunc(tk.serve))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	tk.url = hs.URL + "/mcp"
	return tk
}

func (tk *tasker) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params map[string]any  `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if len(req.ID) == 0 {
		w.WriteHeader(http.StatusAccepted) // a notification
		return
	}
	meta, _ := req.Params["_meta"].(map[string]any)
	caps, _ := meta["io.modelcontextprotocol/clientCapabilities"].(map[string]any)
	taskID, _ := req.Params["taskId"].(string)
	result := map[string]any{"resultType": "complete"}
	var rpcErr map[string]any

	tk.mu.Lock()
	switch req.Method {
	case "server/discover":
		result["supportedVersions"] = []string{"2026-07-28"}
		result["capabilities"] = map[string]any{"tools": map[string]any{}, "extensions": map[string]any{registry.TasksExtension: map[string]any{}}}
		result["_meta"] = map[string]any{"io.modelcontextprotocol/serverInfo": map[string]any{"name": "tasker", "version": "1"}}
	case "tools/list":
		result["tools"] = []any{map[string]any{"name": "build", "inputSchema": map[string]any{"type": "object"}}}
	case "tools/call":
		if !registry.DeclaresTasks(caps) && !tk.unsolicited {
			result["content"] = []any{map[string]any{"type": "text", "text": "built synchronously"}}
			break
		}
		tk.nextTask++
		id := fmt.Sprintf("task-%d", tk.nextTask)
		tk.status[id] = "working"
		result = tk.task(id)
		result["resultType"] = "task"
	case "tasks/get", "tasks/update", "tasks/cancel":
		tk.names = append(tk.names, r.Header.Get("Mcp-Name"))
		if !registry.DeclaresTasks(caps) {
			rpcErr = map[string]any{"code": -32021, "message": "Missing required client capability"}
			break
		}
		if _, ok := tk.status[taskID]; !ok {
			rpcErr = map[string]any{"code": -32602, "message": "Failed to retrieve task: Task not found"}
			break
		}
		switch req.Method {
		case "tasks/get":
			result = tk.task(taskID)
			result["resultType"] = "complete"
		case "tasks/update":
			tk.updates = append(tk.updates, req.Params["inputResponses"])
		case "tasks/cancel":
			tk.status[taskID] = "cancelled"
		}
	default:
		rpcErr = map[string]any{"code": -32601, "message": "method not found"}
	}
	tk.mu.Unlock()

	msg := map[string]any{"jsonrpc": "2.0", "id": req.ID}
	if rpcErr != nil {
		msg["error"] = rpcErr
	} else {
		msg["result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(msg)
}

// task is the Task object of id; tk.mu is held.
func (tk *tasker) task(id string) map[string]any {
	return map[string]any{
		"taskId": id, "status": tk.status[id], "createdAt": "2026-12-01T10:00:00Z",
		"lastUpdatedAt": "2026-12-01T10:00:00Z", "ttlMs": 60000, "pollIntervalMs": 100,
	}
}

// tasksMeta declares the tasks extension for a request.
func tasksMeta(declare bool) map[string]any {
	caps := map[string]any{}
	if declare {
		caps["extensions"] = map[string]any{registry.TasksExtension: map[string]any{}}
	}
	return map[string]any{
		"io.modelcontextprotocol/protocolVersion":    newVersion,
		"io.modelcontextprotocol/clientCapabilities": caps,
	}
}

// A task is created through tether, polled, given input and cancelled; its
// id as the agent sees it is tether's sealed handle, which routes back to
// the server that made the task.
func TestTaskThroughTether(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})

	status, msg := e.rpc("acme", "key-1", "tools/call", "tasker_build", map[string]any{
		"name": "tasker_build", "arguments": map[string]any{}, "_meta": tasksMeta(true)})
	require.Equal(t, http.StatusOK, status, msg)
	created, _ := msg["result"].(map[string]any)
	require.Equal(t, "task", created["resultType"], msg)
	assert.Equal(t, "working", created["status"])
	handle, _ := created["taskId"].(string)
	require.NotEmpty(t, handle)
	assert.NotEqual(t, "task-1", handle, "the upstream's task id stays sealed")
	assert.NotContains(t, handle, "task-1")

	taskCall := func(tenant, method, id string, declare bool, extra map[string]any) (int, map[string]any) {
		params := map[string]any{"taskId": id, "_meta": tasksMeta(declare)}
		for k, v := range extra {
			params[k] = v
		}
		return e.rpc(tenant, "key-1", method, id, params)
	}
	status, msg = taskCall("acme", "tasks/get", handle, true, nil)
	require.Equal(t, http.StatusOK, status, msg)
	got, _ := msg["result"].(map[string]any)
	assert.Equal(t, "working", got["status"], msg)
	assert.Equal(t, handle, got["taskId"], "the agent keeps seeing its handle")
	assert.Equal(t, "complete", got["resultType"])

	answer := map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "octocat"}}}
	_, msg = taskCall("acme", "tasks/update", handle, true, map[string]any{"inputResponses": answer})
	require.Zero(t, rpcError(msg), msg)

	_, msg = taskCall("acme", "tasks/cancel", handle, true, nil)
	require.Zero(t, rpcError(msg), msg)
	_, msg = taskCall("acme", "tasks/get", handle, true, nil)
	got, _ = msg["result"].(map[string]any)
	assert.Equal(t, "cancelled", got["status"], msg)

	tk.mu.Lock()
	assert.Equal(t, []string{"task-1", "task-1", "task-1", "task-1"}, tk.names, "upstream routing headers name the upstream's task")
	assert.Len(t, tk.updates, 1)
	tk.mu.Unlock()

	// An agent that does not take tasks gets the result at once.
	cs := e.agent(agentOptions{tenant: "acme", version: newVersion})
	res := callTool(t, cs, "tasker_build", nil)
	require.False(t, res.IsError, text(res))
	assert.Equal(t, "built synchronously", text(res))
}

// A forged handle, the upstream's own task id, another tenant's handle
// (even for a connection to the same server) are refused with -32602
// before any upstream sees them; tasks/* without the extension declared
// is -32021; routing headers that disagree with the body are 400.
func TestTaskHandleRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	e.connect("globex", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})

	_, msg := e.rpc("acme", "key-1", "tools/call", "tasker_build", map[string]any{
		"name": "tasker_build", "arguments": map[string]any{}, "_meta": tasksMeta(true)})
	created, _ := msg["result"].(map[string]any)
	handle, _ := created["taskId"].(string)
	require.NotEmpty(t, handle, msg)
	tampered := []byte(handle)
	tampered[len(tampered)-2] ^= 1

	for _, tt := range []struct{ name, tenant, id string }{
		{"forged", "acme", "tsl1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"tampered", "acme", string(tampered)},
		{"the upstream's own id", "acme", "task-1"},
		{"another tenant", "globex", handle},
	} {
		for _, method := range []string{"tasks/get", "tasks/update", "tasks/cancel"} {
			_, msg := e.rpc(tt.tenant, "key-1", method, tt.id, map[string]any{"taskId": tt.id, "_meta": tasksMeta(true)})
			assert.Equal(t, -32602, rpcError(msg), "%s %s: %v", tt.name, method, msg)
		}
	}
	tk.mu.Lock()
	assert.Empty(t, tk.names, "no refused request reached the upstream")
	assert.Equal(t, "working", tk.status["task-1"], "nothing was cancelled")
	tk.mu.Unlock()

	_, msg = e.rpc("acme", "key-1", "tasks/get", handle, map[string]any{"taskId": handle, "_meta": tasksMeta(false)})
	assert.Equal(t, -32021, rpcError(msg), msg)

	status, msg := e.rpc("acme", "key-1", "tasks/get", "another-task", map[string]any{"taskId": handle, "_meta": tasksMeta(true)})
	assert.Equal(t, http.StatusBadRequest, status, msg)
	assert.True(t, strings.Contains(fmt.Sprint(msg), "Mcp-Name"), msg)
}

// A server that answers with a task an agent did not ask for (it did not
// declare the extension, or its revision has none) is not passed on raw:
// the agent gets an isError result saying so, on the fast path and the
// SDK's alike, never a result it cannot read as a tool's.
func TestUnsolicitedTaskNotPassedOn(t *testing.T) { forEachVersion(t, testUnsolicitedTaskNotPassedOn) }

func testUnsolicitedTaskNotPassedOn(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	tk.unsolicited = true
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	cs := e.agent(agentOptions{tenant: "acme", version: version})
	for round := range 2 { // the SDK's path, then (the view built) the fast path
		res := callTool(t, cs, "tasker_build", nil)
		assert.True(t, res.IsError, "round %d: %+v", round, res)
		assert.Contains(t, text(res), "task", "round %d", round)
		b, _ := json.Marshal(res)
		assert.NotContains(t, string(b), `"taskId"`, "round %d: %s", round, b)
		require.Contains(t, toolNames(t, cs), "tasker_build")
	}
}
