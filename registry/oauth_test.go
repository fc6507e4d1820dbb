package registry_test

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// The registry's OAuth flows over the real oauth package and a fake
// authorization server; the upstream MCP server is the fake prober, which
// answers as a scope-checking server would (the end-to-end tests in
// cmd/tether use a real one).

const callbackURI = "http://127.0.0.1:8080/v1/integrations/oauth/callback"

// oauthFixture is a fixture whose service runs OAuth on clock, keeping
// pending authorizations in its store.
func oauthFixture(t *testing.T, clock *oauthtest.Clock) *fixture {
	t.Helper()
	g := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	client := oauth.New(oauth.Options{HTTPClient: g.HTTPClient(netguard.ClientOptions{Timeout: 10 * time.Second}), Now: clock.Now})
	return newFixture(t, func(o *registry.Options) {
		o.OAuth = &registry.OAuthOptions{
			Authorizer:  &oauth.Authorizer{Client: client, Now: clock.Now},
			States:      o.Store.(registry.OAuthStore),
			RedirectURI: callbackURI,
		}
		o.Now = clock.Now
	})
}

// challengeError is an upstream auth failure carrying the server's
// WWW-Authenticate header, as mcpclient's errors do.
type challengeError struct{ header string }

func (e *challengeError) Error() string         { return "authentication rejected: HTTP 403 for POST" }
func (e *challengeError) Unwrap() error         { return registry.ErrUpstreamAuth }
func (e *challengeError) AuthChallenge() string { return e.header }

func bearerOf(c *registry.Connection) string {
	return strings.TrimPrefix(c.Headers["Authorization"], "Bearer ")
}

// authorize completes a pending authorization in the browser and at the
// callback.
func authorize(t *testing.T, f *fixture, pending *registry.PendingAuth) *registry.Connection {
	t.Helper()
	back := oauthtest.Consent(t, pending.URL).Query()
	res, err := f.svc.Callback(context.Background(), back.Get("state"), back.Get("code"), back.Get("iss"), "", "")
	require.NoError(t, err)
	require.NoError(t, res.Err)
	return res.Connection
}

func waitSynced(t *testing.T, f *fixture, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, err := f.svc.Get(context.Background(), f.acme, id)
		return err == nil && c.ToolsStatus == registry.ToolsSynced
	}, 30*time.Second, 10*time.Millisecond)
	c, err := f.svc.Get(context.Background(), f.acme, id)
	require.NoError(t, err)
	require.Equal(t, registry.StatusActive, c.Status, c.StatusReason)
}

func scopeParam(t *testing.T, authorizeURL string) string {
	t.Helper()
	u, err := url.Parse(authorizeURL)
	require.NoError(t, err)
	return u.Query().Get("scope")
}

// TestStepUp: a call answered 403 insufficient_scope moves the row to
// reauth_required naming the scopes, keeps them (accumulated) in the
// encrypted document, and reauthorize asks for the stored and the
// challenged scopes; once authorized again the call goes through. Other
// auth failures leave the row as it is.
func TestStepUp(t *testing.T) {
	ctx := context.Background()
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
		PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: []string{"mcp:basic"},
	})
	f := oauthFixture(t, clock)
	f.prober.SetTools("read", "write")

	c, pending, err := f.svc.ConnectOAuth(ctx, f.acme, registry.NewConnection{Nickname: "Files", Transport: registry.TransportStreamableHTTP, Endpoint: rs.URL, Enabled: true}, registry.OAuthRequest{})
	require.NoError(t, err)
	assert.Equal(t, "mcp:basic", scopeParam(t, pending.URL))
	authorize(t, f, pending)
	waitSynced(t, f, c.ID)

	// The upstream: write needs mcp:write, which only a token from a
	// second authorization carries.
	var wide string
	challenge := `Bearer error="insufficient_scope", scope="mcp:basic mcp:write", resource_metadata="` + rs.Base + `/.well-known/oauth-protected-resource/mcp"`
	f.prober.SetCall(func(conn *registry.Connection, tool string, _ map[string]any) (map[string]any, error) {
		if tool == "write" && (wide == "" || bearerOf(conn) != wide) {
			return nil, &challengeError{header: challenge}
		}
		return map[string]any{"content": []any{map[string]any{"type": "text", "text": "ok " + tool}}}, nil
	})

	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "files_read", nil)
	require.NoError(t, err, "the narrow grant serves what it allows")
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "files_write", nil)
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	assert.Contains(t, err.Error(), "insufficient")
	assert.Contains(t, err.Error(), "mcp:basic mcp:write")

	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusReauthRequired, got.Status)
	assert.Contains(t, got.StatusReason, `"mcp:basic mcp:write"`)
	assert.Contains(t, got.StatusReason, "re-authorize")
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "files_read", nil)
	require.ErrorIs(t, err, registry.ErrUpstreamAuth, "not authorized until re-authorized")

	// Reauthorize asks for everything; the new token carries it.
	_, pending, err = f.svc.Reauthorize(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "mcp:basic mcp:write", scopeParam(t, pending.URL))
	authorize(t, f, pending)
	codes := as.TokenRequestsOf("authorization_code")
	require.Len(t, codes, 2)
	wide = codes[1].AccessToken
	res, err := f.svc.CallTool(ctx, f.acme, c.ID, "files_write", nil)
	require.NoError(t, err)
	assert.Equal(t, "ok write", res["content"].([]any)[0].(map[string]any)["text"])
	got, err = f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, got.Status)

	// A 401 invalid_token is not a step-up: the row stays as it is.
	f.prober.SetCall(func(*registry.Connection, string, map[string]any) (map[string]any, error) {
		return nil, &challengeError{header: `Bearer error="invalid_token"`}
	})
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "files_read", nil)
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	got, err = f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, got.Status)

	// A probe challenged the same way stops the row too, and a later
	// challenge adds to what was stored. (The callback's tool sync may
	// still be running, and a test joins a probe in flight: let it end
	// first, so the next test is a probe of its own.)
	_, err = f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	f.prober.Fail(&challengeError{header: `Bearer error="insufficient_scope", scope="mcp:admin"`})
	out, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.ErrorIs(t, out.Err, registry.ErrUpstreamAuth)
	got, err = f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusReauthRequired, got.Status)
	assert.Contains(t, got.StatusReason, `"mcp:basic mcp:write mcp:admin"`)
	_, pending, err = f.svc.Reauthorize(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "mcp:basic mcp:write mcp:admin", scopeParam(t, pending.URL))
}

// TestStepUpNotOAuth: a static-credential connection answered
// insufficient_scope has nothing to re-authorize: its row keeps its state.
func TestStepUpNotOAuth(t *testing.T) {
	ctx := context.Background()
	f := oauthFixture(t, oauthtest.NewClock())
	c := f.create(t, registry.NewConnection{Nickname: "static", Transport: registry.TransportHTTP, Endpoint: "https://mcp.example.com/mcp"})
	_, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	f.prober.SetCall(func(*registry.Connection, string, map[string]any) (map[string]any, error) {
		return nil, &challengeError{header: `Bearer error="insufficient_scope", scope="x"`}
	})
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "static_add", nil)
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, got.Status)
}

// TestConnectClientCredentials: no browser step, active at once with the
// tools synced over the issued token; an expired token is replaced with
// the grant; a client the AS stops accepting moves the row to
// reauth_required, and reauthorize (no PendingAuth) makes it active again.
func TestConnectClientCredentials(t *testing.T) {
	ctx := context.Background()
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	secret := "machine-secret-" + oauthtest.Random()
	as.PreregisterMachine("reports", secret, nil)
	f := oauthFixture(t, clock)

	c, pending, err := f.svc.ConnectOAuth(ctx, f.acme, registry.NewConnection{Nickname: "Reports", Transport: registry.TransportStreamableHTTP, Endpoint: rs.URL, Enabled: true},
		registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "reports", ClientSecret: secret, TokenEndpointAuth: "client_secret_basic"})
	require.NoError(t, err)
	assert.Nil(t, pending)
	assert.Equal(t, registry.StatusActive, c.Status)
	assert.Empty(t, c.StatusReason)
	waitSynced(t, f, c.ID)
	grants := as.TokenRequestsOf("client_credentials")
	require.Len(t, grants, 1)
	assert.Equal(t, "client_secret_basic", grants[0].ClientAuth)
	probed := f.prober.Probed()
	require.NotEmpty(t, probed)
	assert.Equal(t, grants[0].AccessToken, bearerOf(probed[len(probed)-1]), "the sync used the issued token")

	clock.Advance(time.Hour)
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "reports_add", nil)
	require.NoError(t, err)
	grants = as.TokenRequestsOf("client_credentials")
	require.Len(t, grants, 2, "a new token with the grant")
	calls := f.prober.Calls()
	assert.Equal(t, grants[1].AccessToken, bearerOf(calls[len(calls)-1].Connection))

	as.PreregisterMachine("reports", "rotated", nil)
	clock.Advance(time.Hour)
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "reports_add", nil)
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusReauthRequired, got.Status)
	assert.Contains(t, got.StatusReason, "re-authorize")

	as.PreregisterMachine("reports", secret, nil)
	again, pending, err := f.svc.Reauthorize(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Nil(t, pending)
	assert.Equal(t, registry.StatusActive, again.Status)
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "reports_add", nil)
	require.NoError(t, err)

	for _, s := range []string{fmt.Sprint(again), got.StatusReason, err2str(err)} {
		assert.NotContains(t, s, secret)
	}
}

func err2str(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestConnectFallback: a server with no metadata anywhere is connectable:
// discover reports registration, and connect registers at /register.
func TestConnectFallback(t *testing.T) {
	ctx := context.Background()
	as := oauthtest.NewServer(t, oauthtest.Options{MetadataPaths: []string{}})
	as.ServeResource(oauthtest.ResourceOptions{})
	f := oauthFixture(t, oauthtest.NewClock())

	d, err := f.svc.Discover(ctx, as.URL+"/mcp")
	require.NoError(t, err)
	assert.True(t, d.SupportsDCR)
	assert.Equal(t, as.URL+"/authorize", d.AuthorizeURL)
	assert.Equal(t, as.URL+"/token", d.TokenURL)

	c, pending, err := f.svc.ConnectOAuth(ctx, f.acme, registry.NewConnection{Nickname: "Legacy", Transport: registry.TransportStreamableHTTP, Endpoint: as.URL + "/mcp", Enabled: true}, registry.OAuthRequest{})
	require.NoError(t, err)
	assert.Equal(t, registry.StatusPendingOAuth, c.Status)
	require.Len(t, as.Registrations(), 1)
	authorize(t, f, pending)
	waitSynced(t, f, c.ID)
}

// TestOAuthRequestRedacts: a connect request printed or logged shows
// neither the client secret nor the private key.
func TestOAuthRequestRedacts(t *testing.T) {
	r := registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: "CS-SECRET", PrivateKey: "PK-SECRET", TokenEndpointAuth: "private_key_jwt"}
	for _, s := range []string{fmt.Sprint(r), fmt.Sprintf("%+v", r), r.LogValue().String()} {
		assert.NotContains(t, s, "SECRET")
		assert.Contains(t, s, "private_key_jwt")
	}
}
