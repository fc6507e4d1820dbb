package oauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// TestEndpointsElsewhereRefused: with the production client (credentialed,
// only 127.0.0.1 trusted), an MCP server on a trusted address whose
// metadata sends tether elsewhere gets nothing out of it: a token or
// registration endpoint on an untrusted address is refused at dial time,
// and a token endpoint that redirects to another origin does not get the
// client secret carried there.
func TestEndpointsElsewhereRefused(t *testing.T) {
	t.Parallel()
	g := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	hc := g.HTTPClient(netguard.ClientOptions{Timeout: 10 * time.Second, Credentialed: true})
	var elsewhereHits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhereHits.Add(1) }))
	t.Cleanup(elsewhere.Close)
	untrusted := strings.Replace(elsewhere.URL, "127.0.0.1", "127.0.0.2", 1)

	for _, tc := range []struct {
		name string
		edit func(as *oauthtest.Server, m map[string]any)
		req  registry.OAuthRequest
	}{
		{"token endpoint on an untrusted address", func(_ *oauthtest.Server, m map[string]any) { m["token_endpoint"] = untrusted + "/token" },
			registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: "s3cret-elsewhere"}},
		{"registration endpoint on an untrusted address", func(_ *oauthtest.Server, m map[string]any) {
			m["registration_endpoint"] = untrusted + "/register"
		}, registry.OAuthRequest{}},
		{"token endpoint redirecting to another origin", func(as *oauthtest.Server, m map[string]any) { m["token_endpoint"] = as.URL + "/moved" },
			registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: "s3cret-elsewhere", TokenEndpointAuth: "client_secret_post"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var as *oauthtest.Server
			as = oauthtest.NewServer(t, oauthtest.Options{Edit: func(m map[string]any) { tc.edit(as, m) }})
			as.Handle("POST /moved", http.RedirectHandler(elsewhere.URL+"/token", http.StatusTemporaryRedirect))
			rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
			a := &oauth.Authorizer{Client: oauth.New(oauth.Options{HTTPClient: hc})}
			_, _, err := a.Begin(testContext(t), rs.URL, tc.req, redirectURI)
			require.Error(t, err)
			assert.True(t, errors.Is(err, registry.ErrValidation) || errors.Is(err, registry.ErrInvalidEndpoint), "a 400 for the user, not a 5xx: %v", err)
			assert.NotContains(t, err.Error(), "s3cret-elsewhere")
		})
	}
	assert.Zero(t, elsewhereHits.Load(), "nothing reached the other address")
}
