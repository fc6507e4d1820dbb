package oauth_test

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
)

const redirectURI = "http://127.0.0.1:8080/v1/integrations/oauth/callback"

// guardedClient is the production path: netguard's client, with loopback
// trusted so httptest servers on 127.0.0.1 are reachable.
func guardedClient(t *testing.T) *http.Client {
	t.Helper()
	g := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return g.HTTPClient(netguard.ClientOptions{Timeout: 10 * time.Second})
}

// fixedNow is the clock tests give the client, so expiries are exact.
var fixedNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T) *oauth.Client {
	t.Helper()
	return oauth.New(oauth.Options{HTTPClient: guardedClient(t), Now: func() time.Time { return fixedNow }})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// mcpHandler is a real MCP server over streamable HTTP, unprotected.
func mcpHandler() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "fake-mcp", Version: "1.0.0"}, nil)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

// lastToken returns the last request as's token endpoint received.
func lastToken(t *testing.T, as *oauthtest.Server) oauthtest.TokenRequest {
	t.Helper()
	reqs := as.TokenRequests()
	require.NotEmpty(t, reqs)
	return reqs[len(reqs)-1]
}

// followAuthorize plays the user's browser: it opens the authorize URL and
// returns the callback query the AS redirects to.
func followAuthorize(t *testing.T, authorizeURL string) url.Values {
	t.Helper()
	return oauthtest.Consent(t, authorizeURL).Query()
}

// world is a fake AS and an MCP server in front of it, discovered.
type world struct {
	as *oauthtest.Server
	rs *oauthtest.ResourceServer
	d  *oauth.Discovery
	c  *oauth.Client
}

// newWorld starts an AS (its metadata changed by edit, if set) and an MCP
// server advertising it through its 401 challenge, and runs discovery.
// The AS answers token_type "bearer" in lower case, as many do.
func newWorld(t *testing.T, edit func(m map[string]any)) *world {
	t.Helper()
	as := oauthtest.NewServer(t, oauthtest.Options{
		Now:       func() time.Time { return fixedNow },
		Edit:      edit,
		TokenType: "bearer",
	})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
		PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true,
		ChallengeScopes: []string{"mcp:tools"},
	})
	c := newClient(t)
	d, err := c.Discover(testContext(t), rs.URL)
	require.NoError(t, err)
	return &world{as: as, rs: rs, d: d, c: c}
}
