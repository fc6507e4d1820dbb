package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
)

// TestKeyRotationCoversOAuth: rotation re-encrypts an OAuth connection's
// tokens and client credentials with the rest, and the connection keeps
// working under the new key alone.
func TestKeyRotationCoversOAuth(t *testing.T) {
	as := oauthtest.NewServer(t, oauthtest.Options{})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	id, authorizeURL, _ := oauthConnect(t, h, key, "Vault", rs.URL, nil)
	cb := oauthVisit(t, h, oauthBrowser, oauthtest.Consent(t, authorizeURL).String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	waitToolsStatus(t, h, key, id, "synced")

	old := keysStatus(t, h.dbPath).Primary
	require.Equal(t, 1, keysStatus(t, h.dbPath).values(old), "the OAuth document is one encrypted value")
	require.NoError(t, runCLI(t, "keys", "rotate", "--db", h.dbPath))
	require.NoError(t, h.m.ReloadKeys())
	require.Eventually(t, func() bool { return keysStatus(t, h.dbPath).values(old) == 0 }, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, runCLI(t, "keys", "retire", old, "--db", h.dbPath))
	require.NoError(t, h.stop())

	h2 := startOn(t, h.m.Config)
	assert.Equal(t, float64(3), oauthSum(t, oauthCallAdd(h2, key, id, "vault_add", 1, 2)), "the token decrypts under the new key")
}
