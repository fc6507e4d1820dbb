package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
)

// ferniServer registers a server without autoConnect (the test drives probes).
func ferniServer(t *testing.T, h *harness, key, name, endpoint string, extra map[string]any) string {
	t.Helper()
	body := map[string]any{"name": name, "description": "d", "transport": "http", "endpoint": endpoint, "autoConnect": false, "timeout": 5000}
	for k, v := range extra {
		body[k] = v
	}
	r := ferniCreate(h, key, body)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(t)["data"].(map[string]any)["id"].(string)
}

func ferniTest(t *testing.T, h *harness, key, id string) map[string]any {
	t.Helper()
	r := h.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test", key: key})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return r.json(t)["data"].(map[string]any)
}

func TestFerniTestAndTools(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		up := newUpstream(t, false)
		h := startTether(t, on, allowLoopback)
		key := h.newKey("acme")
		id := ferniServer(t, h, key, "calc", up.URL(), map[string]any{
			"headers": map[string]any{"X-API-Key": "{{secrets.K}}", "Authorization": "Bearer {{secrets.T}}"},
			"secrets": map[string]any{"K": "upstream-key-value", "T": "upstream-token-value"},
		})

		res := ferniTest(t, h, key, id)
		assert.Equal(t, true, res["connected"])
		assert.Equal(t, float64(upstreamTools), res["toolCount"])
		assert.Equal(t, map[string]any{"name": "test-upstream", "version": "1.2.3"}, res["serverInfo"])
		assert.Equal(t, "streamable_http", res["transport"])
		assert.NotNil(t, res["latencyMs"])
		names := []string{}
		for _, tool := range res["tools"].([]any) {
			names = append(names, tool.(map[string]any)["name"].(string))
		}
		assert.ElementsMatch(t, []string{"add", "echo", "fail", "profile", "sleep"}, names)

		// The server saw the interpolated credentials.
		seen := up.Headers()
		require.NotEmpty(t, seen)
		assert.Equal(t, "upstream-key-value", seen[0].Get("X-API-Key"))
		assert.Equal(t, "Bearer upstream-token-value", seen[0].Get("Authorization"))

		// The row records the outcome.
		d := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)
		assert.Equal(t, "active", d["status"])
		assert.Equal(t, float64(upstreamTools), d["toolCount"])
		assert.NotNil(t, d["lastConnected"])
		assert.Nil(t, d["lastError"])
		assert.Equal(t, "streamable_http", d["connectedTransport"])

		tools := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id + "/tools", key: key})
		require.Equal(t, http.StatusOK, tools.status)
		list := tools.json(t)["data"].([]any)
		require.Len(t, list, upstreamTools)
		add := list[0].(map[string]any)
		assert.Equal(t, "add", add["name"])
		schema := add["inputSchema"].(map[string]any)
		assert.Equal(t, "object", schema["type"])
		assert.Contains(t, schema["properties"], "a")

		h.assertNoLeak("upstream-key-value", "upstream-token-value")
	})
}

func TestFerniTestFailures(t *testing.T) {
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	cases := []struct {
		name     string
		endpoint string
		timeout  int
		code     string
	}{
		{"connection refused", mcptest.ClosedURL(t), 5000, "MCP_CONNECTION_FAILED"},
		{"never answers", mcptest.SilentServer(t), 1000, "MCP_TIMEOUT"},
		{"not an MCP server", notMCPServer(t), 5000, "MCP_INVALID_RESPONSE"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := ferniServer(t, h, key, "bad-"+string(rune('a'+i)), tc.endpoint, map[string]any{"timeout": tc.timeout})
			// The code says what ended the test: the row's timeout
			// (MCP_TIMEOUT) or the failure itself, long before it.
			start := time.Now()
			res := ferniTest(t, h, key, id)
			t.Logf("answered after %v", time.Since(start).Round(time.Millisecond))
			assert.Equal(t, false, res["connected"])
			assert.Equal(t, tc.code, res["errorCode"], "%v", res["error"])
			assert.NotEmpty(t, res["error"])
			d := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)
			assert.Equal(t, "error", d["status"])
			assert.Equal(t, res["error"], d["lastError"])
		})
	}

	// Disabled servers are not probed.
	id := ferniServer(t, h, key, "off", mcptest.ClosedURL(t), map[string]any{"enabled": false})
	r := h.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test", key: key})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "MCP_SERVER_DISABLED", r.json(t)["error"].(map[string]any)["code"])
	assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodPost, path: ferniBase + "/nope/test", key: key}).status)
	assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodGet, path: ferniBase + "/nope/tools", key: key}).status)
}

func notMCPServer(t *testing.T) string {
	t.Helper()
	s := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	return s + "/mcp"
}

// featherConnection connects the upstream through Feather and waits for
// its initial tool sync.
func featherConnection(t *testing.T, h *harness, key, url string) string {
	t.Helper()
	r := featherConnect(h, key, map[string]any{"nickname": "Calc", "server_url": url, "transport": "http"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["connection_id"].(string)
	waitToolsStatus(t, h, key, id, "synced")
	return id
}

func waitToolsStatus(t *testing.T, h *harness, key, id, want string) map[string]any {
	t.Helper()
	var c map[string]any
	require.Eventually(t, func() bool {
		c = h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key}).json(t)
		return c["tools_status"] == want
	}, 15*time.Second, 20*time.Millisecond, "tools_status never became %s", want)
	return c
}

func toolBySlug(c map[string]any, slug string) map[string]any {
	for _, tool := range c["tools"].([]any) {
		if m := tool.(map[string]any); m["slug"] == slug {
			return m
		}
	}
	return nil
}

func TestFeatherToolsLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		up := newUpstream(t, false)
		h := startTether(t, on, allowLoopback)
		key := h.newKey("acme")
		id := featherConnection(t, h, key, up.URL())

		c := h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key}).json(t)
		require.Len(t, c["tools"], upstreamTools)
		add := toolBySlug(c, "calc_add")
		require.NotNil(t, add)
		assert.Equal(t, "add", add["tool_path"])
		assert.Equal(t, true, add["is_enabled"])
		assert.Equal(t, true, add["is_available"])
		assert.NotNil(t, c["tools_synced_at"])
		assert.Equal(t, "test-upstream", c["metadata"].(map[string]any)["server_info"].(map[string]any)["name"])
		toolID := add["id"].(string)
		toolPath := featherBase + "/" + id + "/tools/" + toolID

		// Pin b; callers cannot override it.
		r := h.do(req{method: http.MethodPatch, path: toolPath, key: key, body: map[string]any{
			"input_defaults":     map[string]any{"b": map[string]any{"value": 10, "type": "pinned"}},
			"response_field_map": map[string]any{"field_mappings": []any{map[string]any{"path": "sum", "as": "total"}}},
		}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		tool := r.json(t)
		assert.Equal(t, float64(1), tool["pinned_count"])
		assert.Equal(t, float64(0), tool["default_count"])
		assert.Equal(t, float64(10), tool["merged_input_preview"].(map[string]any)["properties"].(map[string]any)["b"].(map[string]any)["const"])

		call := func(slug string, input map[string]any) response {
			body := map[string]any{"slug": slug}
			if input != nil {
				body["input"] = input
			}
			return h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", key: key, body: body})
		}
		r = call("calc_add", map[string]any{"a": 1, "b": 99})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, map[string]any{"sum": float64(11)}, r.json(t)["result"].(map[string]any)["structuredContent"])

		// A default fills a missing argument but yields to the caller's.
		r = h.do(req{method: http.MethodPatch, path: toolPath, key: key, body: map[string]any{"input_defaults": map[string]any{"b": map[string]any{"value": 5}}}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, float64(6), call("calc_add", map[string]any{"a": 1}).json(t)["result"].(map[string]any)["structuredContent"].(map[string]any)["sum"])
		assert.Equal(t, float64(3), call("calc_add", map[string]any{"a": 1, "b": 2}).json(t)["result"].(map[string]any)["structuredContent"].(map[string]any)["sum"])

		// A tool error is a result, not a failure.
		r = call("calc_fail", nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, true, r.json(t)["result"].(map[string]any)["isError"])

		// Unknown and disabled slugs are 400.
		assert.Equal(t, "tool_unavailable", call("calc_nope", nil).json(t)["error"])
		r = h.do(req{method: http.MethodPatch, path: toolPath, key: key, body: map[string]any{"is_enabled": false}})
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, false, r.json(t)["is_enabled"])
		r = call("calc_add", map[string]any{"a": 1})
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "tool_unavailable", r.json(t)["error"])

		// Bulk enable returns every tool, ordered by tool_path.
		r = h.do(req{method: http.MethodPatch, path: featherBase + "/" + id + "/tools", key: key, body: map[string]any{"is_enabled": true}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		paths := []string{}
		for _, tl := range r.list(t) {
			assert.Equal(t, true, tl.(map[string]any)["is_enabled"])
			paths = append(paths, tl.(map[string]any)["tool_path"].(string))
		}
		assert.Equal(t, []string{"add", "echo", "fail", "profile", "sleep"}, paths)

		// input_defaults that do not fit the schema: 422 naming each field.
		r = h.do(req{method: http.MethodPatch, path: toolPath, key: key, body: map[string]any{"input_defaults": map[string]any{
			"zzz": map[string]any{"value": 1}, "a": map[string]any{"value": "not a number"},
		}}})
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
		var locs []any
		for _, d := range r.json(t)["detail"].([]any) {
			locs = append(locs, d.(map[string]any)["loc"])
		}
		assert.Equal(t, []any{[]any{"body", "input_defaults", "a"}, []any{"body", "input_defaults", "zzz"}}, locs)
		// An explicit null clears.
		r = h.do(req{method: http.MethodPatch, path: toolPath, key: key, body: map[string]any{"input_defaults": nil}})
		assert.Nil(t, r.json(t)["input_defaults"])
		assert.Equal(t, float64(0), r.json(t)["pinned_count"])

		// The server changes its tools: refresh adds, updates and marks vanished ones.
		up.Server.RemoveTools("echo")
		mcptest.AddNamed("get-sum", "new tool")(up.Server)
		r = h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools", key: key})
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		c = waitToolsStatus(t, h, key, id, "synced")
		require.NotNil(t, toolBySlug(c, "calc_get_sum"))
		assert.Equal(t, false, toolBySlug(c, "calc_echo")["is_available"])
		assert.Equal(t, toolID, toolBySlug(c, "calc_add")["id"], "settings kept across syncs")
		assert.Equal(t, map[string]any{"field_mappings": []any{map[string]any{"path": "sum", "as": "total"}}}, toolBySlug(c, "calc_add")["response_field_map"])
		assert.Equal(t, "calc_echo", toolBySlug(c, "calc_echo")["slug"])
		assert.Equal(t, http.StatusBadRequest, call("calc_echo", map[string]any{"text": "x"}).status, "a vanished tool cannot be called")
		// Call records (and last_used_at) are written in the background.
		assert.Eventually(t, func() bool {
			return h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key}).json(t)["last_used_at"] != nil
		}, 5*time.Second, 20*time.Millisecond)

		// Not found cases.
		assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodPatch, path: featherBase + "/" + id + "/tools/00000000-0000-4000-8000-000000000000", key: key, body: map[string]any{"is_enabled": true}}).status)
		other := h.newKey("other")
		assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodPatch, path: toolPath, key: other, body: map[string]any{"is_enabled": false}}).status)
		assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", key: other, body: map[string]any{"slug": "calc_add"}}).status)
	})
}

func TestFeatherRefreshRequiresActive(t *testing.T) {
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	r := featherConnect(h, key, map[string]any{"nickname": "Down", "server_url": mcptest.ClosedURL(t), "transport": "streamable_http"})
	require.Equal(t, http.StatusCreated, r.status)
	id := r.json(t)["connection_id"].(string)
	c := waitToolsStatus(t, h, key, id, "failed")
	assert.Equal(t, "error", c["status"])
	assert.NotEmpty(t, c["status_reason"])
	r = h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools", key: key})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
	assert.Equal(t, "not_active", r.json(t)["error"])
}
