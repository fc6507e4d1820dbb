package oauth_test

import (
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
)

func testDiscovery() *oauth.Discovery {
	return &oauth.Discovery{
		Resource:              "https://mcp.example.com/mcp",
		Issuer:                "https://as.example.com",
		AuthorizationEndpoint: "https://as.example.com/authorize?tenant=acme",
		TokenEndpoint:         "https://as.example.com/token",
		CodeChallengeMethods:  []string{"S256"},
	}
}

func TestAuthorizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		scopes    []string
		wantScope string
	}{
		{name: "with scopes", scopes: []string{"mcp:read", "mcp:write"}, wantScope: "mcp:read mcp:write"},
		{name: "without scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := testDiscovery()
			ar, err := oauth.AuthorizeURL(d, &oauth.Credentials{ClientID: "cid", AuthMethod: "none"}, redirectURI, tt.scopes)
			require.NoError(t, err)

			u, err := url.Parse(ar.URL)
			require.NoError(t, err)
			assert.Equal(t, "as.example.com", u.Host)
			assert.Equal(t, "/authorize", u.Path)
			q := u.Query()
			assert.Equal(t, "acme", q.Get("tenant"), "the endpoint's own query is kept")
			assert.Equal(t, "code", q.Get("response_type"))
			assert.Equal(t, "cid", q.Get("client_id"))
			assert.Equal(t, redirectURI, q.Get("redirect_uri"))
			assert.Equal(t, ar.State, q.Get("state"))
			assert.Equal(t, "S256", q.Get("code_challenge_method"))
			assert.Equal(t, oauthtest.S256(ar.Verifier), q.Get("code_challenge"))
			assert.Equal(t, d.Resource, q.Get("resource"))
			assert.Equal(t, tt.wantScope, q.Get("scope"))
			assert.Equal(t, tt.scopes != nil, q.Has("scope"))
			assert.False(t, q.Has("code_verifier"), "the verifier never leaves tether")

			raw, err := base64.RawURLEncoding.DecodeString(ar.State)
			require.NoError(t, err)
			assert.Len(t, raw, 32)
			assert.Len(t, ar.Verifier, 43)
		})
	}
}

func TestAuthorizeURLIsFreshEachTime(t *testing.T) {
	t.Parallel()
	cr := &oauth.Credentials{ClientID: "cid"}
	a, err := oauth.AuthorizeURL(testDiscovery(), cr, redirectURI, nil)
	require.NoError(t, err)
	b, err := oauth.AuthorizeURL(testDiscovery(), cr, redirectURI, nil)
	require.NoError(t, err)
	assert.NotEqual(t, a.State, b.State)
	assert.NotEqual(t, a.Verifier, b.Verifier)
}

func TestAuthorizeURLNeedsAClient(t *testing.T) {
	t.Parallel()
	_, err := oauth.AuthorizeURL(testDiscovery(), &oauth.Credentials{}, redirectURI, nil)
	require.ErrorIs(t, err, oauth.ErrNoClient)
}

func TestCheckIss(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		advertised bool
		issuer     string
		iss        string
		wantErr    bool
	}{
		{name: "missing when advertised", advertised: true, issuer: "https://as.example.com", iss: "", wantErr: true},
		{name: "wrong when advertised", advertised: true, issuer: "https://as.example.com", iss: "https://evil.example.com", wantErr: true},
		{name: "right when advertised", advertised: true, issuer: "https://as.example.com", iss: "https://as.example.com"},
		{name: "missing when not advertised", issuer: "https://as.example.com", iss: ""},
		{name: "wrong when not advertised", issuer: "https://as.example.com", iss: "https://evil.example.com", wantErr: true},
		{name: "right when not advertised", issuer: "https://as.example.com", iss: "https://as.example.com"},
		{name: "a trailing slash is another issuer", advertised: true, issuer: "https://as.example.com", iss: "https://as.example.com/", wantErr: true},
		{name: "no known issuer (manual endpoints)", issuer: "", iss: "https://as.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &oauth.Discovery{Issuer: tt.issuer, IssParameterSupported: tt.advertised}
			err := oauth.CheckIss(d, tt.iss)
			if tt.wantErr {
				require.ErrorIs(t, err, oauth.ErrIssuerMismatch)
				return
			}
			require.NoError(t, err)
		})
	}
}
