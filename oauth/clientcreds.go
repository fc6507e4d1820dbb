package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ClientCredentials requests an access token with the client_credentials
// grant (RFC 6749 §4.4; the MCP client credentials extension, SEP-1046):
// no user and no browser, the client authenticates itself with cr's method
// (client_secret_basic, client_secret_post or private_key_jwt), asking for
// scopes (omitted when empty) and resource=d.Resource (RFC 8707). The token
// has no refresh token: call again when it expires (after
// [unstatedLifetime] when the server stated no expires_in). invalid_client and
// unauthorized_client wrap [ErrInvalidClient]; other refusals wrap
// [ErrTokenEndpoint].
//
// It posts through the same token request as the code grant rather than
// golang.org/x/oauth2/clientcredentials, whose errors quote the response
// body, which sends no resource indicator and knows no private_key_jwt: the
// guarded client, the issuer binding of cr, the bounded and redacted errors
// and the response parsing stay one piece of code.
func (c *Client) ClientCredentials(ctx context.Context, d *Discovery, cr *Credentials, scopes []string) (*Token, error) {
	form := url.Values{"grant_type": {GrantClientCredentials}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	tok, err := c.tokenRequest(ctx, d, cr, form)
	if err != nil {
		return nil, fmt.Errorf("oauth: client credentials at %s: %w", originOf(d.TokenEndpoint), err)
	}
	// A refresh token, if a server issues one anyway, is never used: the
	// grant itself is the way to a new access token.
	tok.RefreshToken = ""
	// A token of unstated lifetime (expires_in is only RECOMMENDED) is not
	// presented forever: once the server stops accepting it, nothing but a
	// re-authorization would replace it, while the grant costs one request
	// and no user.
	if tok.Expiry.IsZero() {
		tok.Expiry = c.now().Add(unstatedLifetime)
	}
	return tok, nil
}

// unstatedLifetime is how long a client_credentials access token issued
// without expires_in is used before the grant runs again.
const unstatedLifetime = 10 * time.Minute

// ClientCredentialsRequest is what a machine-to-machine connection gives:
// a client registered at the authorization server by its owner.
type ClientCredentialsRequest struct {
	ClientID     string
	ClientSecret string
	// AuthMethod is the token endpoint authentication method; empty picks
	// private_key_jwt with a PrivateKey, else client_secret_basic (or
	// client_secret_post, when the server lists only that) with a secret.
	AuthMethod string
	// PrivateKey is the PEM key of private_key_jwt.
	PrivateKey string
}

// ClientCredentialsClient checks r against d and returns the Credentials
// to use: a client_id is required, and the secret or key its method needs
// (and nothing it does not: a secret is never sent where a key was chosen).
// A method the server's token_endpoint_auth_methods_supported leaves out is
// [ErrUnsupportedGrant]; a bad key is [ErrInvalidKey]; anything else
// missing is [ErrNoClient].
func ClientCredentialsClient(d *Discovery, r ClientCredentialsRequest) (*Credentials, error) {
	if r.ClientID == "" {
		return nil, fmt.Errorf("oauth: client credentials: %w", ErrNoClient)
	}
	method := r.AuthMethod
	if method == "" {
		switch {
		case r.PrivateKey != "":
			method = AuthMethodPrivateKeyJWT
		case r.ClientSecret != "":
			m, err := secretMethod(d.TokenEndpointAuthMethods)
			if err != nil {
				return nil, fmt.Errorf("oauth: client credentials: %w: %w", ErrUnsupportedGrant, err)
			}
			method = m
		default:
			method = AuthMethodNone
		}
	}
	cr := &Credentials{ClientID: r.ClientID, AuthMethod: method, Issuer: d.Issuer}
	switch method {
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		if r.ClientSecret == "" {
			return nil, fmt.Errorf("oauth: client credentials: %w: %s needs a client secret", ErrNoClient, method)
		}
		if r.PrivateKey != "" {
			return nil, fmt.Errorf("oauth: client credentials: a private key applies only to %s", AuthMethodPrivateKeyJWT)
		}
		cr.ClientSecret = r.ClientSecret
	case AuthMethodPrivateKeyJWT:
		if r.PrivateKey == "" {
			return nil, fmt.Errorf("oauth: client credentials: %w: %s needs a private key", ErrNoClient, method)
		}
		if r.ClientSecret != "" {
			return nil, fmt.Errorf("oauth: client credentials: a client secret does not apply to %s", method)
		}
		if _, err := ParsePrivateKey(r.PrivateKey); err != nil {
			return nil, fmt.Errorf("oauth: client credentials: %w", err)
		}
		cr.PrivateKey = r.PrivateKey
	case AuthMethodNone:
		if r.ClientSecret != "" || r.PrivateKey != "" {
			return nil, fmt.Errorf("oauth: client credentials: a secret or key does not apply to token endpoint authentication none")
		}
	default:
		return nil, fmt.Errorf("oauth: client credentials: unsupported token endpoint authentication %q", clean(method, 64))
	}
	// RFC 8414 §2: an absent list means client_secret_basic alone, but
	// servers often omit it; only a stated list is held against a choice.
	if len(d.TokenEndpointAuthMethods) > 0 && !slices.Contains(d.TokenEndpointAuthMethods, method) {
		return nil, fmt.Errorf("oauth: client credentials: %w: it lists token endpoint authentication %s, not %s",
			ErrUnsupportedGrant, clean(strings.Join(d.TokenEndpointAuthMethods, ", "), 200), method)
	}
	return cr, nil
}

// isRefusal reports whether err is the authorization server refusing a
// client credentials request for a reason only its owner can fix.
func isRefusal(err error) bool {
	return errors.Is(err, ErrInvalidClient) || errors.Is(err, ErrInvalidGrant)
}
