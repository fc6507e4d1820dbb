package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tether "github.com/tether-dev/tether"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/server"
)

// TestAgentKeyScope: an agent key lists and calls tools (REST and /mcp)
// and gets 403, in the dialect's shape, on every other authenticated
// route of openapi.yaml, without changing anything; an admin key of the
// same tenant is not refused there.
func TestAgentKeyScope(t *testing.T) {
	mcp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, _ := server.TenantID(r.Context())
		_, _ = w.Write([]byte("mcp for " + tenant))
	})
	ts := newTestServer(t, withServer(func(o *server.Options) { o.MCP = mcp }))
	ts.prober.SetToolSpecs(addSpec)
	id := ts.featherConnect(map[string]any{"nickname": "Calc", "server_url": "https://calc.example/mcp"})
	c := ts.waitToolsStatus(id, "synced")
	toolID := c["tools"].([]any)[0].(map[string]any)["id"].(string)
	agent, _, err := ts.keys.CreateWith(context.Background(), "acme", registry.NewKey{Scope: registry.ScopeAgent})
	require.NoError(t, err)

	// What an agent may do.
	tools := ts.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: agent})
	require.Equal(t, http.StatusOK, tools.status, "%s", tools.body)
	assert.Len(t, tools.list(t), 1)
	inv := ts.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_add/invoke", key: agent, body: map[string]any{"input": map[string]any{"a": 1, "b": 2}}})
	require.Equal(t, http.StatusOK, inv.status, "%s", inv.body)
	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		r := ts.do(req{method: method, path: "/mcp", key: agent, body: map[string]any{}})
		require.Equal(t, http.StatusOK, r.status, "%s /mcp: %s", method, r.body)
		assert.Equal(t, "mcp for "+ts.tenant, string(r.body))
	}

	// Every other route of the spec that takes an API key.
	spec, err := openapi3.NewLoader().LoadFromData(tether.OpenAPIYAML)
	require.NoError(t, err)
	allowed := map[string]bool{"GET /v1/integrations/tools": true, "POST /v1/integrations/tools/{slug}/invoke": true}
	params := strings.NewReplacer("{id}", id, "{connection_id}", id, "{tool_id}", toolID, "{slug}", "calc_add")
	type route struct {
		name, method, path string
		ferni              bool
		body               any
	}
	var routes []route
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			public := op.Security != nil && len(*op.Security) == 0
			name := method + " " + path
			if public || allowed[name] || path == "/mcp" || strings.HasPrefix(path, "/admin/") {
				continue
			}
			var body any
			if method != http.MethodGet && method != http.MethodDelete {
				body = map[string]any{}
			}
			routes = append(routes, route{name, method, params.Replace(path), strings.HasPrefix(path, "/api/v2/"), body})
		}
	}
	require.GreaterOrEqual(t, len(routes), 20, "the spec's management routes")
	for _, rt := range routes {
		r := ts.do(req{method: rt.method, path: rt.path, key: agent, body: rt.body})
		require.Equal(t, http.StatusForbidden, r.status, "%s: %s", rt.name, r.body)
		if rt.ferni {
			assert.Equal(t, "FORBIDDEN", r.ferniCode(t), rt.name)
		} else {
			assert.Equal(t, "forbidden", r.json(t)["error"], rt.name)
		}
	}
	// Nothing changed: the connection and its tool are as they were.
	after := ts.do(req{method: http.MethodGet, path: featherBase + "/" + id})
	require.Equal(t, http.StatusOK, after.status)
	assert.Equal(t, c["nickname"], after.json(t)["nickname"])
	assert.Equal(t, c["tools"], after.json(t)["tools"])
	// An admin key of the same tenant is refused on none of them.
	for _, rt := range routes {
		r := ts.do(req{method: rt.method, path: rt.path, body: rt.body})
		assert.NotEqual(t, http.StatusForbidden, r.status, "%s: %s", rt.name, r.body)
	}
}
