package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const featherBase = "/v1/integrations/connections"

func featherConnect(h *harness, key string, body map[string]any) response {
	return h.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", key: key, body: body})
}

// TestFeatherOAuthDiscoveryFails: an OAuth connect to a server whose
// discovery cannot be done (the real client, an unreachable host) is a 400
// and writes nothing. (Feather's other rules are tested in server/.)
func TestFeatherOAuthDiscoveryFails(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	r := featherConnect(h, key, map[string]any{"nickname": "a", "server_url": "https://a.example/", "auth_type": "oauth"})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "bad_request", r.json(t)["error"])
	assert.NotEmpty(t, r.json(t)["message"])
	assert.Empty(t, h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t), "no failed connect may leave a row")
}
