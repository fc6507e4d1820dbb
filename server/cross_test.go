package server_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrossDialect: one registry behind both dialects: a row made in one
// is listed, read, updated and deleted in the other, and names are one
// namespace.
func TestCrossDialect(t *testing.T) {
	ts := newTestServer(t)
	ts.prober.Fail(assertNotProbed{}) // nothing here needs a server

	// Ferni-created rows appear in Feather.
	ferniID := ts.ferniCreate(map[string]any{
		"name": "my-crm-tools", "description": "CRM", "transport": "streamable_http",
		"endpoint": "https://crm.example.com/mcp", "autoConnect": false,
	})["id"].(string)
	fc := ts.do(req{method: http.MethodGet, path: featherBase + "/" + ferniID})
	require.Equal(t, http.StatusOK, fc.status)
	assert.Equal(t, "my_crm_tools", fc.json(t)["nickname_slug"])
	assert.Equal(t, "my-crm-tools", fc.json(t)["nickname"])
	assert.Equal(t, "streamable_http", fc.json(t)["metadata"].(map[string]any)["transport"])

	// Feather-created rows appear in Ferni, credentials as templates.
	featherID := ts.featherConnect(map[string]any{"nickname": "Billing API", "server_url": "https://billing.example.com/mcp", "auth_type": "bearer", "token": "cross-dialect-token"})
	fs := ts.do(req{method: http.MethodGet, path: ferniBase + "/" + featherID})
	require.Equal(t, http.StatusOK, fs.status)
	d := fs.data(t)
	assert.Equal(t, "billing-api", d["name"])
	assert.Equal(t, "sse", d["transport"])
	assert.Equal(t, "https://billing.example.com/mcp", d["endpoint"])
	assert.Equal(t, map[string]any{"Authorization": "Bearer {{secrets.token}}"}, d["headers"])
	assert.Equal(t, []any{"token"}, d["secretNames"])

	// Both lists show both rows.
	assert.Len(t, ts.do(req{method: http.MethodGet, path: featherBase}).list(t), 2)
	assert.Equal(t, float64(2), ts.do(req{method: http.MethodGet, path: ferniBase}).json(t)["pagination"].(map[string]any)["total"])

	// Names are one namespace: a Ferni create colliding with a Feather slug is refused.
	r := ts.do(req{method: http.MethodPost, path: ferniBase, body: validFerni("billing-api")})
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, "MCP_NAME_EXISTS", r.ferniCode(t))
	// ... and a Feather connect colliding with a Ferni name takes a suffix.
	other := ts.featherConnect(map[string]any{"nickname": "my crm tools", "server_url": "https://a.example/"})
	assert.Equal(t, "my_crm_tools_2", ts.do(req{method: http.MethodGet, path: featherBase + "/" + other}).json(t)["nickname_slug"])

	// Update in one dialect, see it in the other. Stored credentials do
	// not follow the endpoint to another host: the move must send them
	// again, and a masked value cannot stand in for them.
	move := func(body map[string]any) response {
		body["endpoint"] = "https://billing2.example.com/mcp"
		return ts.do(req{method: http.MethodPut, path: ferniBase + "/" + featherID, body: body})
	}
	u := move(map[string]any{})
	require.Equal(t, http.StatusBadRequest, u.status, "%s", u.body)
	u = move(map[string]any{"headers": map[string]any{"Authorization": "********"}, "secrets": map[string]any{"token": "rotated-token"}})
	require.Equal(t, http.StatusBadRequest, u.status, "%s", u.body)
	u = move(map[string]any{"headers": map[string]any{"Authorization": "Bearer {{secrets.token}}"}, "secrets": map[string]any{"token": "rotated-token"}})
	require.Equal(t, http.StatusOK, u.status, "%s", u.body)
	assert.Equal(t, []any{"token"}, u.data(t)["secretNames"])
	assert.Equal(t, "https://billing2.example.com/mcp", ts.do(req{method: http.MethodGet, path: featherBase + "/" + featherID}).json(t)["metadata"].(map[string]any)["server_url"])
	ren := ts.do(req{method: http.MethodPatch, path: featherBase + "/" + ferniID, body: map[string]any{"nickname": "CRM (prod)"}})
	require.Equal(t, http.StatusOK, ren.status)
	assert.Equal(t, "my-crm-tools", ts.do(req{method: http.MethodGet, path: ferniBase + "/" + ferniID}).data(t)["name"], "a rename keeps the name")

	// Delete in one dialect, gone in the other.
	require.Equal(t, http.StatusNoContent, ts.do(req{method: http.MethodDelete, path: featherBase + "/" + ferniID}).status)
	assert.Equal(t, http.StatusNotFound, ts.do(req{method: http.MethodGet, path: ferniBase + "/" + ferniID}).status)
	require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodDelete, path: ferniBase + "/" + featherID}).status)
	assert.Equal(t, http.StatusNotFound, ts.do(req{method: http.MethodGet, path: featherBase + "/" + featherID}).status)

	ts.assertNoLeak("cross-dialect-token", "rotated-token")
}

// assertNotProbed is the error of a probe a test did not expect to matter.
type assertNotProbed struct{}

func (assertNotProbed) Error() string { return "not probed in this test" }

// TestTenantIsolation: every route that takes an id answers 404 to another
// tenant, in both dialects, and changes nothing.
func TestTenantIsolation(t *testing.T) {
	ts := newTestServer(t)
	keyB := ts.newKey("tenant-b")
	id := ts.featherConnect(map[string]any{"nickname": "Shared Name", "server_url": "https://mcp.example.com/mcp"})
	c := ts.waitToolsStatus(id, "synced")
	toolID := c["tools"].([]any)[0].(map[string]any)["id"].(string)
	probes := len(ts.prober.Probed())

	for _, rq := range []req{
		{method: http.MethodGet, path: ferniBase + "/" + id},
		{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"description": "hijack"}},
		{method: http.MethodDelete, path: ferniBase + "/" + id},
		{method: http.MethodPost, path: ferniBase + "/" + id + "/test"},
		{method: http.MethodGet, path: ferniBase + "/" + id + "/tools"},
		{method: http.MethodGet, path: featherBase + "/" + id},
		{method: http.MethodPatch, path: featherBase + "/" + id, body: map[string]any{"nickname": "hijack"}},
		{method: http.MethodDelete, path: featherBase + "/" + id},
		{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools"},
		{method: http.MethodPatch, path: featherBase + "/" + id + "/tools", body: map[string]any{"is_enabled": false}},
		{method: http.MethodPatch, path: featherBase + "/" + id + "/tools/" + toolID, body: map[string]any{"is_enabled": false}},
		{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", body: map[string]any{"slug": "shared_name_add"}},
		{method: http.MethodGet, path: featherBase + "/" + id + "/calls"},
		{method: http.MethodPost, path: "/v1/integrations/tools/shared_name_add/invoke", body: map[string]any{}},
	} {
		rq.key = keyB
		got := ts.do(rq)
		assert.Equal(t, http.StatusNotFound, got.status, "%s %s: %s", rq.method, rq.path, got.body)
	}
	assert.Empty(t, ts.do(req{method: http.MethodGet, path: featherBase, key: keyB}).list(t))
	assert.Empty(t, ts.do(req{method: http.MethodGet, path: ferniBase, key: keyB}).json(t)["data"])
	assert.Empty(t, ts.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: keyB}).list(t))
	assert.Len(t, ts.prober.Probed(), probes, "no probe for the other tenant")
	assert.Empty(t, ts.prober.Calls(), "no call for the other tenant")

	// Names are per tenant.
	r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", key: keyB, body: map[string]any{"nickname": "Shared Name", "server_url": "https://mcp.example.com/mcp"}})
	require.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, "shared_name", ts.do(req{method: http.MethodGet, path: featherBase + "/" + r.json(t)["connection_id"].(string), key: keyB}).json(t)["nickname_slug"])
	// The first tenant's row is untouched.
	got := ts.do(req{method: http.MethodGet, path: featherBase + "/" + id})
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "Shared Name", got.json(t)["nickname"])
	assert.Equal(t, true, got.json(t)["tools"].([]any)[0].(map[string]any)["is_enabled"])
	// Organization ids differ.
	orgB := ts.do(req{method: http.MethodGet, path: featherBase, key: keyB}).list(t)[0].(map[string]any)["organization_id"]
	assert.NotEqual(t, got.json(t)["organization_id"], orgB)
}
