package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// addSpec is a tool taking two integers.
var addSpec = registry.ToolSpec{Name: "add", Description: "Add two numbers", InputSchema: map[string]any{
	"type":       "object",
	"properties": map[string]any{"a": map[string]any{"type": "integer"}, "b": map[string]any{"type": "integer"}},
	"required":   []any{"a", "b"},
}}

// TestToolSettingsAndInvoke: the author's settings (pins, defaults, a
// response field map, enabled) shape what the REST tool API advertises,
// what reaches the server, and what comes back.
func TestToolSettingsAndInvoke(t *testing.T) {
	ts := newTestServer(t, withRegistry(func(o *registry.Options) { o.Calls = o.Store.(registry.CallStore) }))
	ts.prober.SetToolSpecs(addSpec)
	ts.prober.SetCall(func(_ *registry.Connection, _ string, args map[string]any) (map[string]any, error) {
		a, _ := args["a"].(float64)
		b, _ := args["b"].(float64)
		return map[string]any{"content": []any{}, "structuredContent": map[string]any{"sum": a + b}}, nil
	})
	id := ts.featherConnect(map[string]any{"nickname": "Calc", "server_url": "https://calc.example/mcp"})
	c := ts.waitToolsStatus(id, "synced")
	toolPath := featherBase + "/" + id + "/tools/" + c["tools"].([]any)[0].(map[string]any)["id"].(string)

	r := ts.do(req{method: http.MethodPatch, path: toolPath, body: map[string]any{
		"input_defaults":     map[string]any{"b": map[string]any{"value": 10, "type": "pinned"}, "a": map[string]any{"value": 1}},
		"response_field_map": map[string]any{"field_mappings": []any{map[string]any{"path": "sum", "as": "total"}}},
	}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	tool := r.json(t)
	assert.Equal(t, float64(1), tool["pinned_count"])
	assert.Equal(t, float64(1), tool["default_count"])
	props := tool["merged_input_preview"].(map[string]any)["properties"].(map[string]any)
	assert.Equal(t, float64(10), props["b"].(map[string]any)["const"])
	assert.Equal(t, float64(1), props["a"].(map[string]any)["default"])

	listed := ts.do(req{method: http.MethodGet, path: "/v1/integrations/tools"}).list(t)
	require.Len(t, listed, 1)
	agentTool := listed[0].(map[string]any)
	assert.Equal(t, "calc_add", agentTool["slug"])
	assert.Equal(t, id, agentTool["connection_id"])
	assert.Equal(t, true, agentTool["is_callable"])
	schema := agentTool["input_schema"].(map[string]any)
	assert.NotContains(t, schema["properties"], "b", "a pinned field is not advertised")
	assert.Equal(t, []any{}, schema["required"], "a defaulted field is optional, a pinned one gone")

	invoke := func(input map[string]any) response {
		return ts.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_add/invoke", body: map[string]any{"input": input}})
	}
	r = invoke(map[string]any{"b": 99})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{"sum": float64(11)}, r.json(t)["result"].(map[string]any)["structuredContent"], "the pin wins, the default fills in")
	assert.Equal(t, map[string]any{"total": float64(11)}, r.json(t)["narrowed"])
	calls := ts.prober.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, map[string]any{"a": float64(1), "b": float64(10)}, calls[0].Args)

	// Feather's test call applies the same settings and returns the raw result.
	r = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", body: map[string]any{"slug": "calc_add", "input": map[string]any{"a": 5}}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{"sum": float64(15)}, r.json(t)["result"].(map[string]any)["structuredContent"])

	// Unknown 404, disabled 400 tool_unavailable in both routes.
	r = ts.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_nope/invoke", body: map[string]any{}})
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "not_found", r.json(t)["error"])
	require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodPatch, path: toolPath, body: map[string]any{"is_enabled": false}}).status)
	r = invoke(map[string]any{})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "tool_unavailable", r.json(t)["error"])
	r = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", body: map[string]any{"slug": "calc_add"}})
	assert.Equal(t, "tool_unavailable", r.json(t)["error"])
	assert.Len(t, ts.prober.Calls(), 2, "a disabled tool never reaches the server")
	assert.Equal(t, false, ts.do(req{method: http.MethodGet, path: "/v1/integrations/tools"}).list(t)[0].(map[string]any)["is_enabled"])

	// Call records, newest first, say how each call came and how it ended.
	var records []any
	require.Eventually(t, func() bool {
		records = ts.do(req{method: http.MethodGet, path: featherBase + "/" + id + "/calls?limit=10"}).list(t)
		return len(records) >= 4
	}, 10*time.Second, 5*time.Millisecond)
	var got [][2]any
	for _, rec := range records {
		m := rec.(map[string]any)
		got = append(got, [2]any{m["via"], m["outcome"]})
	}
	assert.Equal(t, [][2]any{{"test", "refused"}, {"rest", "refused"}, {"test", "ok"}, {"rest", "ok"}}, got)
}
