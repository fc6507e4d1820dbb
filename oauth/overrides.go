package oauth

import (
	"fmt"
	"strings"
)

// Overrides are endpoint URLs a user supplied with the connection
// (oauth_authorize_url, oauth_token_url). Non-empty ones win over discovery.
type Overrides struct {
	// AuthorizationEndpoint is the user's oauth_authorize_url.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	// TokenEndpoint is the user's oauth_token_url.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
}

// IsZero reports whether o overrides nothing.
func (o Overrides) IsZero() bool { return o.AuthorizationEndpoint == "" && o.TokenEndpoint == "" }

// WithOverrides returns a copy of d with o's non-empty endpoints in place of
// the discovered ones; d is unchanged. Each must be an absolute http(s) URL
// without userinfo or fragment, and https when the discovered issuer is
// https, else [ErrInvalidMetadata]. Everything else, the issuer included, is
// kept: the RFC 9207 check still expects the discovered issuer.
func (d *Discovery) WithOverrides(o Overrides) (*Discovery, error) {
	https := strings.HasPrefix(strings.ToLower(d.Issuer), "https:")
	if err := checkEndpoint("oauth_authorize_url", o.AuthorizationEndpoint, false, https); err != nil {
		return nil, fmt.Errorf("oauth: override: %w", err)
	}
	if err := checkEndpoint("oauth_token_url", o.TokenEndpoint, false, https); err != nil {
		return nil, fmt.Errorf("oauth: override: %w", err)
	}
	cp := d.clone()
	if o.AuthorizationEndpoint != "" {
		cp.AuthorizationEndpoint = o.AuthorizationEndpoint
	}
	if o.TokenEndpoint != "" {
		cp.TokenEndpoint = o.TokenEndpoint
	}
	return cp, nil
}

// ManualDiscovery builds a Discovery from user-supplied endpoints alone, for
// a server where [Client.Discover] found nothing ([ErrNoOAuth]). The
// [Authorizer] uses [FallbackDiscovery] with the user's [Overrides] on top
// instead, which keeps the 2025-03-26 registration endpoint; this is for
// callers that want nothing assumed. Both
// endpoints are required. Nothing is known about the authorization server:
// there is no issuer (so [CheckIss] has nothing to compare an iss with), no
// registration endpoint (so a client_id must be supplied), and PKCE S256 is
// sent regardless, as always. Resource is the canonical server URL.
func ManualDiscovery(serverURL string, o Overrides) (*Discovery, error) {
	resource, err := CanonicalResource(serverURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: manual endpoints: %w", err)
	}
	if err := checkEndpoint("oauth_authorize_url", o.AuthorizationEndpoint, true, false); err != nil {
		return nil, fmt.Errorf("oauth: manual endpoints: %w", err)
	}
	if err := checkEndpoint("oauth_token_url", o.TokenEndpoint, true, false); err != nil {
		return nil, fmt.Errorf("oauth: manual endpoints: %w", err)
	}
	return &Discovery{
		Resource:              resource,
		AuthorizationEndpoint: o.AuthorizationEndpoint,
		TokenEndpoint:         o.TokenEndpoint,
	}, nil
}

// clone is a deep copy of d.
func (d *Discovery) clone() *Discovery {
	cp := *d
	cp.ScopesSupported = append([]string(nil), d.ScopesSupported...)
	cp.ChallengeScopes = append([]string(nil), d.ChallengeScopes...)
	cp.TokenEndpointAuthMethods = append([]string(nil), d.TokenEndpointAuthMethods...)
	cp.CodeChallengeMethods = append([]string(nil), d.CodeChallengeMethods...)
	return &cp
}
