package server_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFeatherCRUD(t *testing.T) {
	ts := newTestServer(t)
	ts.prober.Fail(fmt.Errorf("no server here")) // the initial syncs fail; this test is about the rows

	cases := []struct {
		name string
		body map[string]any
		auth string
	}{
		{"none", map[string]any{"nickname": "My MCP", "server_url": "https://mcp.example.com/mcp"}, "none"},
		{"bearer", map[string]any{"nickname": "My MCP", "server_url": "https://mcp.example.com/mcp", "transport": "http", "auth_type": "bearer", "token": "bearer-token-value"}, "bearer"},
		{"api_key", map[string]any{"nickname": "My MCP", "server_url": "https://mcp.example.com/mcp", "auth_type": "api_key", "api_key": "api-key-value", "api_key_header": "X-Custom-Key", "headers": map[string]any{"X-Tenant": "t1"}}, "api_key"},
	}
	var ids []string
	for _, tc := range cases {
		r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: tc.body})
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", tc.name, r.body)
		b := r.json(t)
		assert.Equal(t, "active", b["status"])
		assert.Equal(t, "mcp", b["vendor"])
		assert.Nil(t, b["authorize_url"])
		assert.Nil(t, b["state"])
		ids = append(ids, b["connection_id"].(string))
	}
	for _, id := range ids {
		ts.waitToolsStatus(id, "failed")
	}

	list := ts.do(req{method: http.MethodGet, path: featherBase})
	require.Equal(t, http.StatusOK, list.status)
	rows := list.list(t)
	require.Len(t, rows, 3)
	for i, row := range rows {
		c := row.(map[string]any)
		assert.Equal(t, ids[i], c["id"])
		assert.Equal(t, ts.tenant, c["organization_id"])
		assert.Equal(t, "custom_mcp", c["integration_key"])
		assert.Equal(t, "My MCP", c["nickname"])
		assert.Equal(t, "error", c["status"])
		assert.Equal(t, "no server here", c["status_reason"])
		assert.Equal(t, []any{}, c["tools"])
		meta := c["metadata"].(map[string]any)
		assert.Equal(t, "https://mcp.example.com/mcp", meta["server_url"])
		assert.Equal(t, cases[i].auth, meta["auth_type"])
	}
	// The nickname is free text; its slug takes the next free suffix.
	assert.Equal(t, "my_mcp", rows[0].(map[string]any)["nickname_slug"])
	assert.Equal(t, "my_mcp_2", rows[1].(map[string]any)["nickname_slug"])
	assert.Equal(t, "my_mcp_3", rows[2].(map[string]any)["nickname_slug"])
	assert.Equal(t, "sse", rows[0].(map[string]any)["metadata"].(map[string]any)["transport"], "Feather's default transport")

	// The credentials are stored as a header template and a secret.
	bearer, err := ts.svc.Get(t.Context(), ts.tenant, ids[1])
	require.NoError(t, err)
	assert.Equal(t, "bearer-token-value", bearer.Secrets["token"])
	apiKey, err := ts.svc.Get(t.Context(), ts.tenant, ids[2])
	require.NoError(t, err)
	assert.Equal(t, "api-key-value", apiKey.Secrets["api_key"])
	assert.Equal(t, "t1", apiKey.Headers["X-Tenant"])
	assert.Contains(t, apiKey.Headers, "X-Custom-Key")

	page := ts.do(req{method: http.MethodGet, path: featherBase + "?limit=1&offset=1"})
	require.Len(t, page.list(t), 1)
	assert.Equal(t, ids[1], page.list(t)[0].(map[string]any)["id"])

	// Rename: the slug stays.
	ren := ts.do(req{method: http.MethodPatch, path: featherBase + "/" + ids[0], body: map[string]any{"nickname": "Renamed Server"}})
	require.Equal(t, http.StatusOK, ren.status, "%s", ren.body)
	assert.Equal(t, "Renamed Server", ren.json(t)["nickname"])
	assert.Equal(t, "my_mcp", ren.json(t)["nickname_slug"])
	got := ts.do(req{method: http.MethodGet, path: featherBase + "/" + ids[0]})
	assert.Equal(t, "Renamed Server", got.json(t)["nickname"])
	// A PATCH without a nickname changes nothing.
	same := ts.do(req{method: http.MethodPatch, path: featherBase + "/" + ids[0], body: map[string]any{}})
	assert.Equal(t, "Renamed Server", same.json(t)["nickname"])

	del := ts.do(req{method: http.MethodDelete, path: featherBase + "/" + ids[0]})
	assert.Equal(t, http.StatusNoContent, del.status)
	assert.Empty(t, del.body)
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r := ts.do(req{method: m, path: featherBase + "/" + ids[0]})
		require.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "not_found", r.json(t)["error"])
		assert.NotEmpty(t, r.json(t)["message"])
	}
	r := ts.do(req{method: http.MethodPatch, path: featherBase + "/" + ids[0], body: map[string]any{"nickname": "x"}})
	assert.Equal(t, http.StatusNotFound, r.status)

	ts.assertNoLeak("bearer-token-value", "api-key-value")
}

// TestFeatherRules: the registry's rules answer in Feather's error shape,
// and no refused connect leaves a row.
func TestFeatherRules(t *testing.T) {
	ts := newTestServer(t)
	type body = map[string]any
	cases := []struct {
		name string
		body map[string]any
		err  string
	}{
		{"refused url", body{"nickname": "a", "server_url": "http://127.0.0.1:8080/mcp"}, "invalid_url"},
		{"metadata url", body{"nickname": "a", "server_url": "http://169.254.169.254/"}, "invalid_url"},
		{"not a url", body{"nickname": "a", "server_url": "mcp.example.com"}, "invalid_url"},
		{"bearer without token", body{"nickname": "a", "server_url": "https://a.example/", "auth_type": "bearer"}, "bad_request"},
		{"api_key without key", body{"nickname": "a", "server_url": "https://a.example/", "auth_type": "api_key"}, "bad_request"},
		{"token without bearer", body{"nickname": "a", "server_url": "https://a.example/", "token": "t"}, "bad_request"},
		{"template to missing secret", body{"nickname": "a", "server_url": "https://a.example/", "headers": body{"X-A": "{{secrets.nope}}"}}, "bad_request"},
		{"oauth fields without oauth", body{"nickname": "a", "server_url": "https://a.example/", "oauth_client_id": "c"}, "bad_request"},
		{"oauth not configured", body{"nickname": "a", "server_url": "https://a.example/", "auth_type": "oauth"}, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: tc.body})
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, tc.err, r.json(t)["error"])
			assert.NotEmpty(t, r.json(t)["message"])
		})
	}
	assert.Empty(t, ts.do(req{method: http.MethodGet, path: featherBase}).list(t), "no failed connect may leave a row")
}

func TestFeatherSlugs(t *testing.T) {
	ts := newTestServer(t)
	slugOf := func(nickname string) any {
		id := ts.featherConnect(map[string]any{"nickname": nickname, "server_url": "https://a.example/"})
		return ts.do(req{method: http.MethodGet, path: featherBase + "/" + id}).json(t)["nickname_slug"]
	}
	cases := []struct{ nickname, slug string }{
		{"My Slack Workspace", "my_slack_workspace"},
		{"  --CRM (prod)!! ", "crm_prod"},
		{"Ünïcode Tools", "n_code_tools"},
		{"!!!", "mcp"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.slug, slugOf(tc.nickname), tc.nickname)
	}
	for i := 2; i <= 4; i++ {
		assert.Equal(t, fmt.Sprintf("mcp_%d", i), slugOf("!!!"))
	}
}

// TestFeatherToolsSync: a connect syncs the server's tools at once; a
// refresh picks up changes, keeping each tool's id and settings; a
// connection that is not active cannot refresh.
func TestFeatherToolsSync(t *testing.T) {
	ts := newTestServer(t)
	id := ts.featherConnect(map[string]any{"nickname": "Calc", "server_url": "https://calc.example/mcp", "transport": "streamable_http"})
	c := ts.waitToolsStatus(id, "synced")
	assert.Equal(t, "active", c["status"])
	assert.NotNil(t, c["tools_synced_at"])
	meta := c["metadata"].(map[string]any)
	assert.Equal(t, map[string]any{"name": "fake-upstream", "version": "1.0.0"}, meta["server_info"])
	assert.Equal(t, "streamable_http", meta["connected_transport"])
	tools := c["tools"].([]any)
	require.Len(t, tools, 2)
	add := tools[0].(map[string]any)
	assert.Equal(t, "calc_add", add["slug"])
	assert.Equal(t, "add", add["tool_path"])
	assert.Equal(t, true, add["is_enabled"])
	assert.Equal(t, true, add["is_available"])

	// A setting made now survives the refresh.
	r := ts.do(req{method: http.MethodPatch, path: featherBase + "/" + id + "/tools/" + add["id"].(string), body: map[string]any{"is_enabled": false}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	ts.prober.SetTools("add", "get-sum")
	r = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools"})
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	c = ts.waitToolsStatus(id, "synced")
	bySlug := map[string]map[string]any{}
	for _, tl := range c["tools"].([]any) {
		bySlug[tl.(map[string]any)["slug"].(string)] = tl.(map[string]any)
	}
	require.Contains(t, bySlug, "calc_get_sum")
	assert.Equal(t, add["id"], bySlug["calc_add"]["id"], "the tool keeps its id")
	assert.Equal(t, false, bySlug["calc_add"]["is_enabled"], "and its settings")
	assert.Equal(t, false, bySlug["calc_echo"]["is_available"], "a vanished tool is kept, unavailable")

	// A failed sync puts the connection in error; refresh then needs it active.
	ts.prober.Fail(fmt.Errorf("gone"))
	require.Equal(t, http.StatusAccepted, ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools"}).status)
	c = ts.waitToolsStatus(id, "failed")
	assert.Equal(t, "error", c["status"])
	r = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools"})
	require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
	assert.Equal(t, "not_active", r.json(t)["error"])
}
