package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/internal/spectest"
	"github.com/tether-dev/tether/internal/syncbuf"
	"github.com/tether-dev/tether/store"
)

// End-to-end tests of tether's OAuth 2.1 client: the real wiring, a fake
// authorization server (internal/oauthtest) and a go-sdk MCP server
// protected by auth.RequireBearerToken, with the user's browser played by
// the test.

const oauthCallbackPath = "/v1/integrations/oauth/callback"

// startOAuthTether is startTether with Main.Now set to clock (nil: the real
// clock), so OAuth states and tokens can be expired by moving it.
func startOAuthTether(t *testing.T, clock *oauthtest.Clock, mods ...func(*Config)) *harness {
	t.Helper()
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DB:              filepath.Join(t.TempDir(), "tether.db"),
		ShutdownTimeout: 5e9,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	logs := &syncbuf.Buffer{}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if clock != nil {
		m.Now = clock.Now
	}
	require.NoError(t, m.Run(context.Background()))
	t.Cleanup(func() { _ = m.Close() })
	return &harness{t: t, m: m, base: "http://" + m.Addr, dbPath: cfg.DB, logs: logs}
}

// oauthNoFollow makes a client stop at each redirect, so every hop is checked.
func oauthNoFollow(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// oauthBrowser is the user's browser for plain-http servers.
var oauthBrowser = &http.Client{CheckRedirect: oauthNoFollow, Timeout: 10 * time.Second}

// newOAuthMCP starts a go-sdk MCP server (tools add and echo, named
// oauth-upstream) protected by as.
func newOAuthMCP(t *testing.T, as *oauthtest.Server, o oauthtest.ResourceOptions) *oauthtest.ResourceServer {
	t.Helper()
	o.MCP = mcp.NewServer(&mcp.Implementation{Name: "oauth-upstream", Version: "2.0.0"}, nil)
	mcptest.Add(o.MCP)
	mcptest.Echo(o.MCP)
	return oauthtest.NewResourceServer(t, as, o)
}

// oauthVisit GETs a tether URL (the callback) with browser, without
// following redirects. The response is kept for leak checks and checked
// against openapi.yaml, and an HTML page must say it is one.
func oauthVisit(t *testing.T, h *harness, browser *http.Client, rawURL string) response {
	t.Helper()
	resp, err := browser.Get(rawURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	body := buf.Bytes()
	h.mu.Lock()
	h.bodies = append(h.bodies, body)
	h.mu.Unlock()

	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	assert.NoError(t, spectest.CheckResponse(http.MethodGet, u.RequestURI(), nil, resp.StatusCode, resp.Header, body))
	if resp.StatusCode != http.StatusFound {
		assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"), "Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// oauthAssertRefused checks a refused callback: 400, a self-contained
// HTML page, no referrer, not cached.
func oauthAssertRefused(t *testing.T, r response, what string) {
	t.Helper()
	assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", what, r.body)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/html"), "%s: Content-Type %q", what, r.header.Get("Content-Type"))
	assert.Equal(t, "no-referrer", r.header.Get("Referrer-Policy"), what)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"), what)
	assert.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'", what)
	assert.Contains(t, string(r.body), "Authorization not completed", what)
}

// oauthConnect connects serverURL with auth_type oauth (extra fields
// added) and returns the connection id, authorize_url and state.
func oauthConnect(t *testing.T, h *harness, key, nickname, serverURL string, extra map[string]any) (id, authorizeURL, state string) {
	t.Helper()
	body := map[string]any{"nickname": nickname, "server_url": serverURL, "transport": "streamable_http", "auth_type": "oauth"}
	for k, v := range extra {
		body[k] = v
	}
	r := featherConnect(h, key, body)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	b := r.json(t)
	assert.Equal(t, "pending_oauth", b["status"])
	assert.Equal(t, "mcp", b["vendor"])
	authorizeURL, _ = b["authorize_url"].(string)
	state, _ = b["state"].(string)
	require.NotEmpty(t, authorizeURL)
	require.NotEmpty(t, state)
	return b["connection_id"].(string), authorizeURL, state
}

func oauthRow(t *testing.T, h *harness, key, id string) map[string]any {
	t.Helper()
	r := h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return r.json(t)
}

func oauthToolSlugs(c map[string]any) []string {
	var out []string
	for _, tool := range c["tools"].([]any) {
		out = append(out, tool.(map[string]any)["slug"].(string))
	}
	return out
}

// oauthCallAdd calls the add tool through Feather's test-mcp-call.
func oauthCallAdd(h *harness, key, id, slug string, a, b int) response {
	return h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", key: key,
		body: map[string]any{"slug": slug, "input": map[string]any{"a": a, "b": b}}})
}

func oauthSum(t *testing.T, r response) float64 {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	return r.json(t)["result"].(map[string]any)["structuredContent"].(map[string]any)["sum"].(float64)
}

// oauthAssertNotAtRest reads the database file, its WAL and shared memory
// byte by byte: none of values may appear.
func oauthAssertNotAtRest(t *testing.T, dbPath string, values []string) {
	t.Helper()
	require.NotEmpty(t, values)
	if store.IsPostgresURL(dbPath) {
		notAtRestPostgres(t, dbPath, values)
		return
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		data, err := os.ReadFile(dbPath + suffix)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		for _, v := range values {
			assert.False(t, bytes.Contains(data, []byte(v)), "%q found in plaintext in %s", v, dbPath+suffix)
		}
	}
}

// TestOAuthDCRLifecycle runs one connection through everything: discovery
// from the 401's resource_metadata, dynamic registration, the browser round
// trip, the tool sync over the bearer-protected server, a replayed
// callback, refresh with rotation (one refresh under concurrent use),
// invalid_grant → reauth_required, re-authorization, and revocation on
// delete; no secret in any response, log line or the database file.
func TestOAuthDCRLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		clock := oauthtest.NewClock()
		as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
		// A metadata URL no well-known rule yields: only the header leads to it.
		rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/meta/resource", Advertise: true, ChallengeScopes: []string{"mcp:tools"}})
		h := startOAuthTether(t, clock, on, allowLoopback)
		key := h.newKey("acme")
		redirectURI := h.base + oauthCallbackPath

		// Connect: pending_oauth with an authorize URL at the AS.
		id, authorizeURL, state := oauthConnect(t, h, key, "Files", rs.URL, nil)
		assert.Contains(t, rs.Requested(), "GET /meta/resource", "discovery followed the challenge's resource_metadata")
		for _, p := range rs.Requested() {
			assert.NotContains(t, p, "/.well-known/", "the header was enough")
		}
		regs := as.Registrations()
		require.Len(t, regs, 1)
		assert.ElementsMatch(t, []any{"authorization_code", "refresh_token"}, regs[0]["grant_types"])
		assert.Equal(t, []any{"code"}, regs[0]["response_types"])
		assert.Equal(t, []any{redirectURI}, regs[0]["redirect_uris"])
		assert.Equal(t, "none", regs[0]["token_endpoint_auth_method"])

		au, err := url.Parse(authorizeURL)
		require.NoError(t, err)
		require.Equal(t, as.URL+"/authorize", au.Scheme+"://"+au.Host+au.Path)
		aq := au.Query()
		clientID := aq.Get("client_id")
		assert.True(t, strings.HasPrefix(clientID, "dcr-"), "the registered client: %q", clientID)
		assert.Equal(t, state, aq.Get("state"))
		assert.Equal(t, "code", aq.Get("response_type"))
		assert.Equal(t, "S256", aq.Get("code_challenge_method"))
		assert.Equal(t, rs.URL, aq.Get("resource"))
		assert.Equal(t, redirectURI, aq.Get("redirect_uri"))
		assert.Equal(t, "mcp:tools", aq.Get("scope"), "the challenge's scope")

		c := oauthRow(t, h, key, id)
		assert.Equal(t, "pending_oauth", c["status"])
		assert.Equal(t, "oauth", c["metadata"].(map[string]any)["auth_type"])
		res := ferniTest(t, h, key, id)
		assert.Equal(t, false, res["connected"])
		assert.Equal(t, "MCP_AUTH_FAILED", res["errorCode"])
		assert.Contains(t, res["error"], "pending_oauth")
		assert.Empty(t, as.TokenRequests())

		// The browser: the AS validates and sends it back; tether completes.
		back := oauthtest.Consent(t, authorizeURL)
		assert.Equal(t, redirectURI, back.Scheme+"://"+back.Host+back.Path)
		assert.Equal(t, state, back.Query().Get("state"))
		assert.Equal(t, as.Issuer(), back.Query().Get("iss"))
		cb := oauthVisit(t, h, oauthBrowser, back.String())
		require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
		assert.Equal(t, "no-referrer", cb.header.Get("Referrer-Policy"))
		assert.Equal(t, "no-store", cb.header.Get("Cache-Control"))
		assert.Contains(t, cb.header.Get("Content-Security-Policy"), "default-src 'none'")
		assert.Contains(t, string(cb.body), "Connected")
		assert.Contains(t, string(cb.body), "Files")
		// One script, the console's (same origin, never inline), tells the
		// console tab how the authorization ended.
		assert.Equal(t, 1, strings.Count(string(cb.body), "<script"))
		assert.Contains(t, string(cb.body), `<script src="/console/oauth-return.js" defer></script>`)
		assert.Contains(t, strings.Split(cb.header.Get("Content-Security-Policy"), "; "), "script-src 'self'", "no inline script may run")

		codes := as.TokenRequestsOf("authorization_code")
		require.Len(t, codes, 1)
		exchange := codes[0]
		require.Equal(t, http.StatusOK, exchange.Status, exchange.Error)
		assert.Equal(t, rs.URL, exchange.Form.Get("resource"))
		assert.Equal(t, clientID, exchange.Form.Get("client_id"))
		assert.Equal(t, redirectURI, exchange.Form.Get("redirect_uri"))
		assert.NotEmpty(t, exchange.Form.Get("code_verifier"))
		assert.False(t, exchange.HasBasic, "a public client")

		// Active, with the tools listed through the bearer-protected server.
		c = waitToolsStatus(t, h, key, id, "synced")
		assert.Equal(t, "active", c["status"])
		assert.ElementsMatch(t, []string{"files_add", "files_echo"}, oauthToolSlugs(c))
		assert.Equal(t, "oauth-upstream", c["metadata"].(map[string]any)["server_info"].(map[string]any)["name"])
		assert.Equal(t, float64(5), oauthSum(t, oauthCallAdd(h, key, id, "files_add", 2, 3)))

		// The same callback again: refused, nothing changes.
		oauthAssertRefused(t, oauthVisit(t, h, oauthBrowser, back.String()), "replayed callback")
		assert.Len(t, as.TokenRequests(), 1, "a replay reaches no token endpoint")
		assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])

		// Refresh with rotation: the access token expires (at the AS too: the
		// resource server would refuse it); a probe refreshes first.
		rt1 := as.TokenRequestsOf("authorization_code")[0].RefreshToken
		require.NotEmpty(t, rt1)
		clock.Advance(time.Hour)
		res = ferniTest(t, h, key, id)
		require.Equal(t, true, res["connected"], "%v", res["error"])
		assert.Equal(t, float64(2), res["toolCount"])
		refreshes := as.TokenRequestsOf("refresh_token")
		require.Len(t, refreshes, 1)
		assert.Equal(t, http.StatusOK, refreshes[0].Status, refreshes[0].Error)
		assert.Equal(t, rt1, refreshes[0].Form.Get("refresh_token"))
		assert.Equal(t, rs.URL, refreshes[0].Form.Get("resource"), "resource on the refresh")
		assert.Equal(t, clientID, refreshes[0].Form.Get("client_id"))
		rt2 := refreshes[0].RefreshToken
		require.NotEmpty(t, rt2)
		require.NotEqual(t, rt1, rt2, "the AS rotated")
		// The AS now takes only the rotated token.
		status, body := as.PostToken(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "client_id": {clientID}, "resource": {rs.URL}})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", body["error"])
		assert.True(t, as.RefreshValid(rt2))

		// Expire again, then use the connection from several requests at once:
		// one refresh, with the rotated token tether persisted.
		before := len(as.TokenRequestsOf("refresh_token"))
		clock.Advance(time.Hour)
		var wg sync.WaitGroup
		sums := make([]response, 4)
		for i := range sums {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[i] = oauthCallAdd(h, key, id, "files_add", i, 10)
			}()
		}
		wg.Wait()
		for i, r := range sums {
			assert.Equal(t, float64(i+10), oauthSum(t, r))
		}
		refreshes = as.TokenRequestsOf("refresh_token")[before:]
		require.Len(t, refreshes, 1, "one refresh at a time per connection")
		assert.Equal(t, http.StatusOK, refreshes[0].Status, refreshes[0].Error)
		assert.Equal(t, rt2, refreshes[0].Form.Get("refresh_token"), "the rotated refresh token was the one persisted")
		assert.Equal(t, rs.URL, refreshes[0].Form.Get("resource"))
		assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])

		// The user revokes tether at the AS: the next refresh is invalid_grant
		// and the row moves to reauth_required, visibly.
		as.SetRefuseRefresh(true)
		clock.Advance(time.Hour)
		before = len(as.TokenRequestsOf("refresh_token"))
		res = ferniTest(t, h, key, id)
		assert.Equal(t, false, res["connected"])
		assert.Equal(t, "MCP_AUTH_FAILED", res["errorCode"])
		assert.Contains(t, res["error"], "re-authorization required")
		refreshes = as.TokenRequestsOf("refresh_token")[before:]
		require.Len(t, refreshes, 1)
		assert.Equal(t, "invalid_grant", refreshes[0].Error)
		c = oauthRow(t, h, key, id)
		assert.Equal(t, "reauth_required", c["status"])
		assert.Contains(t, c["status_reason"], "re-authorize")
		fr := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key})
		require.Equal(t, http.StatusOK, fr.status)
		assert.Equal(t, "reauth_required", fr.json(t)["data"].(map[string]any)["status"])
		// Later uses report the state without asking the AS again.
		res = ferniTest(t, h, key, id)
		assert.Equal(t, false, res["connected"])
		assert.Equal(t, "MCP_AUTH_FAILED", res["errorCode"])
		assert.Contains(t, res["error"], "reauth_required")
		r := oauthCallAdd(h, key, id, "files_add", 1, 1)
		assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
		assert.Contains(t, r.json(t)["message"], "reauth_required")
		assert.Len(t, as.TokenRequestsOf("refresh_token"), before+1)
		as.SetRefuseRefresh(false)

		// Re-authorize: a new authorization for the same client.
		r = h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/reauthorize", key: key})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		assert.Equal(t, id, b["connection_id"])
		assert.Equal(t, "pending_oauth", b["status"])
		authorizeURL2, _ := b["authorize_url"].(string)
		state2, _ := b["state"].(string)
		require.NotEmpty(t, state2)
		assert.NotEqual(t, state, state2)
		assert.NotEqual(t, authorizeURL, authorizeURL2)
		assert.Equal(t, "pending_oauth", oauthRow(t, h, key, id)["status"])
		back2 := oauthtest.Consent(t, authorizeURL2)
		assert.Len(t, as.Registrations(), 1, "the registered client is reused")
		assert.Equal(t, clientID, as.AuthorizeRequests()[1].Get("client_id"))
		assert.Equal(t, rs.URL, as.AuthorizeRequests()[1].Get("resource"))
		cb = oauthVisit(t, h, oauthBrowser, back2.String())
		require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
		assert.Contains(t, string(cb.body), "Connected")
		assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])
		codes = as.TokenRequestsOf("authorization_code")
		require.Len(t, codes, 2)
		require.Equal(t, http.StatusOK, codes[1].Status, codes[1].Error)
		at3, rt3 := codes[1].AccessToken, codes[1].RefreshToken
		require.Eventually(t, func() bool {
			for _, tok := range as.Presented() {
				if tok == at3 {
					return true
				}
			}
			return false
		}, 10*time.Second, 10*time.Millisecond, "the post-callback sync used the new token")
		assert.Equal(t, float64(7), oauthSum(t, oauthCallAdd(h, key, id, "files_add", 3, 4)))

		// Delete: the refresh token (and the access token) are revoked at the AS.
		require.Equal(t, http.StatusNoContent, h.do(req{method: http.MethodDelete, path: featherBase + "/" + id, key: key}).status)
		require.Eventually(t, func() bool { return !as.RefreshValid(rt3) }, 10*time.Second, 10*time.Millisecond, "the refresh token was never revoked")
		var hints []string
		for _, rv := range as.Revocations() {
			switch rv.Get("token") {
			case rt3:
				hints = append(hints, "refresh:"+rv.Get("token_type_hint"))
				assert.Equal(t, clientID, rv.Get("client_id"))
			case at3:
				hints = append(hints, "access:"+rv.Get("token_type_hint"))
			}
		}
		assert.Contains(t, hints, "refresh:refresh_token")

		// No secret anywhere: responses, logs, the database.
		secrets := as.SecretValues()
		require.GreaterOrEqual(t, len(secrets), 8)
		h.assertNoLeak(secrets...)
		oauthAssertNotAtRest(t, h.dbPath, append(secrets, state, state2))
		require.NoError(t, h.stop())
		oauthAssertNotAtRest(t, h.dbPath, append(secrets, state, state2))
	})
}

// TestOAuthSuppliedClient: a client_id (with a secret, then without) the
// user registered at the AS themselves; no registration happens, the
// secret authenticates the token requests (HTTP Basic) and never shows. With
// --oauth-return-url the callback answers 302 to it.
func TestOAuthSuppliedClient(t *testing.T) {
	as := oauthtest.NewServer(t, oauthtest.Options{Edit: func(m map[string]any) {
		m["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic", "none"}
		m["authorization_response_iss_parameter_supported"] = true
	}})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	const returnURL = "https://app.example/integrations/done?tab=mcp"
	h := startTether(t, allowLoopback, func(c *Config) { c.OAuthReturnURL = returnURL })
	key := h.newKey("acme")
	redirectURI := h.base + oauthCallbackPath
	secret := "supplied-secret-" + oauthtest.Random()
	as.Preregister("my-confidential-client", secret, redirectURI)
	as.Preregister("my-public-client", "", redirectURI)

	// Feather's default transport (sse, falling back to streamable HTTP).
	r := featherConnect(h, key, map[string]any{"nickname": "Vault", "server_url": rs.URL, "auth_type": "oauth",
		"oauth_client_id": "my-confidential-client", "oauth_client_secret": secret})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["connection_id"].(string)
	authorizeURL := r.json(t)["authorize_url"].(string)
	assert.Empty(t, as.Registrations(), "a supplied client_id needs no registration")
	back := oauthtest.Consent(t, authorizeURL)
	assert.Equal(t, "my-confidential-client", as.AuthorizeRequests()[0].Get("client_id"))

	cb := oauthVisit(t, h, oauthBrowser, back.String())
	require.Equal(t, http.StatusFound, cb.status, "%s", cb.body)
	assert.Equal(t, "no-referrer", cb.header.Get("Referrer-Policy"))
	loc, err := url.Parse(cb.header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, "https://app.example/integrations/done", loc.Scheme+"://"+loc.Host+loc.Path)
	assert.Equal(t, url.Values{"tab": {"mcp"}, "connection_id": {id}, "status": {"active"}}, loc.Query())

	exchange := as.TokenRequestsOf("authorization_code")
	require.Len(t, exchange, 1)
	require.Equal(t, http.StatusOK, exchange[0].Status, exchange[0].Error)
	assert.True(t, exchange[0].HasBasic, "client_secret_basic")
	assert.Equal(t, "my-confidential-client", exchange[0].BasicUser)
	assert.Empty(t, exchange[0].Form.Get("client_secret"), "the secret travels in the Authorization header only")
	assert.Equal(t, rs.URL, exchange[0].Form.Get("resource"))
	c := waitToolsStatus(t, h, key, id, "synced")
	assert.Equal(t, "active", c["status"])
	assert.ElementsMatch(t, []string{"vault_add", "vault_echo"}, oauthToolSlugs(c))
	assert.Equal(t, "streamable_http", c["metadata"].(map[string]any)["connected_transport"])
	assert.Equal(t, float64(3), oauthSum(t, oauthCallAdd(h, key, id, "vault_add", 1, 2)))

	// A public supplied client: client_id in the form, no Basic.
	id2, authorizeURL2, _ := oauthConnect(t, h, key, "Vault Public", rs.URL, map[string]any{"oauth_client_id": "my-public-client"})
	cb = oauthVisit(t, h, oauthBrowser, oauthtest.Consent(t, authorizeURL2).String())
	require.Equal(t, http.StatusFound, cb.status, "%s", cb.body)
	loc, err = url.Parse(cb.header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, id2, loc.Query().Get("connection_id"))
	assert.Equal(t, "active", loc.Query().Get("status"))
	exchange = as.TokenRequestsOf("authorization_code")
	require.Len(t, exchange, 2)
	assert.False(t, exchange[1].HasBasic)
	assert.Equal(t, "my-public-client", exchange[1].Form.Get("client_id"))
	waitToolsStatus(t, h, key, id2, "synced")

	// An error from the AS also goes back to the return URL, with the status.
	id3, _, state3 := oauthConnect(t, h, key, "Vault Denied", rs.URL, map[string]any{"oauth_client_id": "my-public-client"})
	q := url.Values{"state": {state3}, "error": {"access_denied"}, "iss": {as.Issuer()}}
	cb = oauthVisit(t, h, oauthBrowser, h.base+oauthCallbackPath+"?"+q.Encode())
	require.Equal(t, http.StatusFound, cb.status, "%s", cb.body)
	loc, err = url.Parse(cb.header.Get("Location"))
	require.NoError(t, err)
	assert.Equal(t, id3, loc.Query().Get("connection_id"))
	assert.Equal(t, "error", loc.Query().Get("status"))
	assert.Contains(t, oauthRow(t, h, key, id3)["status_reason"], "access_denied")

	secrets := append(as.SecretValues(), secret)
	h.assertNoLeak(secrets...)
	oauthAssertNotAtRest(t, h.dbPath, secrets)
}

// TestOAuthClientIDMetadataDocument: with an https public URL and an AS
// that supports client ID metadata documents, tether's client_id is its
// document's URL (preferred over the AS's registration endpoint); the AS
// fetches the document over TLS and finds the callback in it.
func TestOAuthClientIDMetadataDocument(t *testing.T) {
	// tether behind a TLS front: its public URL is https.
	var proxy atomic.Pointer[httputil.ReverseProxy]
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := proxy.Load()
		if p == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	as := oauthtest.NewServer(t, oauthtest.Options{
		CIMDClient: front.Client(),
		Edit:       func(m map[string]any) { m["client_id_metadata_document_supported"] = true },
	})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	h := startTether(t, allowLoopback, func(c *Config) { c.PublicURL = front.URL })
	target, err := url.Parse(h.base)
	require.NoError(t, err)
	proxy.Store(httputil.NewSingleHostReverseProxy(target))
	key := h.newKey("acme")
	cimdURL := front.URL + "/oauth/client-metadata.json"
	redirectURI := front.URL + oauthCallbackPath

	// The document, without an API key.
	r := h.do(req{method: http.MethodGet, path: "/oauth/client-metadata.json"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	doc := r.json(t)
	assert.Equal(t, cimdURL, doc["client_id"])
	assert.Contains(t, doc["redirect_uris"], redirectURI)
	assert.Contains(t, doc["grant_types"], "refresh_token")
	assert.Equal(t, "none", doc["token_endpoint_auth_method"])

	id, authorizeURL, _ := oauthConnect(t, h, key, "Docs", rs.URL, nil)
	assert.Empty(t, as.Registrations(), "a client ID metadata document is preferred to registration")
	aq := oauthQuery(t, authorizeURL)
	assert.Equal(t, cimdURL, aq.Get("client_id"))
	assert.Equal(t, redirectURI, aq.Get("redirect_uri"))

	back := oauthtest.Consent(t, authorizeURL)
	assert.Equal(t, []string{cimdURL}, as.CIMDFetches(), "the AS fetched tether's document over TLS")
	assert.Equal(t, redirectURI, back.Scheme+"://"+back.Host+back.Path)
	browser := *front.Client()
	browser.CheckRedirect = oauthNoFollow
	cb := oauthVisit(t, h, &browser, back.String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	assert.Contains(t, string(cb.body), "Connected")

	exchange := as.TokenRequestsOf("authorization_code")
	require.Len(t, exchange, 1)
	require.Equal(t, http.StatusOK, exchange[0].Status, exchange[0].Error)
	assert.Equal(t, cimdURL, exchange[0].Form.Get("client_id"))
	assert.Equal(t, redirectURI, exchange[0].Form.Get("redirect_uri"))
	assert.False(t, exchange[0].HasBasic)
	c := waitToolsStatus(t, h, key, id, "synced")
	assert.Equal(t, "active", c["status"])
	assert.Len(t, c["tools"], 2)
	h.assertNoLeak(as.SecretValues()...)
}

func oauthQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

// TestOAuthDiscover: POST /discover through the challenge's
// resource_metadata, and through the well-known fallbacks (root protected
// resource metadata, path-appended OpenID configuration); nothing is
// written. A connection through the fallbacks then completes.
func TestOAuthDiscover(t *testing.T) {
	asHeader := oauthtest.NewServer(t, oauthtest.Options{})
	rsHeader := newOAuthMCP(t, asHeader, oauthtest.ResourceOptions{PRMPath: "/meta/resource", Advertise: true, ChallengeScopes: []string{"mcp:tools"}})
	asOIDC := oauthtest.NewServer(t, oauthtest.Options{
		IssuerPath:    "/realms/acme",
		MetadataPaths: []string{"/realms/acme/.well-known/openid-configuration"},
	})
	rsFallback := newOAuthMCP(t, asOIDC, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource", PRMScopes: []string{"files:read"}})
	asNoDCR := oauthtest.NewServer(t, oauthtest.Options{
		Edit: func(m map[string]any) { delete(m, "registration_endpoint") },
	})
	rsNoDCR := newOAuthMCP(t, asNoDCR, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp"})
	open := newUpstream(t, false)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	discover := func(serverURL string) response {
		t.Helper()
		return h.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp/discover", key: key, body: map[string]any{"server_url": serverURL}})
	}

	r := discover(rsHeader.URL)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{
		"supports_dcr": true, "authorize_url": asHeader.URL + "/authorize", "token_url": asHeader.URL + "/token",
		"scopes": []any{"mcp:tools"},
	}, r.json(t))
	assert.Contains(t, rsHeader.Requested(), "GET /meta/resource")

	r = discover(rsFallback.URL)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{
		"supports_dcr": true, "authorize_url": asOIDC.URL + "/authorize", "token_url": asOIDC.URL + "/token",
		"scopes": []any{"files:read"},
	}, r.json(t))
	var prmAsked []string
	for _, p := range rsFallback.Requested() {
		if strings.Contains(p, "/.well-known/") {
			prmAsked = append(prmAsked, p)
		}
	}
	assert.Equal(t, []string{"GET /.well-known/oauth-protected-resource/mcp", "GET /.well-known/oauth-protected-resource"}, prmAsked,
		"path-inserted, then root")
	assert.Equal(t, []string{
		"/.well-known/oauth-authorization-server/realms/acme",
		"/.well-known/openid-configuration/realms/acme",
		"/realms/acme/.well-known/openid-configuration",
	}, asOIDC.MetadataRequests(), "RFC 8414, OIDC path-inserted, OIDC path-appended")

	r = discover(rsNoDCR.URL)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, false, r.json(t)["supports_dcr"])
	assert.Equal(t, asNoDCR.URL+"/authorize", r.json(t)["authorize_url"])

	r = discover(open.URL())
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, map[string]any{"supports_dcr": false, "authorize_url": nil, "token_url": nil, "scopes": []any{}}, r.json(t))

	r = discover("http://169.254.169.254/mcp")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "invalid_url", r.json(t)["error"])

	assert.Empty(t, h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t), "discover writes nothing")
	assert.Empty(t, asHeader.Registrations())
	assert.Empty(t, asOIDC.Registrations())

	// Connect through the fallbacks and complete.
	id, authorizeURL, _ := oauthConnect(t, h, key, "Fallback", rsFallback.URL, nil)
	aq := oauthQuery(t, authorizeURL)
	assert.Equal(t, "files:read", aq.Get("scope"), "the metadata's scopes_supported")
	assert.Equal(t, rsFallback.URL, aq.Get("resource"))
	back := oauthtest.Consent(t, authorizeURL)
	assert.Equal(t, asOIDC.Issuer(), back.Query().Get("iss"))
	cb := oauthVisit(t, h, oauthBrowser, back.String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	c := waitToolsStatus(t, h, key, id, "synced")
	assert.Equal(t, "active", c["status"])
	assert.ElementsMatch(t, []string{"fallback_add", "fallback_echo"}, oauthToolSlugs(c))
	h.assertNoLeak(append(asOIDC.SecretValues(), asHeader.SecretValues()...)...)
}

// TestOAuthConnectRefusals: an AS whose metadata states another issuer, an
// AS without PKCE S256, and one without registration (no client_id given)
// are 400 on connect, and nothing is written or registered.
func TestOAuthConnectRefusals(t *testing.T) {
	newPair := func(edit func(map[string]any)) (*oauthtest.Server, *oauthtest.ResourceServer) {
		as := oauthtest.NewServer(t, oauthtest.Options{Edit: edit})
		return as, newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	}
	asIss, rsIss := newPair(func(m map[string]any) { m["issuer"] = "https://evil.example" })
	asPlain, rsPlain := newPair(func(m map[string]any) { m["code_challenge_methods_supported"] = []string{"plain"} })
	asNone, rsNone := newPair(func(m map[string]any) { delete(m, "code_challenge_methods_supported") })
	asNoDCR, rsNoDCR := newPair(func(m map[string]any) { delete(m, "registration_endpoint") })
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	connect := func(serverURL string, extra map[string]any) response {
		t.Helper()
		body := map[string]any{"nickname": "Refused", "server_url": serverURL, "transport": "streamable_http", "auth_type": "oauth"}
		for k, v := range extra {
			body[k] = v
		}
		return featherConnect(h, key, body)
	}

	for _, tc := range []struct {
		name, url, want string
	}{
		{"issuer mismatch", rsIss.URL, "issuer"},
		{"PKCE plain only", rsPlain.URL, "S256"},
		{"no code_challenge_methods_supported", rsNone.URL, "S256"},
		{"no registration and no client_id", rsNoDCR.URL, "client_id"},
	} {
		r := connect(tc.url, nil)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", tc.name, r.body)
		assert.Equal(t, "bad_request", r.json(t)["error"], tc.name)
		assert.Contains(t, r.json(t)["message"], tc.want, tc.name)
	}
	r := h.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp/discover", key: key, body: map[string]any{"server_url": rsIss.URL}})
	assert.Equal(t, http.StatusBadRequest, r.status, "discover refuses the mismatched issuer too: %s", r.body)
	assert.Empty(t, h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t), "nothing written")
	for _, as := range []*oauthtest.Server{asIss, asPlain, asNone, asNoDCR} {
		assert.Empty(t, as.Registrations())
		assert.Empty(t, as.TokenRequests())
	}

	// A supplied client_id makes the server without registration usable.
	r = connect(rsNoDCR.URL, map[string]any{"oauth_client_id": "handmade"})
	assert.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, "handmade", oauthQuery(t, r.json(t)["authorize_url"].(string)).Get("client_id"))
}

// TestOAuthCallbackRefusals: a missing, unknown, foreign, expired or
// reused state, an iss that does not match (or is missing though the AS
// advertises it), and a response with no code are 400 pages that change
// nothing: the row stays pending_oauth and no token request reaches the
// AS. error=access_denied consumes the state and marks the row error.
func TestOAuthCallbackRefusals(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{
		Now:  clock.Now,
		Edit: func(m map[string]any) { m["authorization_response_iss_parameter_supported"] = true },
	})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	h := startOAuthTether(t, clock, allowLoopback)
	key := h.newKey("acme")
	id, authorizeURL, state := oauthConnect(t, h, key, "Guarded", rs.URL, nil)
	genuine := oauthtest.Consent(t, authorizeURL).Query()
	require.Equal(t, state, genuine.Get("state"))

	callback := func(q url.Values) response {
		t.Helper()
		return oauthVisit(t, h, oauthBrowser, h.base+oauthCallbackPath+"?"+q.Encode())
	}
	with := func(change func(q url.Values)) url.Values {
		q := url.Values{}
		for k, v := range genuine {
			q[k] = append([]string(nil), v...)
		}
		change(q)
		return q
	}
	refused := func(what string, q url.Values) {
		t.Helper()
		oauthAssertRefused(t, callback(q), what)
		assert.Empty(t, as.TokenRequests(), "%s: no token request reached the AS", what)
		c := oauthRow(t, h, key, id)
		assert.Equal(t, "pending_oauth", c["status"], what)
		assert.Equal(t, "waiting for the user to authorize", c["status_reason"], what)
	}

	// A second tether (another deployment on the same AS) mints a state.
	h2 := startTether(t, allowLoopback)
	key2 := h2.newKey("acme")
	id2, authorizeURL2, _ := oauthConnect(t, h2, key2, "Elsewhere", rs.URL, nil)
	foreign := oauthtest.Consent(t, authorizeURL2).Query()

	refused("no state", with(func(q url.Values) { q.Del("state") }))
	refused("unknown state", with(func(q url.Values) { q.Set("state", oauthtest.Random()) }))
	refused("foreign state", foreign)
	assert.Equal(t, "pending_oauth", oauthRow(t, h2, key2, id2)["status"])
	refused("iss mismatch", with(func(q url.Values) { q.Set("iss", "https://evil.example") }))
	refused("iss missing though advertised", with(func(q url.Values) { q.Del("iss") }))
	refused("no code", with(func(q url.Values) { q.Del("code") }))
	refused("error with a mismatched iss", url.Values{"state": {state}, "error": {"access_denied"}, "iss": {"https://evil.example"}})

	// The genuine response, 11 minutes late: expired.
	clock.Advance(11 * time.Minute)
	refused("expired state", genuine)

	// Start again; the callback completes once, a replay changes nothing.
	r := h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/reauthorize", key: key})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	fresh := oauthtest.Consent(t, r.json(t)["authorize_url"].(string))
	cb := oauthVisit(t, h, oauthBrowser, fresh.String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	require.Len(t, as.TokenRequests(), 1)
	assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])
	oauthAssertRefused(t, oauthVisit(t, h, oauthBrowser, fresh.String()), "reused state")
	assert.Len(t, as.TokenRequests(), 1, "a reused state reaches no token endpoint")
	assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])

	// The user denies: the row is error with the reason; the state is spent.
	idDenied, _, stateDenied := oauthConnect(t, h, key, "Denied", rs.URL, nil)
	denied := url.Values{"state": {stateDenied}, "error": {"access_denied"}, "error_description": {"The user said no"}, "iss": {as.Issuer()}}
	cb = callback(denied)
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	assert.Equal(t, "no-referrer", cb.header.Get("Referrer-Policy"))
	assert.Contains(t, string(cb.body), "Authorization failed")
	assert.Contains(t, string(cb.body), "access_denied")
	c := oauthRow(t, h, key, idDenied)
	assert.Equal(t, "error", c["status"])
	assert.Contains(t, c["status_reason"], "access_denied")
	assert.Contains(t, c["status_reason"], "The user said no")
	oauthAssertRefused(t, callback(denied), "a spent error state")
	assert.Equal(t, "error", oauthRow(t, h, key, idDenied)["status"])
	assert.Len(t, as.TokenRequests(), 1)

	h.assertNoLeak(as.SecretValues()...)
	h2.assertNoLeak(as.SecretValues()...)
}
