package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// metadataLess starts the 2025-03-26 layout with nothing published: an MCP
// server at /mcp on the authorization server's own origin, no protected
// resource metadata, no authorization server metadata at any well-known
// path; /authorize, /token and /register at the base.
func metadataLess(t *testing.T) (*oauthtest.Server, string) {
	t.Helper()
	as := oauthtest.NewServer(t, oauthtest.Options{MetadataPaths: []string{}})
	as.ServeResource(oauthtest.ResourceOptions{})
	return as, as.URL + "/mcp"
}

// TestFallbackDiscovery: a server that answers 401 and publishes no
// metadata gets the default endpoints at its base URL (the path dropped),
// after the well-known URLs were all tried; registration, the browser
// round trip and the exchange work against them.
func TestFallbackDiscovery(t *testing.T) {
	t.Parallel()
	as, server := metadataLess(t)
	c := newClient(t)
	ctx := testContext(t)

	d, err := c.Discover(ctx, server)
	require.NoError(t, err)
	assert.True(t, d.Fallback)
	assert.Equal(t, as.URL+"/authorize", d.AuthorizationEndpoint)
	assert.Equal(t, as.URL+"/token", d.TokenEndpoint)
	assert.Equal(t, as.URL+"/register", d.RegistrationEndpoint)
	assert.True(t, d.SupportsDCR())
	assert.Equal(t, server, d.Resource)
	assert.Empty(t, d.Issuer, "no metadata states an issuer")
	assert.Contains(t, as.MetadataRequests(), "/.well-known/oauth-authorization-server", "RFC 8414 was tried first")
	assert.Contains(t, as.MetadataRequests(), "/.well-known/openid-configuration", "OIDC was tried too")

	cr, err := c.Register(ctx, d, oauth.RegisterRequest{RedirectURI: redirectURI})
	require.NoError(t, err)
	require.Len(t, as.Registrations(), 1, "dynamic registration at /register")
	ar, err := oauth.AuthorizeURL(d, cr, redirectURI, nil)
	require.NoError(t, err)
	cb := followAuthorize(t, ar.URL)
	require.NoError(t, oauth.CheckIss(d, cb.Get("iss")))
	tok, err := c.Exchange(ctx, d, cr, cb.Get("code"), ar.Verifier, redirectURI)
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	assert.Equal(t, 1, as.PKCEVerified())
}

// TestFallbackDiscoveryPathDropped: the base URL is scheme://host[:port],
// whatever path the server URL has.
func TestFallbackDiscoveryPathDropped(t *testing.T) {
	t.Parallel()
	d, err := oauth.FallbackDiscovery("HTTPS://MCP.Example.com:8443/v1/tenants/acme/mcp?x=1")
	require.NoError(t, err)
	assert.Equal(t, "https://mcp.example.com:8443/authorize", d.AuthorizationEndpoint)
	assert.Equal(t, "https://mcp.example.com:8443/token", d.TokenEndpoint)
	assert.Equal(t, "https://mcp.example.com:8443/register", d.RegistrationEndpoint)
	assert.Equal(t, "https://mcp.example.com:8443/v1/tenants/acme/mcp?x=1", d.Resource)
	assert.Equal(t, []string{"S256"}, d.CodeChallengeMethods)

	_, err = oauth.FallbackDiscovery("ftp://mcp.example.com/")
	require.Error(t, err)
}

// TestAuthorizerBeginFallback runs the connect path: without overrides the
// fallback registers at /register; with the user's endpoints on the
// server's origin it still does; with endpoints elsewhere no client is
// registered at the MCP server for another server's use.
func TestAuthorizerBeginFallback(t *testing.T) {
	t.Parallel()
	as, server := metadataLess(t)
	a := &oauth.Authorizer{Client: newClient(t)}
	ctx := testContext(t)

	_, pending, err := a.Begin(ctx, server, registry.OAuthRequest{}, redirectURI)
	require.NoError(t, err)
	require.NotNil(t, pending)
	assert.Contains(t, pending.URL, as.URL+"/authorize?")
	assert.Len(t, as.Registrations(), 1)

	_, pending, err = a.Begin(ctx, server, registry.OAuthRequest{AuthorizeURL: as.URL + "/authorize", TokenURL: as.URL + "/token"}, redirectURI)
	require.NoError(t, err)
	require.NotNil(t, pending)
	assert.Len(t, as.Registrations(), 2, "endpoints given by hand on the server's origin: /register too")

	_, _, err = a.Begin(ctx, server, registry.OAuthRequest{AuthorizeURL: "https://login.example.com/auth", TokenURL: "https://login.example.com/token"}, redirectURI)
	require.ErrorIs(t, err, registry.ErrValidation)
	assert.Contains(t, err.Error(), "oauth_client_id")
	assert.Len(t, as.Registrations(), 2)
}

// TestAuthorizerBeginFallbackOpenServer: a user asking for OAuth on a
// server that neither answers 401 to an anonymous probe nor publishes
// metadata still gets the default endpoints.
func TestAuthorizerBeginFallbackOpenServer(t *testing.T) {
	t.Parallel()
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "try OAuth", http.StatusBadRequest)
	}))
	t.Cleanup(open.Close)
	a := &oauth.Authorizer{Client: newClient(t)}
	_, pending, err := a.Begin(testContext(t), open.URL+"/mcp", registry.OAuthRequest{ClientID: "c1"}, redirectURI)
	require.NoError(t, err)
	assert.Contains(t, pending.URL, open.URL+"/authorize?")
}

// TestAuthorizerBeginFallbackNoRegister: a metadata-less server without a
// /register endpoint is a 400 that asks for a client_id; with one, the
// connect goes ahead without registering.
func TestAuthorizerBeginFallbackNoRegister(t *testing.T) {
	t.Parallel()
	inner := http.NewServeMux()
	inner.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "auth", http.StatusUnauthorized) })
	srv := httptest.NewServer(inner)
	t.Cleanup(srv.Close)
	a := &oauth.Authorizer{Client: newClient(t)}
	_, _, err := a.Begin(testContext(t), srv.URL+"/mcp", registry.OAuthRequest{}, redirectURI)
	require.ErrorIs(t, err, registry.ErrValidation)
	assert.Contains(t, err.Error(), "HTTP 404")
	assert.Contains(t, err.Error(), "oauth_client_id")
	_, pending, err := a.Begin(testContext(t), srv.URL+"/mcp", registry.OAuthRequest{ClientID: "mine"}, redirectURI)
	require.NoError(t, err)
	assert.Contains(t, pending.URL, srv.URL+"/authorize?")
}

// A server that answers 401 with no metadata and has no /authorize is a
// static-credential server (a bearer token, an API key), not a 2025-03-26
// OAuth server: discovery says so rather than offering OAuth endpoints
// that are not there.
func TestFallbackNeedsAnAuthorizationEndpoint(t *testing.T) {
	t.Parallel()
	bearerOnly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mcp" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "token required", http.StatusUnauthorized)
	}))
	t.Cleanup(bearerOnly.Close)
	_, err := newClient(t).Discover(testContext(t), bearerOnly.URL+"/mcp")
	require.ErrorIs(t, err, oauth.ErrNoOAuth)
}
