package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// Handlers of the OAuth grants and step-up, over the real registry and
// oauth packages and a fake authorization server (on loopback, which the
// URL policy here lets through).

func withOAuth(clock *oauthtest.Clock) func(*setup) {
	return withRegistry(func(o *registry.Options) {
		g := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		o.URLs = g
		client := oauth.New(oauth.Options{HTTPClient: g.HTTPClient(netguard.ClientOptions{Timeout: 10 * time.Second}), Now: clock.Now})
		o.OAuth = &registry.OAuthOptions{
			Authorizer:  &oauth.Authorizer{Client: client, Now: clock.Now},
			States:      o.Store.(registry.OAuthStore),
			RedirectURI: "http://127.0.0.1:8080/v1/integrations/oauth/callback",
		}
		o.Now = clock.Now
	})
}

// challenged is an upstream 403 carrying a WWW-Authenticate challenge, as
// mcpclient reports it.
type challenged struct{ header string }

func (e *challenged) Error() string         { return "authentication rejected: HTTP 403" }
func (e *challenged) Unwrap() error         { return registry.ErrUpstreamAuth }
func (e *challenged) AuthChallenge() string { return e.header }

// TestFeatherClientCredentials: oauth_grant client_credentials is born
// active with authorize_url and state null, for each client
// authentication; the secret and the private key never come back.
func TestFeatherClientCredentials(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	ts := newTestServer(t, withOAuth(clock))

	secret := "cc-secret-" + oauthtest.Random()
	as.PreregisterMachine("svc-basic", secret, nil)
	as.PreregisterMachine("svc-post", secret, nil)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	as.PreregisterMachine("svc-jwt", "", key.Public())

	for _, tc := range []struct {
		client, method string
		extra          map[string]any
	}{
		{"svc-basic", "client_secret_basic", map[string]any{"oauth_client_secret": secret}},
		{"svc-post", "client_secret_post", map[string]any{"oauth_client_secret": secret}},
		{"svc-jwt", "private_key_jwt", map[string]any{"oauth_private_key": keyPEM}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			body := map[string]any{"nickname": "Reports " + tc.method, "server_url": rs.URL, "transport": "streamable_http", "auth_type": "oauth",
				"oauth_grant": "client_credentials", "oauth_token_endpoint_auth": tc.method, "oauth_client_id": tc.client}
			for k, v := range tc.extra {
				body[k] = v
			}
			r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: body})
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			b := r.json(t)
			assert.Equal(t, "active", b["status"])
			assert.Nil(t, b["authorize_url"])
			assert.Nil(t, b["state"])
			c := ts.waitToolsStatus(b["connection_id"].(string), "synced")
			assert.Equal(t, "active", c["status"])
			last := as.TokenRequestsOf("client_credentials")
			require.NotEmpty(t, last)
			assert.Equal(t, tc.method, last[len(last)-1].ClientAuth)
		})
	}

	// The same from Ferni's side: an OAuth row, no secret shown.
	r := ts.do(req{method: http.MethodGet, path: ferniBase})
	require.Equal(t, http.StatusOK, r.status)
	ts.assertNoLeak(append(as.SecretValues(), secret, "PRIVATE KEY")...)
}

// TestFeatherClientCredentialsRefusals: schema and rule violations answer
// before any token request, and never echo the key.
func TestFeatherClientCredentialsRefusals(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	ts := newTestServer(t, withOAuth(clock))
	as.PreregisterMachine("svc", "svc-right-secret", nil)
	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"nickname": "m", "server_url": rs.URL, "transport": "streamable_http", "auth_type": "oauth", "oauth_grant": "client_credentials"}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	const secretKey = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"unknown grant", base(map[string]any{"oauth_grant": "password"}), http.StatusUnprocessableEntity},
		{"unknown auth method", base(map[string]any{"oauth_token_endpoint_auth": "tls_client_auth"}), http.StatusUnprocessableEntity},
		{"a key of the wrong type", base(map[string]any{"oauth_client_id": "svc", "oauth_private_key": 42}), http.StatusUnprocessableEntity},
		{"grant without oauth", map[string]any{"nickname": "m", "server_url": rs.URL, "oauth_grant": "client_credentials"}, http.StatusBadRequest},
		{"no client id", base(map[string]any{"oauth_client_secret": "svc-right-secret"}), http.StatusBadRequest},
		{"a key that does not parse", base(map[string]any{"oauth_client_id": "svc", "oauth_private_key": secretKey}), http.StatusBadRequest},
		{"a refused secret", base(map[string]any{"oauth_client_id": "svc", "oauth_client_secret": "wrong"}), http.StatusBadRequest},
		{"a key with the code grant", map[string]any{"nickname": "m", "server_url": rs.URL, "auth_type": "oauth", "oauth_private_key": secretKey}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: tc.body})
			require.Equal(t, tc.status, r.status, "%s", r.body)
		})
	}
	assert.Empty(t, ts.do(req{method: http.MethodGet, path: featherBase}).list(t), "no refused connect leaves a row")
	assert.Len(t, as.TokenRequestsOf("client_credentials"), 1, "only the refused secret reached the token endpoint")
	ts.assertNoLeak("c2VjcmV0LWtleS1tYXRlcmlhbA==", "svc-right-secret")
}

// TestFeatherStepUp: an insufficient_scope challenge shows as
// reauth_required with the scopes in Feather's status_reason and Ferni's
// lastError; reauthorize asks for the stored and challenged scopes.
func TestFeatherStepUp(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: []string{"mcp:basic"}})
	ts := newTestServer(t, withOAuth(clock))

	r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: map[string]any{
		"nickname": "Files", "server_url": rs.URL, "transport": "streamable_http", "auth_type": "oauth"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["connection_id"].(string)
	back := oauthtest.Consent(t, r.json(t)["authorize_url"].(string))
	cb := ts.do(req{method: http.MethodGet, path: "/v1/integrations/oauth/callback?" + back.RawQuery, noKey: true})
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	ts.waitToolsStatus(id, "synced")

	ts.prober.SetCall(func(*registry.Connection, string, map[string]any) (map[string]any, error) {
		return nil, &challenged{header: `Bearer error="insufficient_scope", scope="mcp:basic mcp:write"`}
	})
	r = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", body: map[string]any{"slug": "files_add", "input": map[string]any{}}})
	assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	assert.Contains(t, r.json(t)["message"], "mcp:basic mcp:write")

	c := ts.do(req{method: http.MethodGet, path: featherBase + "/" + id}).json(t)
	assert.Equal(t, "reauth_required", c["status"])
	assert.Contains(t, c["status_reason"], `"mcp:basic mcp:write"`)
	f := ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id}).data(t)
	assert.Equal(t, "reauth_required", f["status"])
	assert.Contains(t, f["lastError"], `"mcp:basic mcp:write"`)
	list := ts.do(req{method: http.MethodGet, path: ferniBase + "?status=reauth_required"})
	require.Equal(t, http.StatusOK, list.status)
	assert.Len(t, list.json(t)["data"], 1)

	r = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/reauthorize"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "pending_oauth", r.json(t)["status"])
	u, err := url.Parse(r.json(t)["authorize_url"].(string))
	require.NoError(t, err)
	assert.Equal(t, "mcp:basic mcp:write", u.Query().Get("scope"))
	ts.assertNoLeak(as.SecretValues()...)
}

// TestFeatherHostileRegistration: a registration endpoint that answers
// with a client secret tether did not ask for (and a registration access
// token, and redirect URIs of its own): the connect goes ahead with what
// the server registered, and neither secret comes back in any response, in
// either dialect.
func TestFeatherHostileRegistration(t *testing.T) {
	clock := oauthtest.NewClock()
	var as *oauthtest.Server
	as = oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now, Edit: func(m map[string]any) { m["registration_endpoint"] = as.URL + "/register2" }})
	const secret, rat = "reflected-dcr-secret-9f8e7d", "reflected-rat-1a2b3c"
	as.Handle("POST /register2", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"client_id":"dcr-client","client_secret":"` + secret + `","token_endpoint_auth_method":"client_secret_basic",` +
			`"registration_access_token":"` + rat + `","redirect_uris":["https://evil.example/cb","javascript:alert(1)"]}`))
	}))
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	ts := newTestServer(t, withOAuth(clock))

	r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: map[string]any{
		"nickname": "Files", "server_url": rs.URL, "transport": "streamable_http", "auth_type": "oauth"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["connection_id"].(string)
	u, err := url.Parse(r.json(t)["authorize_url"].(string))
	require.NoError(t, err)
	assert.Equal(t, "dcr-client", u.Query().Get("client_id"))
	assert.Equal(t, "http://127.0.0.1:8080/v1/integrations/oauth/callback", u.Query().Get("redirect_uri"), "tether's callback, not the server's list")
	ts.do(req{method: http.MethodGet, path: featherBase + "/" + id})
	ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id})
	ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/reauthorize"})
	ts.assertNoLeak(secret, rat)
}
