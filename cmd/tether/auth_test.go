package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuthentication: the keys tether is started with (--bootstrap-api-key)
// and the keys the CLI creates and revokes while it serves are the ones
// both dialects accept. (The error shapes are tested in server/.)
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
