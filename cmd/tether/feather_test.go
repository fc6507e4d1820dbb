package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const featherBase = "/v1/integrations/connections"

func featherConnect(h *harness, key string, body map[string]any) response {
	return h.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", key: key, body: body})
}

func TestFeatherCRUD(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")

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
		r := featherConnect(h, key, tc.body)
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", tc.name, r.body)
		b := r.json(t)
		assert.Equal(t, "active", b["status"])
		assert.Equal(t, "mcp", b["vendor"])
		assert.Nil(t, b["authorize_url"])
		assert.Nil(t, b["state"])
		ids = append(ids, b["connection_id"].(string))
	}

	list := h.do(req{method: http.MethodGet, path: featherBase, key: key, bearer: true})
	require.Equal(t, http.StatusOK, list.status)
	rows := list.list(t)
	require.Len(t, rows, 3)
	for i, row := range rows {
		c := row.(map[string]any)
		assert.Equal(t, ids[i], c["id"])
		assert.Equal(t, "custom_mcp", c["integration_key"])
		assert.Equal(t, "My MCP", c["nickname"])
		// The initial sync runs at once; mcp.example.com is unreachable here.
		assert.Contains(t, []any{"pending", "syncing", "failed"}, c["tools_status"])
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

	page := h.do(req{method: http.MethodGet, path: featherBase + "?limit=1&offset=1", key: key})
	require.Len(t, page.list(t), 1)
	assert.Equal(t, ids[1], page.list(t)[0].(map[string]any)["id"])

	// Rename: the slug stays.
	ren := h.do(req{method: http.MethodPatch, path: featherBase + "/" + ids[0], key: key, body: map[string]any{"nickname": "Renamed Server"}})
	require.Equal(t, http.StatusOK, ren.status, "%s", ren.body)
	assert.Equal(t, "Renamed Server", ren.json(t)["nickname"])
	assert.Equal(t, "my_mcp", ren.json(t)["nickname_slug"])
	got := h.do(req{method: http.MethodGet, path: featherBase + "/" + ids[0], key: key})
	assert.Equal(t, "Renamed Server", got.json(t)["nickname"])
	// A PATCH without a nickname changes nothing.
	same := h.do(req{method: http.MethodPatch, path: featherBase + "/" + ids[0], key: key, body: map[string]any{}})
	assert.Equal(t, "Renamed Server", same.json(t)["nickname"])

	del := h.do(req{method: http.MethodDelete, path: featherBase + "/" + ids[0], key: key})
	assert.Equal(t, http.StatusNoContent, del.status)
	assert.Empty(t, del.body)
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		r := h.do(req{method: m, path: featherBase + "/" + ids[0], key: key})
		require.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "not_found", r.json(t)["error"])
		assert.NotEmpty(t, r.json(t)["message"])
	}
	r := h.do(req{method: http.MethodPatch, path: featherBase + "/" + ids[0], key: key, body: map[string]any{"nickname": "x"}})
	assert.Equal(t, http.StatusNotFound, r.status)

	h.assertNoLeak("bearer-token-value", "api-key-value")
}

func TestFeatherValidation(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	type item = map[string]any
	cases := []struct {
		name  string
		body  map[string]any
		loc   []any
		typ   string
		extra bool
	}{
		{"missing nickname", item{"server_url": "https://a.example/"}, []any{"body", "nickname"}, "missing", false},
		{"missing server_url", item{"nickname": "a"}, []any{"body", "server_url"}, "missing", false},
		{"unknown field", item{"nickname": "a", "server_url": "https://a.example/", "colour": "blue"}, []any{"body", "colour"}, "extra_forbidden", false},
		{"nickname not a string", item{"nickname": 5, "server_url": "https://a.example/"}, []any{"body", "nickname"}, "string_type", false},
		{"token not a string", item{"nickname": "a", "server_url": "https://a.example/", "token": true}, []any{"body", "token"}, "string_type", false},
		{"headers not an object", item{"nickname": "a", "server_url": "https://a.example/", "headers": []any{"x"}}, []any{"body", "headers"}, "dict_type", false},
		{"bad auth_type", item{"nickname": "a", "server_url": "https://a.example/", "auth_type": "magic"}, []any{"body", "auth_type"}, "enum", false},
		{"bad transport", item{"nickname": "a", "server_url": "https://a.example/", "transport": "stdio"}, []any{"body", "transport"}, "enum", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := featherConnect(h, key, tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
			detail := r.json(t)["detail"].([]any)
			require.NotEmpty(t, detail)
			first := detail[0].(map[string]any)
			assert.Equal(t, tc.loc, first["loc"])
			assert.Equal(t, tc.typ, first["type"])
			assert.NotEmpty(t, first["msg"])
		})
	}

	bad := []struct {
		name string
		body map[string]any
		err  string
	}{
		{"refused url", item{"nickname": "a", "server_url": "http://127.0.0.1:8080/mcp"}, "invalid_url"},
		{"metadata url", item{"nickname": "a", "server_url": "http://169.254.169.254/"}, "invalid_url"},
		{"not a url", item{"nickname": "a", "server_url": "mcp.example.com"}, "invalid_url"},
		{"bearer without token", item{"nickname": "a", "server_url": "https://a.example/", "auth_type": "bearer"}, "bad_request"},
		{"api_key without key", item{"nickname": "a", "server_url": "https://a.example/", "auth_type": "api_key"}, "bad_request"},
		{"token without bearer", item{"nickname": "a", "server_url": "https://a.example/", "token": "t"}, "bad_request"},
		{"template to missing secret", item{"nickname": "a", "server_url": "https://a.example/", "headers": item{"X-A": "{{secrets.nope}}"}}, "bad_request"},
		{"oauth server unreachable", item{"nickname": "a", "server_url": "https://a.example/", "auth_type": "oauth"}, "bad_request"},
		{"oauth fields without oauth", item{"nickname": "a", "server_url": "https://a.example/", "oauth_client_id": "c"}, "bad_request"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := featherConnect(h, key, tc.body)
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, tc.err, r.json(t)["error"])
			assert.NotEmpty(t, r.json(t)["message"])
		})
	}

	for _, q := range []string{"limit=0", "limit=abc", "offset=-1"} {
		r := h.do(req{method: http.MethodGet, path: featherBase + "?" + q, key: key})
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s: %s", q, r.body)
		assert.Equal(t, "query", r.json(t)["detail"].([]any)[0].(map[string]any)["loc"].([]any)[0])
	}
	for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
		r := h.do(req{method: m, path: featherBase + "/not-a-uuid", key: key, body: map[string]any{}})
		require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s: %s", m, r.body)
		first := r.json(t)["detail"].([]any)[0].(map[string]any)
		assert.Equal(t, []any{"path", "connection_id"}, first["loc"])
		assert.Equal(t, "uuid_parsing", first["type"])
	}
	r := h.do(req{method: http.MethodPatch, path: featherBase + "/00000000-0000-4000-8000-000000000000", key: key, body: map[string]any{"slug": "x"}})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, "unknown field on PATCH")
	assert.Empty(t, h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t), "no failed connect may leave a row")
}

func TestFeatherSlugs(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	cases := []struct{ nickname, slug string }{
		{"My Slack Workspace", "my_slack_workspace"},
		{"  --CRM (prod)!! ", "crm_prod"},
		{"Ünïcode Tools", "n_code_tools"},
		{"!!!", "mcp"},
	}
	for _, tc := range cases {
		r := featherConnect(h, key, map[string]any{"nickname": tc.nickname, "server_url": "https://a.example/"})
		require.Equal(t, http.StatusCreated, r.status)
		got := h.do(req{method: http.MethodGet, path: featherBase + "/" + r.json(t)["connection_id"].(string), key: key})
		assert.Equal(t, tc.slug, got.json(t)["nickname_slug"], tc.nickname)
	}
	for i := 2; i <= 4; i++ {
		r := featherConnect(h, key, map[string]any{"nickname": "!!!", "server_url": "https://a.example/"})
		got := h.do(req{method: http.MethodGet, path: featherBase + "/" + r.json(t)["connection_id"].(string), key: key})
		assert.Equal(t, fmt.Sprintf("mcp_%d", i), got.json(t)["nickname_slug"])
	}
}
