package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCrossDialect(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")

	// Ferni-created rows appear in Feather.
	r := ferniCreate(h, key, map[string]any{
		"name": "my-crm-tools", "description": "CRM", "transport": "streamable_http",
		"endpoint": "https://crm.example.com/mcp",
	})
	require.Equal(t, http.StatusCreated, r.status)
	ferniID := r.json(t)["data"].(map[string]any)["id"].(string)
	fc := h.do(req{method: http.MethodGet, path: featherBase + "/" + ferniID, key: key})
	require.Equal(t, http.StatusOK, fc.status)
	assert.Equal(t, "my_crm_tools", fc.json(t)["nickname_slug"])
	assert.Equal(t, "my-crm-tools", fc.json(t)["nickname"])
	assert.Equal(t, "streamable_http", fc.json(t)["metadata"].(map[string]any)["transport"])

	// Feather-created rows appear in Ferni, credentials as templates.
	r = featherConnect(h, key, map[string]any{"nickname": "Billing API", "server_url": "https://billing.example.com/mcp", "auth_type": "bearer", "token": "cross-dialect-token"})
	require.Equal(t, http.StatusCreated, r.status)
	featherID := r.json(t)["connection_id"].(string)
	fs := h.do(req{method: http.MethodGet, path: ferniBase + "/" + featherID, key: key})
	require.Equal(t, http.StatusOK, fs.status)
	d := fs.json(t)["data"].(map[string]any)
	assert.Equal(t, "billing-api", d["name"])
	assert.Equal(t, "sse", d["transport"])
	assert.Equal(t, "https://billing.example.com/mcp", d["endpoint"])
	assert.Equal(t, map[string]any{"Authorization": "Bearer {{secrets.token}}"}, d["headers"])
	assert.Equal(t, []any{"token"}, d["secretNames"])

	// Both lists show both rows.
	assert.Len(t, h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t), 2)
	assert.Equal(t, float64(2), h.do(req{method: http.MethodGet, path: ferniBase, key: key}).json(t)["pagination"].(map[string]any)["total"])

	// Names are one namespace: a Ferni create colliding with a Feather slug is refused.
	r = ferniCreate(h, key, validFerni("billing-api"))
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, "MCP_NAME_EXISTS", r.json(t)["error"].(map[string]any)["code"])
	// ... and a Feather connect colliding with a Ferni name takes a suffix.
	r = featherConnect(h, key, map[string]any{"nickname": "my crm tools", "server_url": "https://a.example/"})
	require.Equal(t, http.StatusCreated, r.status)
	assert.Equal(t, "my_crm_tools_2", h.do(req{method: http.MethodGet, path: featherBase + "/" + r.json(t)["connection_id"].(string), key: key}).json(t)["nickname_slug"])

	// Update in one dialect, see it in the other.
	// Stored credentials do not follow the endpoint to another host: the
	// move must send them again.
	u := h.do(req{method: http.MethodPut, path: ferniBase + "/" + featherID, key: key, body: map[string]any{"endpoint": "https://billing2.example.com/mcp"}})
	require.Equal(t, http.StatusBadRequest, u.status, "%s", u.body)
	u = h.do(req{method: http.MethodPut, path: ferniBase + "/" + featherID, key: key, body: map[string]any{"endpoint": "https://billing2.example.com/mcp",
		"headers": map[string]any{"Authorization": "********"}, "secrets": map[string]any{"token": "rotated-token"}}})
	require.Equal(t, http.StatusBadRequest, u.status, "a masked value cannot carry a stored credential to a new host: %s", u.body)
	u = h.do(req{method: http.MethodPut, path: ferniBase + "/" + featherID, key: key, body: map[string]any{"endpoint": "https://billing2.example.com/mcp",
		"headers": map[string]any{"Authorization": "Bearer {{secrets.token}}"}, "secrets": map[string]any{"token": "rotated-token"}}})
	require.Equal(t, http.StatusOK, u.status, "%s", u.body)
	assert.Equal(t, []any{"token"}, u.json(t)["data"].(map[string]any)["secretNames"])
	assert.Equal(t, "https://billing2.example.com/mcp", h.do(req{method: http.MethodGet, path: featherBase + "/" + featherID, key: key}).json(t)["metadata"].(map[string]any)["server_url"])
	ren := h.do(req{method: http.MethodPatch, path: featherBase + "/" + ferniID, key: key, body: map[string]any{"nickname": "CRM (prod)"}})
	require.Equal(t, http.StatusOK, ren.status)
	assert.Equal(t, "my-crm-tools", h.do(req{method: http.MethodGet, path: ferniBase + "/" + ferniID, key: key}).json(t)["data"].(map[string]any)["name"])

	// Delete in one dialect, gone in the other.
	require.Equal(t, http.StatusNoContent, h.do(req{method: http.MethodDelete, path: featherBase + "/" + ferniID, key: key}).status)
	assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodGet, path: ferniBase + "/" + ferniID, key: key}).status)
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodDelete, path: ferniBase + "/" + featherID, key: key}).status)
	assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodGet, path: featherBase + "/" + featherID, key: key}).status)

	h.assertNoLeak("cross-dialect-token", "rotated-token")
}

func TestTenantIsolation(t *testing.T) {
	h := startTether(t)
	keyA, keyB := h.newKey("tenant-a"), h.newKey("tenant-b")
	r := ferniCreate(h, keyA, validFerni("shared-name"))
	require.Equal(t, http.StatusCreated, r.status)
	id := r.json(t)["data"].(map[string]any)["id"].(string)

	// Every id route answers 404 to the other tenant, in both dialects.
	for _, rq := range []req{
		{method: http.MethodGet, path: ferniBase + "/" + id},
		{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"description": "hijack"}},
		{method: http.MethodDelete, path: ferniBase + "/" + id},
		{method: http.MethodGet, path: featherBase + "/" + id},
		{method: http.MethodPatch, path: featherBase + "/" + id, body: map[string]any{"nickname": "hijack"}},
		{method: http.MethodDelete, path: featherBase + "/" + id},
	} {
		rq.key = keyB
		got := h.do(rq)
		assert.Equal(t, http.StatusNotFound, got.status, "%s %s: %s", rq.method, rq.path, got.body)
	}
	assert.Empty(t, h.do(req{method: http.MethodGet, path: featherBase, key: keyB}).list(t))
	assert.Empty(t, h.do(req{method: http.MethodGet, path: ferniBase, key: keyB}).json(t)["data"])
	// Names are per tenant.
	assert.Equal(t, http.StatusCreated, ferniCreate(h, keyB, validFerni("shared-name")).status)
	// A's row is untouched.
	got := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: keyA})
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, "CRM integration", got.json(t)["data"].(map[string]any)["description"])
	// Organization ids differ.
	orgA := h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: keyA}).json(t)["organization_id"]
	orgB := h.do(req{method: http.MethodGet, path: featherBase, key: keyB}).list(t)[0].(map[string]any)["organization_id"]
	assert.NotEqual(t, orgA, orgB)
}

func TestAuthentication(t *testing.T) {
	h := startTether(t, func(c *Config) { c.BootstrapAPIKey = "bootstrap-key-0123456789" })
	key := h.newKey("acme")
	paths := []req{
		{method: http.MethodGet, path: ferniBase},
		{method: http.MethodPost, path: ferniBase, body: validFerni("x")},
		{method: http.MethodGet, path: featherBase},
		{method: http.MethodPost, path: featherBase + "/custom-mcp", body: map[string]any{"bogus": true}},
		{method: http.MethodGet, path: "/v1/integrations/nope"},
	}
	for _, p := range paths {
		for name, k := range map[string]string{"no key": "", "unknown key": "tth_not-a-real-key-at-all"} {
			p.key = k
			r := h.do(p)
			require.Equal(t, http.StatusUnauthorized, r.status, "%s %s %s", name, p.method, p.path)
			if dialectOfPath(p.path) == "ferni" {
				assert.Equal(t, "UNAUTHORIZED", r.json(t)["error"].(map[string]any)["code"])
			} else {
				assert.Equal(t, "unauthorized", r.json(t)["error"])
			}
		}
	}
	// Both header styles work for both dialects; the bootstrap key too.
	for _, k := range []string{key, "bootstrap-key-0123456789"} {
		for _, bearer := range []bool{false, true} {
			assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: ferniBase, key: k, bearer: bearer}).status)
			assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: featherBase, key: k, bearer: bearer}).status)
		}
	}
	// A key revoked through the CLI while serving is refused at once.
	require.NoError(t, runCLI(t, "apikey", "revoke", key[:12], "--db", h.dbPath))
	assert.Equal(t, http.StatusUnauthorized, h.do(req{method: http.MethodGet, path: featherBase, key: key}).status)
	// Ops routes need no key.
	for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
		assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: p}).status, p)
	}
}

func dialectOfPath(p string) string {
	if len(p) >= len(ferniBase) && p[:len(ferniBase)] == ferniBase {
		return "ferni"
	}
	return "feather"
}
