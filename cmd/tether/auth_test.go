package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuthentication: the keys tether is started with (--bootstrap-api-key)
// and the keys the CLI creates and revokes while it serves are the ones
// both dialects accept. (The error shapes are tested in server/.)
func TestAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		h := startTether(t, on, func(c *Config) { c.BootstrapAPIKey = "bootstrap-key-0123456789" })
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
		// A key revoked through the CLI (another process: the server's
		// cache is not told) while serving is refused within a second, and
		// stays refused, on every route: see TestRevokedKeyRefusedOnMCP.
		require.NoError(t, runCLI(t, "apikey", "revoke", key[:12], "--db", h.dbPath))
		require.Eventually(t, func() bool {
			return h.do(req{method: http.MethodGet, path: featherBase, key: key}).status == http.StatusUnauthorized
		}, 10*time.Second, 50*time.Millisecond, "the revoked key is refused")
		for _, p := range paths {
			p.key = key
			assert.Equal(t, http.StatusUnauthorized, h.do(p).status, "revoked key: %s %s", p.method, p.path)
		}
		// Ops routes need no key.
		for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml"} {
			assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: p}).status, p)
		}
	})
}

func dialectOfPath(p string) string {
	if len(p) >= len(ferniBase) && p[:len(ferniBase)] == ferniBase {
		return "ferni"
	}
	return "feather"
}

// TestRevokedKeyRefusedOnMCP: an agent whose key is revoked by the CLI
// while its session is open and busy (the key is remembered by the server)
// is refused within a second, and from then on.
func TestRevokedKeyRefusedOnMCP(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	s := agent(t, h, key, "", nil)
	for range 20 {
		_, err := s.ListTools(t.Context(), nil)
		require.NoError(t, err)
	}

	require.NoError(t, runCLI(t, "apikey", "revoke", key[:12], "--db", h.dbPath))
	require.Eventually(t, func() bool {
		_, err := s.ListTools(t.Context(), nil)
		return err != nil
	}, 10*time.Second, 50*time.Millisecond, "the session's requests are refused")
	for range 5 {
		_, err := s.ListTools(t.Context(), nil)
		require.Error(t, err, "still refused")
		// A new session cannot start either.
		c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
		_, err = c.Connect(t.Context(), &mcp.StreamableClientTransport{
			Endpoint:   h.base + "/mcp",
			HTTPClient: &http.Client{Transport: keyTransport{key: key}},
		}, nil)
		require.Error(t, err, "a new session is refused")
		assert.Equal(t, http.StatusUnauthorized, h.do(req{method: http.MethodGet, path: ferniBase, key: key}).status)
	}
}
