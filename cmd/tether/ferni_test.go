package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ferniBase = "/api/v2/developers/mcp-servers"

func ferniCreate(h *harness, key string, body map[string]any) response {
	return h.do(req{method: http.MethodPost, path: ferniBase, key: key, body: body})
}

func validFerni(name string) map[string]any {
	return map[string]any{
		"name": name, "description": "CRM integration", "transport": "http",
		"endpoint": "https://mcp.example.com/mcp", "autoConnect": false,
	}
}

func TestFerniCRUD(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")

	created := ferniCreate(h, key, map[string]any{
		"name": "my-crm-tools", "description": "CRM integration for customer lookups",
		"transport": "http", "endpoint": "https://mcp.example.com/mcp",
		"headers":     map[string]any{"X-API-Key": "{{secrets.CRM_API_KEY}}", "Authorization": "Basic literal-credential-value", "X-Trace": "plain"},
		"secrets":     map[string]any{"CRM_API_KEY": "crm-secret-value-1"},
		"autoConnect": true, "timeout": 45000, "personaId": "persona-1",
	})
	require.Equal(t, http.StatusCreated, created.status, "%s", created.body)
	data := created.json(t)["data"].(map[string]any)
	id := data["id"].(string)
	assert.Equal(t, true, created.json(t)["success"])
	assert.Equal(t, "my-crm-tools", data["name"])
	assert.Equal(t, "active", data["status"])
	assert.Equal(t, float64(0), data["toolCount"])
	assert.Equal(t, float64(45000), data["timeout"])
	assert.Equal(t, "persona-1", data["personaId"])
	assert.Equal(t, true, data["hasSecrets"])
	assert.Equal(t, []any{"CRM_API_KEY"}, data["secretNames"])
	assert.Equal(t, map[string]any{
		"X-API-Key":     "{{secrets.CRM_API_KEY}}",
		"Authorization": "********",
		"X-Trace":       "plain",
	}, data["headers"])
	assert.Nil(t, data["lastError"])
	assert.Nil(t, data["lastConnected"])

	got := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key, bearer: true})
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, data, got.json(t)["data"])

	// PUT: only the given fields change; secrets merge; null removes.
	upd := h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{
		"description": "Updated description",
		"timeout":     60000,
		"secrets":     map[string]any{"CRM_API_KEY": "crm-secret-value-2", "EXTRA": "extra-secret-value"},
	}})
	require.Equal(t, http.StatusOK, upd.status, "%s", upd.body)
	ud := upd.json(t)["data"].(map[string]any)
	assert.Equal(t, "Updated description", ud["description"])
	assert.Equal(t, float64(60000), ud["timeout"])
	assert.Equal(t, "https://mcp.example.com/mcp", ud["endpoint"])
	assert.Equal(t, []any{"CRM_API_KEY", "EXTRA"}, ud["secretNames"])
	assert.Equal(t, "persona-1", ud["personaId"])

	upd = h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{
		"secrets": map[string]any{"EXTRA": nil}, "personaId": nil,
		// The masked value sent back keeps the stored credential.
		"headers": map[string]any{"X-API-Key": "{{secrets.CRM_API_KEY}}", "Authorization": "********"},
	}})
	require.Equal(t, http.StatusOK, upd.status, "%s", upd.body)
	ud = upd.json(t)["data"].(map[string]any)
	assert.Equal(t, []any{"CRM_API_KEY"}, ud["secretNames"])
	assert.Nil(t, ud["personaId"])
	assert.Equal(t, map[string]any{"X-API-Key": "{{secrets.CRM_API_KEY}}", "Authorization": "********"}, ud["headers"])

	// Disabling shows in status; enabling brings it back.
	upd = h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{"enabled": false}})
	require.Equal(t, http.StatusOK, upd.status)
	assert.Equal(t, "disabled", upd.json(t)["data"].(map[string]any)["status"])
	list := h.do(req{method: http.MethodGet, path: ferniBase + "?status=disabled", key: key})
	require.Equal(t, http.StatusOK, list.status)
	assert.Len(t, list.json(t)["data"], 1)
	upd = h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{"enabled": true}})
	assert.Equal(t, "active", upd.json(t)["data"].(map[string]any)["status"])

	del := h.do(req{method: http.MethodDelete, path: ferniBase + "/" + id, key: key})
	require.Equal(t, http.StatusOK, del.status)
	assert.Equal(t, map[string]any{"deleted": true, "id": id}, del.json(t)["data"])
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r := h.do(req{method: m, path: ferniBase + "/" + id, key: key})
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "NOT_FOUND", r.json(t)["error"].(map[string]any)["code"])
	}
	r := h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{"timeout": 5000}})
	assert.Equal(t, http.StatusNotFound, r.status)

	h.assertNoLeak("crm-secret-value-1", "crm-secret-value-2", "extra-secret-value", "literal-credential-value")
}

func TestFerniStdio(t *testing.T) {
	h := startTether(t, func(c *Config) { c.StdioCommands = "node,/usr/bin/python3" })
	key := h.newKey("acme")
	r := ferniCreate(h, key, map[string]any{"name": "local", "description": "d", "transport": "stdio", "command": "node", "args": []any{"./server.js", "--flag"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	d := r.json(t)["data"].(map[string]any)
	assert.Equal(t, "node", d["command"])
	assert.Equal(t, []any{"./server.js", "--flag"}, d["args"])
	assert.Nil(t, d["endpoint"])

	r = ferniCreate(h, key, map[string]any{"name": "bash", "description": "d", "transport": "stdio", "command": "bash"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "VALIDATION_ERROR", r.json(t)["error"].(map[string]any)["code"])
}

// TestFerniStdioFixedArgs: with --stdio-args fixed, tenants choose among
// the operator's argument lists and cannot pass code.
func TestFerniStdioFixedArgs(t *testing.T) {
	h := startTether(t, func(c *Config) {
		c.StdioCommands = "node=/opt/mcp/crm.js,node=/opt/mcp/tickets.js --verbose"
		c.StdioArgs = "fixed"
	})
	key := h.newKey("acme")
	stdio := func(name string, args ...any) response {
		return ferniCreate(h, key, map[string]any{"name": name, "description": "d", "transport": "stdio", "command": "node", "args": args})
	}
	assert.Equal(t, http.StatusCreated, stdio("crm", "/opt/mcp/crm.js").status)
	assert.Equal(t, http.StatusCreated, stdio("tickets", "/opt/mcp/tickets.js", "--verbose").status)
	for _, args := range [][]any{{"-e", "process.exit(0)"}, {"/opt/mcp/crm.js", "--inspect"}, {}} {
		r := stdio("code", args...)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", args, r.body)
		e := r.json(t)["error"].(map[string]any)
		assert.Equal(t, "VALIDATION_ERROR", e["code"])
		assert.Contains(t, e["message"], "--stdio-args fixed")
	}
}

// TestStdioNeedsAUserAsRoot: as root, stdio without --stdio-user would run
// tenants' commands as root; tether refuses to start rather than do that.
func TestStdioNeedsAUserAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the rule is about running as root; this test process is not root")
	}
	m := &Main{Config: Config{Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "tether.db"), StdioCommands: "node"}}
	err := m.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--stdio-user")
	m.Close()
}

func TestFerniValidation(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	require.Equal(t, http.StatusCreated, ferniCreate(h, key, validFerni("taken")).status)

	with := func(mod func(map[string]any)) map[string]any {
		b := validFerni("fresh-name")
		mod(b)
		return b
	}
	cases := []struct {
		name string
		body map[string]any
		code string
		want int
	}{
		{"missing name", with(func(b map[string]any) { delete(b, "name") }), "VALIDATION_ERROR", 400},
		{"missing description", with(func(b map[string]any) { delete(b, "description") }), "VALIDATION_ERROR", 400},
		{"missing transport", with(func(b map[string]any) { delete(b, "transport") }), "VALIDATION_ERROR", 400},
		{"name not kebab-case", with(func(b map[string]any) { b["name"] = "My Tools" }), "VALIDATION_ERROR", 400},
		{"name with underscore", with(func(b map[string]any) { b["name"] = "my_tools" }), "VALIDATION_ERROR", 400},
		{"name too long", with(func(b map[string]any) { b["name"] = "a" + fmt.Sprintf("%070d", 0) }), "VALIDATION_ERROR", 400},
		{"taken name", with(func(b map[string]any) { b["name"] = "taken" }), "MCP_NAME_EXISTS", 409},
		{"bad transport", with(func(b map[string]any) { b["transport"] = "carrier-pigeon" }), "VALIDATION_ERROR", 400},
		{"missing endpoint", with(func(b map[string]any) { delete(b, "endpoint") }), "VALIDATION_ERROR", 400},
		{"malformed endpoint", with(func(b map[string]any) { b["endpoint"] = "not a url" }), "MCP_INVALID_ENDPOINT", 400},
		{"ftp endpoint", with(func(b map[string]any) { b["endpoint"] = "ftp://mcp.example.com/" }), "MCP_INVALID_ENDPOINT", 400},
		{"http endpoint for websocket", with(func(b map[string]any) { b["transport"] = "websocket" }), "MCP_INVALID_ENDPOINT", 400},
		{"loopback endpoint", with(func(b map[string]any) { b["endpoint"] = "http://127.0.0.1:8080/mcp" }), "MCP_INVALID_ENDPOINT", 400},
		{"metadata endpoint", with(func(b map[string]any) { b["endpoint"] = "http://169.254.169.254/latest" }), "MCP_INVALID_ENDPOINT", 400},
		{"userinfo endpoint", with(func(b map[string]any) { b["endpoint"] = "https://user:pw@mcp.example.com/" }), "MCP_INVALID_ENDPOINT", 400},
		{"template without secret", with(func(b map[string]any) { b["headers"] = map[string]any{"X-Key": "{{secrets.MISSING}}"} }), "VALIDATION_ERROR", 400},
		{"malformed template", with(func(b map[string]any) { b["headers"] = map[string]any{"X-Key": "{{secret.X}}"} }), "VALIDATION_ERROR", 400},
		{"managed header", with(func(b map[string]any) { b["headers"] = map[string]any{"Host": "evil.example"} }), "VALIDATION_ERROR", 400},
		{"header with newline", with(func(b map[string]any) { b["headers"] = map[string]any{"X-A": "a\r\nX-B: b"} }), "VALIDATION_ERROR", 400},
		{"header value not a string", with(func(b map[string]any) { b["headers"] = map[string]any{"X-A": 5} }), "VALIDATION_ERROR", 400},
		{"timeout too small", with(func(b map[string]any) { b["timeout"] = 10 }), "VALIDATION_ERROR", 400},
		{"timeout too large", with(func(b map[string]any) { b["timeout"] = 3_600_000 }), "VALIDATION_ERROR", 400},
		{"timeout not a number", with(func(b map[string]any) { b["timeout"] = "soon" }), "VALIDATION_ERROR", 400},
		{"unknown field", with(func(b map[string]any) { b["colour"] = "blue" }), "VALIDATION_ERROR", 400},
		{"stdio disabled", with(func(b map[string]any) { b["transport"] = "stdio"; b["command"] = "node"; delete(b, "endpoint") }), "VALIDATION_ERROR", 400},
		{"command on http", with(func(b map[string]any) { b["command"] = "node" }), "VALIDATION_ERROR", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ferniCreate(h, key, tc.body)
			require.Equal(t, tc.want, r.status, "%s", r.body)
			body := r.json(t)
			assert.Equal(t, false, body["success"])
			e := body["error"].(map[string]any)
			assert.Equal(t, tc.code, e["code"])
			assert.NotEmpty(t, e["message"])
		})
	}

	list := h.do(req{method: http.MethodGet, path: ferniBase, key: key})
	assert.Len(t, list.json(t)["data"], 1, "no failed create may leave a row")
}

func TestFerniUpdateValidation(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	r := ferniCreate(h, key, map[string]any{
		"name": "crm", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/",
		"headers": map[string]any{"X-Key": "{{secrets.K}}"}, "secrets": map[string]any{"K": "v-secret-1"},
	})
	require.Equal(t, http.StatusCreated, r.status)
	id := r.json(t)["data"].(map[string]any)["id"].(string)

	cases := []struct {
		name string
		body map[string]any
		code string
	}{
		{"rename", map[string]any{"name": "other"}, "VALIDATION_ERROR"},
		{"remove a referenced secret", map[string]any{"secrets": map[string]any{"K": nil}}, "VALIDATION_ERROR"},
		{"refused endpoint", map[string]any{"endpoint": "http://10.0.0.1/"}, "MCP_INVALID_ENDPOINT"},
		{"masked value with nothing stored", map[string]any{"headers": map[string]any{"Authorization": "********"}}, "VALIDATION_ERROR"},
		{"null description", map[string]any{"description": nil}, "VALIDATION_ERROR"},
		{"unknown field", map[string]any{"nmae": "x"}, "VALIDATION_ERROR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: tc.body})
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, tc.code, r.json(t)["error"].(map[string]any)["code"])
		})
	}
	// Nothing changed.
	got := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)
	assert.Equal(t, []any{"K"}, got["secretNames"])
	assert.Equal(t, "https://mcp.example.com/", got["endpoint"])

	// The same name is accepted (it is not a change).
	ok := h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{"name": "crm"}})
	assert.Equal(t, http.StatusOK, ok.status)
}

func TestFerniPagination(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	for i := range 7 {
		require.Equal(t, http.StatusCreated, ferniCreate(h, key, validFerni(fmt.Sprintf("srv-%d", i))).status)
	}
	names := func(r response) []string {
		var out []string
		for _, d := range r.json(t)["data"].([]any) {
			out = append(out, d.(map[string]any)["name"].(string))
		}
		return out
	}
	r := h.do(req{method: http.MethodGet, path: ferniBase, key: key})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, map[string]any{"total": float64(7), "limit": float64(50), "offset": float64(0)}, r.json(t)["pagination"])
	assert.Equal(t, []string{"srv-0", "srv-1", "srv-2", "srv-3", "srv-4", "srv-5", "srv-6"}, names(r))

	r = h.do(req{method: http.MethodGet, path: ferniBase + "?limit=3&offset=5", key: key})
	assert.Equal(t, []string{"srv-5", "srv-6"}, names(r))
	assert.Equal(t, map[string]any{"total": float64(7), "limit": float64(3), "offset": float64(5)}, r.json(t)["pagination"])

	r = h.do(req{method: http.MethodGet, path: ferniBase + "?offset=7", key: key})
	assert.Empty(t, r.json(t)["data"])
	r = h.do(req{method: http.MethodGet, path: ferniBase + "?limit=100", key: key})
	assert.Equal(t, http.StatusOK, r.status)
	r = h.do(req{method: http.MethodGet, path: ferniBase + "?status=error", key: key})
	assert.Equal(t, float64(0), r.json(t)["pagination"].(map[string]any)["total"])

	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "offset=-1", "limit=ten", "status=sleeping"} {
		t.Run(q, func(t *testing.T) {
			r := h.do(req{method: http.MethodGet, path: ferniBase + "?" + q, key: key})
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "VALIDATION_ERROR", r.json(t)["error"].(map[string]any)["code"])
		})
	}
}
