package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func TestFerniCRUD(t *testing.T) {
	ts := newTestServer(t)
	data := ts.ferniCreate(map[string]any{
		"name": "my-crm-tools", "description": "CRM integration for customer lookups",
		"transport": "http", "endpoint": "https://mcp.example.com/mcp",
		"headers":     map[string]any{"X-API-Key": "{{secrets.CRM_API_KEY}}", "Authorization": "Basic literal-credential-value", "X-Trace": "plain"},
		"secrets":     map[string]any{"CRM_API_KEY": "crm-secret-value-1"},
		"autoConnect": false, "timeout": 45000, "personaId": "persona-1",
	})
	id := data["id"].(string)
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

	got := ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id})
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, data, got.data(t))

	// PUT: only the given fields change; secrets merge; null removes.
	upd := ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{
		"description": "Updated description",
		"timeout":     60000,
		"secrets":     map[string]any{"CRM_API_KEY": "crm-secret-value-2", "EXTRA": "extra-secret-value"},
	}})
	require.Equal(t, http.StatusOK, upd.status, "%s", upd.body)
	ud := upd.data(t)
	assert.Equal(t, "Updated description", ud["description"])
	assert.Equal(t, float64(60000), ud["timeout"])
	assert.Equal(t, "https://mcp.example.com/mcp", ud["endpoint"])
	assert.Equal(t, []any{"CRM_API_KEY", "EXTRA"}, ud["secretNames"])
	assert.Equal(t, "persona-1", ud["personaId"])

	upd = ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{
		"secrets": map[string]any{"EXTRA": nil}, "personaId": nil,
		// The masked value sent back keeps the stored credential.
		"headers": map[string]any{"X-API-Key": "{{secrets.CRM_API_KEY}}", "Authorization": "********"},
	}})
	require.Equal(t, http.StatusOK, upd.status, "%s", upd.body)
	ud = upd.data(t)
	assert.Equal(t, []any{"CRM_API_KEY"}, ud["secretNames"])
	assert.Nil(t, ud["personaId"])
	assert.Equal(t, map[string]any{"X-API-Key": "{{secrets.CRM_API_KEY}}", "Authorization": "********"}, ud["headers"])
	stored, err := ts.svc.Get(t.Context(), ts.tenant, id)
	require.NoError(t, err)
	assert.Equal(t, "Basic literal-credential-value", stored.Headers["Authorization"], "the masked value kept the stored one")
	assert.Equal(t, registry.Sensitive{"CRM_API_KEY": "crm-secret-value-2"}, stored.Secrets)

	// Disabling shows in status; enabling brings it back.
	upd = ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"enabled": false}})
	require.Equal(t, http.StatusOK, upd.status)
	assert.Equal(t, "disabled", upd.data(t)["status"])
	list := ts.do(req{method: http.MethodGet, path: ferniBase + "?status=disabled"})
	require.Equal(t, http.StatusOK, list.status)
	assert.Len(t, list.json(t)["data"], 1)
	upd = ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"enabled": true}})
	assert.Equal(t, "active", upd.data(t)["status"])

	del := ts.do(req{method: http.MethodDelete, path: ferniBase + "/" + id})
	require.Equal(t, http.StatusOK, del.status)
	assert.Equal(t, map[string]any{"deleted": true, "id": id}, del.data(t))
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r := ts.do(req{method: m, path: ferniBase + "/" + id})
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "NOT_FOUND", r.ferniCode(t))
	}
	r := ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"timeout": 5000}})
	assert.Equal(t, http.StatusNotFound, r.status)

	ts.assertNoLeak("crm-secret-value-1", "crm-secret-value-2", "extra-secret-value", "literal-credential-value")
}

// TestFerniValidation: the registry's rules (names, endpoints and the URL
// policy, header templates, stdio off) answer in Ferni's error shape, and
// no refused create leaves a row.
func TestFerniValidation(t *testing.T) {
	ts := newTestServer(t)
	ts.ferniCreate(validFerni("taken"))

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
			r := ts.do(req{method: http.MethodPost, path: ferniBase, body: tc.body})
			require.Equal(t, tc.want, r.status, "%s", r.body)
			body := r.json(t)
			assert.Equal(t, false, body["success"])
			e := body["error"].(map[string]any)
			assert.Equal(t, tc.code, e["code"])
			assert.NotEmpty(t, e["message"])
		})
	}

	list := ts.do(req{method: http.MethodGet, path: ferniBase})
	assert.Len(t, list.json(t)["data"], 1, "no failed create may leave a row")
}

func TestFerniUpdateValidation(t *testing.T) {
	ts := newTestServer(t)
	id := ts.ferniCreate(map[string]any{
		"name": "crm", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "autoConnect": false,
		"headers": map[string]any{"X-Key": "{{secrets.K}}"}, "secrets": map[string]any{"K": "v-secret-1"},
	})["id"].(string)

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
			r := ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: tc.body})
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, tc.code, r.ferniCode(t))
		})
	}
	// Nothing changed.
	got := ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id}).data(t)
	assert.Equal(t, []any{"K"}, got["secretNames"])
	assert.Equal(t, "https://mcp.example.com/", got["endpoint"])

	// The same name is accepted (it is not a change).
	ok := ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"name": "crm"}})
	assert.Equal(t, http.StatusOK, ok.status)
}

func TestFerniPagination(t *testing.T) {
	ts := newTestServer(t)
	for i := range 7 {
		ts.ferniCreate(validFerni(fmt.Sprintf("srv-%d", i)))
	}
	names := func(r response) []string {
		var out []string
		for _, d := range r.json(t)["data"].([]any) {
			out = append(out, d.(map[string]any)["name"].(string))
		}
		return out
	}
	r := ts.do(req{method: http.MethodGet, path: ferniBase})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, map[string]any{"total": float64(7), "limit": float64(50), "offset": float64(0)}, r.json(t)["pagination"])
	assert.Equal(t, []string{"srv-0", "srv-1", "srv-2", "srv-3", "srv-4", "srv-5", "srv-6"}, names(r))

	r = ts.do(req{method: http.MethodGet, path: ferniBase + "?limit=3&offset=5"})
	assert.Equal(t, []string{"srv-5", "srv-6"}, names(r))
	assert.Equal(t, map[string]any{"total": float64(7), "limit": float64(3), "offset": float64(5)}, r.json(t)["pagination"])

	r = ts.do(req{method: http.MethodGet, path: ferniBase + "?offset=7"})
	assert.Empty(t, r.json(t)["data"])
	r = ts.do(req{method: http.MethodGet, path: ferniBase + "?limit=100"})
	assert.Equal(t, http.StatusOK, r.status)
	r = ts.do(req{method: http.MethodGet, path: ferniBase + "?status=error"})
	assert.Equal(t, float64(0), r.json(t)["pagination"].(map[string]any)["total"])

	for _, q := range []string{"limit=0", "limit=101", "limit=-1", "offset=-1", "limit=ten", "status=sleeping"} {
		t.Run(q, func(t *testing.T) {
			r := ts.do(req{method: http.MethodGet, path: ferniBase + "?" + q})
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, "VALIDATION_ERROR", r.ferniCode(t))
		})
	}
}

// TestFerniTestOutcome: POST /{id}/test reports the probe, success or
// failure, as a 200, and the row records it (status, lastError, tools).
func TestFerniTestOutcome(t *testing.T) {
	ts := newTestServer(t)
	id := ts.ferniCreate(validFerni("calc"))["id"].(string)
	test := func() map[string]any {
		t.Helper()
		r := ts.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test"})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		return r.data(t)
	}
	get := func() map[string]any {
		t.Helper()
		return ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id}).data(t)
	}

	res := test()
	assert.Equal(t, true, res["connected"])
	assert.Equal(t, float64(2), res["toolCount"])
	assert.Equal(t, map[string]any{"name": "fake-upstream", "version": "1.0.0"}, res["serverInfo"])
	assert.Equal(t, "streamable_http", res["transport"])
	assert.Equal(t, "2025-06-18", res["protocolVersion"])
	assert.Equal(t, []any{
		map[string]any{"name": "add", "description": "the add tool"},
		map[string]any{"name": "echo", "description": "the echo tool"},
	}, res["tools"])
	assert.Nil(t, res["errorCode"])
	d := get()
	assert.Equal(t, "active", d["status"])
	assert.Equal(t, float64(2), d["toolCount"])
	assert.NotNil(t, d["lastConnected"])
	assert.Equal(t, "streamable_http", d["connectedTransport"])

	// A failed probe is a 200 with connected false and the table's code;
	// the row moves to error with the same message.
	ts.prober.Fail(fmt.Errorf("%w after 30000ms", registry.ErrUpstreamTimeout))
	res = test()
	assert.Equal(t, false, res["connected"])
	assert.Equal(t, "MCP_TIMEOUT", res["errorCode"])
	assert.Contains(t, res["error"], "after 30000ms")
	assert.Nil(t, res["tools"])
	d = get()
	assert.Equal(t, "error", d["status"])
	assert.Equal(t, res["error"], d["lastError"])

	// The server comes back with one tool fewer: active again, and the
	// vanished tool is no longer listed.
	ts.prober.SetTools("add")
	assert.Equal(t, true, test()["connected"])
	d = get()
	assert.Equal(t, "active", d["status"])
	assert.Nil(t, d["lastError"])
	tools := ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id + "/tools"})
	require.Equal(t, http.StatusOK, tools.status)
	listed := tools.json(t)["data"].([]any)
	require.Len(t, listed, 1)
	only := listed[0].(map[string]any)
	assert.Equal(t, "add", only["name"])
	assert.Equal(t, "the add tool", only["description"])
	assert.Equal(t, map[string]any{"type": "object"}, only["inputSchema"])

	// Disabled servers are not probed; unknown ids are 404.
	require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"enabled": false}}).status)
	probes := len(ts.prober.Probed())
	r := ts.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "MCP_SERVER_DISABLED", r.ferniCode(t))
	assert.Len(t, ts.prober.Probed(), probes)
	assert.Equal(t, http.StatusNotFound, ts.do(req{method: http.MethodPost, path: ferniBase + "/nope/test"}).status)
	assert.Equal(t, http.StatusNotFound, ts.do(req{method: http.MethodGet, path: ferniBase + "/nope/tools"}).status)
}

// TestFerniAutoConnect: a server created with autoConnect (the default)
// is probed in the background; one created without it is not.
func TestFerniAutoConnect(t *testing.T) {
	ts := newTestServer(t)
	manual := ts.ferniCreate(validFerni("manual"))["id"].(string)
	body := validFerni("auto")
	delete(body, "autoConnect")
	auto := ts.ferniCreate(body)["id"].(string)
	require.Eventually(t, func() bool {
		return ts.do(req{method: http.MethodGet, path: ferniBase + "/" + auto}).data(t)["toolCount"] == float64(2)
	}, 10*time.Second, 5*time.Millisecond)

	ts.svc.Close() // waits for every background probe
	var probed []string
	for _, c := range ts.prober.Probed() {
		probed = append(probed, c.ID)
	}
	assert.Contains(t, probed, auto)
	assert.NotContains(t, probed, manual)
	assert.Equal(t, float64(0), ts.do(req{method: http.MethodGet, path: ferniBase + "/" + manual}).data(t)["toolCount"])
}
