package oauth_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

func TestStepUpScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   []string
		ok     bool
	}{
		{name: "step-up", header: `Bearer error="insufficient_scope", scope="mcp:basic mcp:write"`, want: []string{"mcp:basic", "mcp:write"}, ok: true},
		{name: "with resource metadata", header: `Bearer resource_metadata="https://x/.well-known/oauth-protected-resource", error="insufficient_scope", scope="files:write"`, want: []string{"files:write"}, ok: true},
		{name: "no scope named", header: `Bearer error="insufficient_scope"`, ok: true},
		{name: "case of the scheme", header: `bearer error="insufficient_scope", scope="a"`, want: []string{"a"}, ok: true},
		{name: "after another scheme", header: `Basic realm="x", Bearer error="insufficient_scope", scope="a b"`, want: []string{"a", "b"}, ok: true},
		{name: "invalid_token is not a step-up", header: `Bearer error="invalid_token", scope="a"`},
		{name: "a plain 401 challenge", header: `Bearer resource_metadata="https://x/prm", scope="a"`},
		{name: "another scheme", header: `Basic error="insufficient_scope"`},
		{name: "empty", header: ``},
		{name: "malformed", header: `Bearer error="insufficient_scope`},
		{name: "a quote in a scope", header: `Bearer error="insufficient_scope", scope="a b\"c"`},
		{name: "non-ASCII scope", header: "Bearer error=\"insufficient_scope\", scope=\"a \u00e9\""},
		{name: "a control character", header: "Bearer error=\"insufficient_scope\", scope=\"a\x7fb\""},
		{name: "too many scopes", header: `Bearer error="insufficient_scope", scope="` + strings.Repeat("s ", oauth.MaxScopes+1) + `"`},
		{name: "too long", header: `Bearer error="insufficient_scope", scope="` + strings.Repeat("s", oauth.MaxScopeBytes+1) + `"`},
		{name: "at the bounds", header: `Bearer error="insufficient_scope", scope="` + strings.Repeat("s", oauth.MaxScopeBytes) + `"`,
			want: []string{strings.Repeat("s", oauth.MaxScopeBytes)}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := oauth.StepUpScopes(tt.header)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestAccumulateScopes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"a", "b", "c"}, oauth.AccumulateScopes([]string{"a", "b"}, []string{"b", "", "c", "a"}))
	assert.Nil(t, oauth.AccumulateScopes(nil, []string{}))
}

// TestAuthorizerStepUp: a connection authorized for mcp:basic is
// challenged for "mcp:basic mcp:write"; the document keeps the union of
// what was requested, granted and challenged, and the next authorization
// (Restart) asks for all of it. A second challenge accumulates again;
// other challenges change nothing.
func TestAuthorizerStepUp(t *testing.T) {
	t.Parallel()
	as := oauthtest.NewServer(t, oauthtest.Options{})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
		PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: []string{"mcp:basic"},
	})
	a := &oauth.Authorizer{Client: newClient(t), Now: func() time.Time { return fixedNow }}
	ctx := testContext(t)
	blob, pending, err := a.Begin(ctx, rs.URL, registry.OAuthRequest{}, redirectURI)
	require.NoError(t, err)
	require.NotNil(t, pending)
	assert.Equal(t, "mcp:basic", scopeOf(t, pending.URL))
	cb := followAuthorize(t, pending.URL)
	blob, err = a.Exchange(ctx, blob, cb.Get("code"), pending.Verifier, redirectURI)
	require.NoError(t, err)

	stepped, scopes, ok, err := a.StepUp(blob, `Bearer error="insufficient_scope", scope="mcp:basic mcp:write", resource_metadata="`+rs.Base+`/.well-known/oauth-protected-resource/mcp"`)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []string{"mcp:basic", "mcp:write"}, scopes)
	_, again, err := a.Restart(ctx, stepped, redirectURI)
	require.NoError(t, err)
	assert.Equal(t, "mcp:basic mcp:write", scopeOf(t, again.URL), "stored plus challenged")

	// The token still works until re-authorization: the grant is kept.
	token, _, err := a.AccessToken(ctx, stepped)
	require.NoError(t, err)
	assert.Equal(t, as.TokenRequestsOf("authorization_code")[0].AccessToken, token)

	stepped2, scopes, ok, err := a.StepUp(stepped, `Bearer error="insufficient_scope", scope="mcp:admin"`)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []string{"mcp:basic", "mcp:write", "mcp:admin"}, scopes, "never narrowed")
	_, again, err = a.Restart(ctx, stepped2, redirectURI)
	require.NoError(t, err)
	assert.Equal(t, "mcp:basic mcp:write mcp:admin", scopeOf(t, again.URL))

	unchanged, scopes, ok, err := a.StepUp(stepped2, `Bearer error="invalid_token"`)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Nil(t, unchanged)
	assert.Nil(t, scopes)
}

func scopeOf(t *testing.T, authorizeURL string) string {
	t.Helper()
	u, err := url.Parse(authorizeURL)
	require.NoError(t, err)
	return u.Query().Get("scope")
}

// TestConnectScopesBounded: the scopes a server names when tether first
// connects (its 401 challenge, its scopes_supported) are bounded like a
// step-up challenge's: a list over the bounds, or with a token RFC 6749
// §3.3 does not allow, is passed over (the next source, else none), so a
// hostile server cannot make the discovery answer, the stored document
// and the authorization URL huge.
func TestConnectScopesBounded(t *testing.T) {
	t.Parallel()
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("scope:%04d", i)
	}
	for _, tc := range []struct {
		name      string
		challenge []string
		supported []string
		want      string
	}{
		{"huge challenge, huge scopes_supported", many, many, ""},
		{"huge challenge, fine scopes_supported", many, []string{"mcp:read"}, "mcp:read"},
		{"odd challenge", []string{"mcp:read", "caf\u00e9"}, nil, ""},
		{"fine challenge", []string{"mcp:read"}, many, "mcp:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := oauthtest.NewServer(t, oauthtest.Options{})
			rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
				PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: tc.challenge, PRMScopes: tc.supported,
			})
			a := &oauth.Authorizer{Client: newClient(t), Now: func() time.Time { return fixedNow }}
			d, err := a.Discover(testContext(t), rs.URL)
			require.NoError(t, err)
			assert.Equal(t, tc.want, strings.Join(d.Scopes, " "))
			_, pending, err := a.Begin(testContext(t), rs.URL, registry.OAuthRequest{}, redirectURI)
			require.NoError(t, err)
			assert.Equal(t, tc.want, scopeOf(t, pending.URL))
		})
	}
}
