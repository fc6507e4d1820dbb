package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/oauth2"
)

// AuthRequest is one authorization request: the URL to send the user to and
// what the callback needs to finish it. Store State and Verifier server side
// (single use, short-lived) with the Discovery's issuer; Verifier never
// leaves tether. Printing and slog redact State and Verifier: a pending
// state in a log would let a reader bind their own authorization to the
// connection.
type AuthRequest struct {
	// State is 32 random bytes, base64url: the callback finds the request
	// by it.
	State string
	// Verifier is the PKCE code verifier ([oauth2.GenerateVerifier]); its
	// S256 challenge is in URL.
	Verifier string
	// URL is the authorization endpoint with the request's parameters: the
	// authorize_url handed to the user.
	URL string
}

// String describes ar with the state and verifier redacted.
func (ar AuthRequest) String() string {
	return fmt.Sprintf("oauth.AuthRequest{State: %s, Verifier: %s}", redacted(ar.State), redacted(ar.Verifier))
}

// GoString is String, so %#v redacts too.
func (ar AuthRequest) GoString() string { return ar.String() }

// Format makes every fmt verb show the redacted String.
func (ar AuthRequest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(ar.String())) }

// LogValue is the redacted form for log/slog.
func (ar AuthRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("has_state", ar.State != ""), slog.Bool("has_verifier", ar.Verifier != ""))
}

// AuthorizeURL builds an authorization request (OAuth 2.1 §4.1.1):
// response_type=code, client_id, redirect_uri, state, code_challenge (S256)
// with code_challenge_method=S256, resource=d.Resource (RFC 8707), and scope
// (space-joined) when scopes is not empty. Pick scopes with
// [Discovery.Scopes].
func AuthorizeURL(d *Discovery, cr *Credentials, redirectURI string, scopes []string) (*AuthRequest, error) {
	switch {
	case d.AuthorizationEndpoint == "":
		return nil, errors.New("oauth: authorize: no authorization endpoint")
	case d.Resource == "":
		return nil, errors.New("oauth: authorize: no resource")
	case cr == nil || cr.ClientID == "":
		return nil, fmt.Errorf("oauth: authorize: %w", ErrNoClient)
	case redirectURI == "":
		return nil, errors.New("oauth: authorize: no redirect URI")
	}
	if err := checkIssuerBinding(d, cr); err != nil {
		return nil, fmt.Errorf("oauth: authorize: %w", err)
	}
	state, err := newState()
	if err != nil {
		return nil, fmt.Errorf("oauth: authorize: %w", err)
	}
	verifier := oauth2.GenerateVerifier()
	cfg := oauth2.Config{
		ClientID:    cr.ClientID,
		Endpoint:    oauth2.Endpoint{AuthURL: d.AuthorizationEndpoint},
		RedirectURL: redirectURI,
		Scopes:      scopes,
	}
	u := cfg.AuthCodeURL(state,
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("resource", d.Resource),
	)
	return &AuthRequest{State: state, Verifier: verifier, URL: u}, nil
}

// newState returns 32 random bytes, base64url without padding: unguessable,
// and safe in a query string as is.
func newState() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CheckIss applies RFC 9207 to the iss parameter of an authorization
// response, the defence against mix-up attacks: when the server advertises
// authorization_response_iss_parameter_supported, a missing iss is refused;
// a present iss must equal d.Issuer exactly (simple string comparison,
// RFC 9207 §2.4) whether or not support is advertised. Failures wrap
// [ErrIssuerMismatch]. With no known issuer ([ManualDiscovery]) there is
// nothing to compare with, and any iss passes.
func CheckIss(d *Discovery, iss string) error {
	if iss == "" {
		if d.IssParameterSupported {
			return fmt.Errorf("oauth: callback: %w: the authorization server advertises the iss parameter (RFC 9207) but the response has none", ErrIssuerMismatch)
		}
		return nil
	}
	if d.Issuer != "" && iss != d.Issuer {
		return fmt.Errorf("oauth: callback: %w: the response's iss %q is not the expected issuer %q",
			ErrIssuerMismatch, clean(iss, 200), d.Issuer)
	}
	return nil
}

// checkIssuerBinding refuses to use credentials with another authorization
// server than the one that issued them: a client secret (or a client_id a
// user registered elsewhere) must not be sent to whatever a later discovery
// or override points at.
func checkIssuerBinding(d *Discovery, cr *Credentials) error {
	if cr.Issuer != "" && d.Issuer != "" && !issuersEqual(cr.Issuer, d.Issuer) {
		return fmt.Errorf("%w: the client was registered with another authorization server", ErrIssuerMismatch)
	}
	return nil
}
