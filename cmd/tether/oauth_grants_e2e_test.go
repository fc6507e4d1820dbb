package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/internal/oauthtest"
)

// End-to-end tests of the MCP authorization rules the conformance suite's
// client scenarios exercise: step-up authorization, the 2025-03-26
// fallback endpoints, and the client_credentials grant. Real wiring, a
// fake authorization server and go-sdk MCP servers behind its tokens.

// TestOAuthStepUp: a server whose "write" tool needs mcp:write answers a
// token for mcp:basic with 403 insufficient_scope; the row moves to
// reauth_required naming the scopes (both dialects), reauthorize asks for
// mcp:basic and mcp:write, and after the user consents the call succeeds.
func TestOAuthStepUp(t *testing.T) {
	as := oauthtest.NewServer(t, oauthtest.Options{})
	o := oauthtest.ResourceOptions{
		PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true,
		ChallengeScopes: []string{"mcp:basic"},
		ToolScopes:      map[string][]string{"write": {"mcp:basic", "mcp:write"}},
		MCP:             mcp.NewServer(&mcp.Implementation{Name: "scoped", Version: "1.0.0"}, nil),
	}
	mcptest.Add(o.MCP)
	mcptest.AddNamed("write", "Adds, with write access")(o.MCP)
	rs := oauthtest.NewResourceServer(t, as, o)
	h := startOAuthTether(t, nil, allowLoopback)
	key := h.newKey("acme")

	id, authorizeURL, _ := oauthConnect(t, h, key, "Docs", rs.URL, nil)
	assert.Equal(t, "mcp:basic", oauthQuery(t, authorizeURL).Get("scope"))
	cb := oauthVisit(t, h, oauthBrowser, oauthtest.Consent(t, authorizeURL).String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	waitToolsStatus(t, h, key, id, "synced")
	assert.Equal(t, float64(3), oauthSum(t, oauthCallAdd(h, key, id, "docs_add", 1, 2)), "mcp:basic is enough for add")

	r := oauthCallAdd(h, key, id, "docs_write", 1, 2)
	assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	assert.Contains(t, r.json(t)["message"], "insufficient scope")
	c := oauthRow(t, h, key, id)
	assert.Equal(t, "reauth_required", c["status"])
	assert.Contains(t, c["status_reason"], `"mcp:basic mcp:write"`)
	fr := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key})
	require.Equal(t, http.StatusOK, fr.status)
	data := fr.json(t)["data"].(map[string]any)
	assert.Equal(t, "reauth_required", data["status"])
	assert.Contains(t, data["lastError"], `"mcp:basic mcp:write"`)

	r = h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/reauthorize", key: key})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	authorizeURL2 := r.json(t)["authorize_url"].(string)
	assert.Equal(t, "mcp:basic mcp:write", oauthQuery(t, authorizeURL2).Get("scope"), "stored plus challenged")
	cb = oauthVisit(t, h, oauthBrowser, oauthtest.Consent(t, authorizeURL2).String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])
	assert.Equal(t, float64(9), oauthSum(t, oauthCallAdd(h, key, id, "docs_write", 4, 5)), "the wider grant reaches write")
	assert.Equal(t, float64(7), oauthSum(t, oauthCallAdd(h, key, id, "docs_add", 3, 4)))

	secrets := as.SecretValues()
	h.assertNoLeak(secrets...)
	oauthAssertNotAtRest(t, h.dbPath, secrets)
}

// TestOAuthFallback20250326: a server that publishes no metadata at all
// (neither protected resource metadata nor authorization server metadata
// at any well-known path) is connected through /authorize, /token and
// /register at its base URL, dynamic registration included.
func TestOAuthFallback20250326(t *testing.T) {
	as := oauthtest.NewServer(t, oauthtest.Options{MetadataPaths: []string{}})
	srv := mcp.NewServer(&mcp.Implementation{Name: "legacy", Version: "0.3.26"}, nil)
	mcptest.Add(srv)
	as.ServeResource(oauthtest.ResourceOptions{MCP: srv})
	h := startOAuthTether(t, nil, allowLoopback)
	key := h.newKey("acme")

	r := h.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp/discover", key: key, body: map[string]any{"server_url": as.URL + "/mcp"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{"supports_dcr": true, "authorize_url": as.URL + "/authorize", "token_url": as.URL + "/token", "scopes": []any{}}, r.json(t))

	id, authorizeURL, _ := oauthConnect(t, h, key, "Legacy", as.URL+"/mcp", nil)
	regs := as.Registrations()
	require.Len(t, regs, 1, "registered at /register")
	assert.Equal(t, []any{h.base + oauthCallbackPath}, regs[0]["redirect_uris"])
	aq := oauthQuery(t, authorizeURL)
	assert.Equal(t, as.URL+"/mcp", aq.Get("resource"))
	assert.Equal(t, "S256", aq.Get("code_challenge_method"))
	cb := oauthVisit(t, h, oauthBrowser, oauthtest.Consent(t, authorizeURL).String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	c := waitToolsStatus(t, h, key, id, "synced")
	assert.Equal(t, "active", c["status"])
	assert.Equal(t, float64(5), oauthSum(t, oauthCallAdd(h, key, id, "legacy_add", 2, 3)))
	codes := as.TokenRequestsOf("authorization_code")
	require.Len(t, codes, 1)
	assert.Equal(t, http.StatusOK, codes[0].Status, codes[0].Error)
	assert.Contains(t, as.MetadataRequests(), "/.well-known/oauth-authorization-server")
	h.assertNoLeak(as.SecretValues()...)
}

// TestOAuthClientCredentials: machine-to-machine connections with each
// client authentication the AS verifies (HTTP Basic, the secret in the
// body, an RFC 7523 assertion signed with an RSA or an Ed25519 key): born
// active with no browser step, tools synced and called with the issued
// token, and a new token requested with the grant once it expires (there
// is no refresh token). No secret, key or token in any response, log line
// or the database file.
func TestOAuthClientCredentials(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: []string{"mcp:tools"}})
	h := startOAuthTether(t, clock, allowLoopback)
	key := h.newKey("acme")

	secret := "m2m-secret-" + oauthtest.Random()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pemOf := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	rsaPEM, edPEM := pemOf(rsaKey), pemOf(edKey)
	as.PreregisterMachine("m2m-basic", secret, nil)
	as.PreregisterMachine("m2m-post", secret, nil)
	as.PreregisterMachine("m2m-rsa", "", rsaKey.Public())
	as.PreregisterMachine("m2m-ed", "", edKey.Public())

	tests := []struct {
		nickname, slug, client, method string
		extra                          map[string]any
	}{
		{"Basic", "basic_add", "m2m-basic", "client_secret_basic", map[string]any{"oauth_client_secret": secret}},
		{"Post", "post_add", "m2m-post", "client_secret_post", map[string]any{"oauth_client_secret": secret}},
		{"Rsa", "rsa_add", "m2m-rsa", "private_key_jwt", map[string]any{"oauth_private_key": rsaPEM}},
		{"Ed", "ed_add", "m2m-ed", "private_key_jwt", map[string]any{"oauth_private_key": edPEM}},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		body := map[string]any{"nickname": tt.nickname, "server_url": rs.URL, "transport": "streamable_http", "auth_type": "oauth",
			"oauth_grant": "client_credentials", "oauth_token_endpoint_auth": tt.method, "oauth_client_id": tt.client}
		for k, v := range tt.extra {
			body[k] = v
		}
		r := featherConnect(h, key, body)
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", tt.nickname, r.body)
		b := r.json(t)
		assert.Equal(t, "active", b["status"], tt.nickname)
		assert.Nil(t, b["authorize_url"], tt.nickname)
		assert.Nil(t, b["state"], tt.nickname)
		ids[tt.nickname] = b["connection_id"].(string)
	}
	assert.Empty(t, as.AuthorizeRequests(), "no browser step")
	assert.Empty(t, as.Registrations(), "the owners' clients are used as they are")

	byClient := func() map[string][]oauthtest.TokenRequest {
		out := map[string][]oauthtest.TokenRequest{}
		for _, tr := range as.TokenRequestsOf("client_credentials") {
			id := tr.Form.Get("client_id")
			if tr.HasBasic {
				id = tr.BasicUser
			}
			out[id] = append(out[id], tr)
		}
		return out
	}
	for _, tt := range tests {
		c := waitToolsStatus(t, h, key, ids[tt.nickname], "synced")
		assert.Equal(t, "active", c["status"], tt.nickname)
		assert.Equal(t, "oauth", c["metadata"].(map[string]any)["auth_type"], tt.nickname)
		assert.Contains(t, oauthToolSlugs(c), tt.slug)
		assert.Equal(t, float64(3), oauthSum(t, oauthCallAdd(h, key, ids[tt.nickname], tt.slug, 1, 2)), tt.nickname)
		grants := byClient()[tt.client]
		require.Len(t, grants, 1, tt.nickname)
		assert.Equal(t, http.StatusOK, grants[0].Status, grants[0].Error)
		assert.Equal(t, tt.method, grants[0].ClientAuth, "verified by the AS: %s", tt.nickname)
		assert.Equal(t, rs.URL, grants[0].Form.Get("resource"))
		assert.Equal(t, "mcp:tools", grants[0].Form.Get("scope"))
		assert.Contains(t, as.Presented(), grants[0].AccessToken, "the issued token reached the server: %s", tt.nickname)
	}

	// The tokens expire (at the AS too): each connection asks again.
	clock.Advance(time.Hour)
	for _, tt := range tests {
		assert.Equal(t, float64(11), oauthSum(t, oauthCallAdd(h, key, ids[tt.nickname], tt.slug, 5, 6)), tt.nickname)
		grants := byClient()[tt.client]
		require.Len(t, grants, 2, tt.nickname)
		assert.Equal(t, http.StatusOK, grants[1].Status, grants[1].Error)
		assert.Equal(t, tt.method, grants[1].ClientAuth, tt.nickname)
		assert.NotEqual(t, grants[0].AccessToken, grants[1].AccessToken)
	}
	assert.Empty(t, as.TokenRequestsOf("refresh_token"), "client_credentials has no refresh token")

	secrets := append(as.SecretValues(), secret, rsaPEM, edPEM, "PRIVATE KEY")
	h.assertNoLeak(secrets...)
	oauthAssertNotAtRest(t, h.dbPath, secrets)
	require.NoError(t, h.stop())
	oauthAssertNotAtRest(t, h.dbPath, secrets)
}
