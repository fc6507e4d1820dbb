package oauth

import (
	"fmt"
	"net/url"
)

// FallbackDiscovery is the MCP 2025-03-26 specification's answer for a
// server that publishes no metadata at all ("Fallbacks for Servers without
// Metadata Discovery"): the authorization base URL is the server URL with
// its path discarded (scheme://host[:port]), and the endpoints are
// /authorize, /token and /register under it, dynamic registration
// included. Nothing is known about the authorization server beyond that:
// there is no issuer (so [CheckIss] takes any iss), and PKCE S256 is sent
// as always (2025-03-26 requires PKCE of every client). Resource is the
// canonical server URL.
//
// [Client.Discover] returns it by itself for a server that answered 401
// and has no metadata; a caller that knows the server wants OAuth (the
// user asked for it) uses it when Discover answers [ErrNoOAuth].
func FallbackDiscovery(serverURL string) (*Discovery, error) {
	server, err := canonicalURL("server URL", serverURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: fallback endpoints: %w", err)
	}
	return fallbackDiscovery(server), nil
}

func fallbackDiscovery(server *url.URL) *Discovery {
	base := origin(server)
	return &Discovery{
		Resource:              server.String(),
		AuthorizationEndpoint: base + "/authorize",
		TokenEndpoint:         base + "/token",
		RegistrationEndpoint:  base + "/register",
		CodeChallengeMethods:  []string{"S256"},
		Fallback:              true,
	}
}
