package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
)

// Example shows the flow an API server runs: discovery and registration when
// a connection is created, the authorize URL for the user, the exchange at
// the callback, and refreshes before the token expires.
func Example() {
	ctx := context.Background()
	guard := netguard.New(netguard.Options{})
	oc := oauth.New(oauth.Options{HTTPClient: guard.HTTPClient(netguard.ClientOptions{Timeout: 30 * time.Second})})
	const callback = "https://tether.example.com/v1/integrations/oauth/callback"

	d, err := oc.Discover(ctx, "https://mcp.example.com/mcp")
	switch {
	case errors.Is(err, netguard.ErrRefused):
		return // 400: the URL is not allowed
	case errors.Is(err, oauth.ErrNoOAuth):
		return // supports_dcr: false; ask for endpoints and a client_id (ManualDiscovery)
	case err != nil:
		return
	}
	cr, err := oc.Register(ctx, d, oauth.RegisterRequest{
		RedirectURI:       callback,
		ClientMetadataURL: "https://tether.example.com/oauth/client-metadata.json",
	})
	if err != nil {
		return // errors.Is(err, oauth.ErrNoClient): ask for an oauth_client_id
	}
	ar, err := oauth.AuthorizeURL(d, cr, callback, d.Scopes(nil))
	if err != nil {
		return
	}
	// Store ar.State and ar.Verifier (single use, ≤ 10 minutes) with d and
	// cr, and hand ar.URL to the user. At the callback, with code and iss:
	var code, iss string
	if err := oauth.CheckIss(d, iss); err != nil {
		return
	}
	tok, err := oc.Exchange(ctx, d, cr, code, ar.Verifier, callback)
	if err != nil {
		return
	}
	// Before each use:
	if tok.NeedsRefresh(time.Now(), time.Minute) {
		tok, err = oc.Refresh(ctx, d, cr, tok.RefreshToken)
		if errors.Is(err, oauth.ErrInvalidGrant) {
			return // the connection needs re-authorization
		}
	}
	fmt.Println(tok) // prints no token
}

func ExampleDiscovery_Scopes() {
	d := &oauth.Discovery{ChallengeScopes: []string{"mcp:tools"}, ScopesSupported: []string{"mcp:tools", "mcp:admin"}}
	fmt.Println(d.Scopes(nil))
	fmt.Println(d.Scopes([]string{"mine"}))
	// Output:
	// [mcp:tools]
	// [mine]
}

func ExampleCanonicalResource() {
	r, _ := oauth.CanonicalResource("HTTPS://MCP.Example.com:443/mcp#section")
	fmt.Println(r)
	// Output: https://mcp.example.com/mcp
}

// ExampleToken_String: tokens print redacted, in any verb and in slog.
func ExampleToken_String() {
	tok := oauth.Token{AccessToken: "secret", RefreshToken: "secret", TokenType: "Bearer", Scope: "mcp"}
	fmt.Printf("%v\n", tok)
	// Output: oauth.Token{TokenType: "Bearer", AccessToken: [redacted], RefreshToken: [redacted], Scope: "mcp", Expiry: none}
}
