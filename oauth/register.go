package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Token endpoint client authentication methods tether can use.
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	// AuthMethodPrivateKeyJWT is RFC 7523 §2.2 client authentication: a
	// JWT signed with the client's private key ([Credentials.PrivateKey]).
	AuthMethodPrivateKeyJWT = "private_key_jwt"
)

// Grant types tether runs.
const (
	// GrantAuthorizationCode is the user-facing flow: a browser round trip,
	// then refresh tokens.
	GrantAuthorizationCode = "authorization_code"
	// GrantClientCredentials is the machine-to-machine flow (RFC 6749
	// §4.4, the MCP client credentials extension): no user, no refresh
	// token; a new access token is requested when the last one expires.
	GrantClientCredentials = "client_credentials"
)

// Credentials identify tether to one authorization server.
//
// The JSON form holds ClientSecret, RegistrationAccessToken and PrivateKey in plaintext
// so that it round-trips: encrypt it (secrets keyring) before it is stored,
// and never send it in an API response. Printing (String, GoString, any fmt
// verb) and slog redact both.
type Credentials struct {
	// ClientID is the client identifier: supplied, registered, or tether's
	// client ID metadata document URL.
	ClientID string `json:"client_id"`
	// ClientSecret is empty for a public client (AuthMethod none).
	ClientSecret string `json:"client_secret,omitempty"`
	// AuthMethod is the token endpoint authentication method:
	// [AuthMethodNone], [AuthMethodClientSecretBasic] or
	// [AuthMethodClientSecretPost].
	AuthMethod string `json:"auth_method"`
	// Issuer is the authorization server the client belongs to. Token calls
	// with a Discovery for another issuer are refused, so a client secret is
	// never sent to a server it was not issued by.
	Issuer string `json:"issuer,omitempty"`
	// RegistrationAccessToken and RegistrationClientURI come from dynamic
	// registration (RFC 7592 client management), when the server gives them.
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
	// ClientSecretExpiresAt is when a registered secret expires; zero means
	// never (or unknown).
	ClientSecretExpiresAt time.Time `json:"client_secret_expires_at,omitzero"`
	// PrivateKey is the PEM private key of [AuthMethodPrivateKeyJWT]
	// (PKCS #8, PKCS #1 or SEC 1); empty for the other methods.
	PrivateKey string `json:"private_key,omitempty"`
}

// String describes cr with its secrets redacted.
func (cr Credentials) String() string {
	return fmt.Sprintf("oauth.Credentials{ClientID: %q, AuthMethod: %q, Issuer: %q, ClientSecret: %s, RegistrationAccessToken: %s, PrivateKey: %s}",
		cr.ClientID, cr.AuthMethod, cr.Issuer, redacted(cr.ClientSecret), redacted(cr.RegistrationAccessToken), redacted(cr.PrivateKey))
}

// GoString is String, so %#v redacts too.
func (cr Credentials) GoString() string { return cr.String() }

// Format makes every fmt verb (%d and %x included, which would otherwise
// print the fields) show the redacted String.
func (cr Credentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(cr.String())) }

// LogValue is the redacted form for log/slog.
func (cr Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", cr.ClientID),
		slog.String("auth_method", cr.AuthMethod),
		slog.String("issuer", cr.Issuer),
		slog.Bool("has_client_secret", cr.ClientSecret != ""),
		slog.Bool("has_registration_access_token", cr.RegistrationAccessToken != ""),
		slog.Bool("has_private_key", cr.PrivateKey != ""),
	)
}

// redacted shows whether a secret is set, never its value.
func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// RegisterRequest is what [Client.Register] needs to obtain a client.
type RegisterRequest struct {
	// ClientID and ClientSecret are a client the user registered themselves
	// (oauth_client_id, oauth_client_secret); they take precedence.
	ClientID     string
	ClientSecret string
	// RedirectURI is tether's callback, exactly as it will be sent in the
	// authorization request.
	RedirectURI string
	// ClientMetadataURL is where tether serves its client ID metadata
	// document ({public-url}/oauth/client-metadata.json). It is used as the
	// client_id only when it is https, since the authorization server must
	// fetch it.
	ClientMetadataURL string
	// Scopes are registered as the client's scope in dynamic registration,
	// when given.
	Scopes []string
}

// Register obtains a client for d's authorization server, in SECURITY.md's
// order:
//
//  1. the client_id (and secret) the user supplied; with a secret, the
//     token endpoint method is client_secret_basic or client_secret_post as
//     the server advertises (basic, RFC 8414's default, when it says
//     nothing);
//  2. a client ID metadata document, when the server advertises
//     client_id_metadata_document_supported and ClientMetadataURL is https:
//     the client_id is that URL, method none;
//  3. RFC 7591 dynamic registration at registration_endpoint, asking for
//     grant_types [authorization_code, refresh_token] (RFC 7591's default is
//     the first alone, and strict servers then issue no refresh token),
//     response_types [code], redirect_uris [RedirectURI] and
//     token_endpoint_auth_method none, unless the server advertises methods
//     without none (then client_secret_basic, else client_secret_post);
//  4. otherwise [ErrNoClient].
//
// A failed registration wraps [ErrRegistration]; the returned Credentials
// record the issuer they belong to.
func (c *Client) Register(ctx context.Context, d *Discovery, r RegisterRequest) (_ *Credentials, err error) {
	ctx, span := c.startSpan(ctx, "registration", d.RegistrationEndpoint)
	defer func() { endSpan(span, err) }()
	switch {
	case r.ClientID != "":
		cr := &Credentials{ClientID: r.ClientID, AuthMethod: AuthMethodNone, Issuer: d.Issuer}
		if r.ClientSecret != "" {
			m, err := secretMethod(d.TokenEndpointAuthMethods)
			if err != nil {
				return nil, fmt.Errorf("oauth: register: %w", err)
			}
			cr.ClientSecret, cr.AuthMethod = r.ClientSecret, m
		}
		return cr, nil
	case r.ClientSecret != "":
		return nil, fmt.Errorf("oauth: register: a client secret was supplied without a client_id")
	case d.ClientIDMetadataDocumentSupported && isCIMDURL(r.ClientMetadataURL):
		return &Credentials{ClientID: r.ClientMetadataURL, AuthMethod: AuthMethodNone, Issuer: d.Issuer}, nil
	case d.RegistrationEndpoint != "":
		cr, err := c.registerDynamic(ctx, d, r)
		if err != nil {
			return nil, fmt.Errorf("oauth: register at %s: %w", originOf(d.RegistrationEndpoint), err)
		}
		return cr, nil
	default:
		return nil, fmt.Errorf("oauth: register: %w (the authorization server offers no dynamic registration)", ErrNoClient)
	}
}

// isCIMDURL reports whether u can serve as a client ID metadata document
// URL: https with a path, no fragment (draft-ietf-oauth-client-id-metadata-document).
func isCIMDURL(u string) bool {
	pu, err := parseHTTPURL("client metadata URL", u)
	return err == nil && pu.Scheme == "https" && strings.Trim(pu.Path, "/") != "" && pu.Fragment == ""
}

// secretMethod picks how a client with a secret authenticates at the token
// endpoint, from token_endpoint_auth_methods_supported.
func secretMethod(supported []string) (string, error) {
	switch {
	case len(supported) == 0, slices.Contains(supported, AuthMethodClientSecretBasic):
		return AuthMethodClientSecretBasic, nil
	case slices.Contains(supported, AuthMethodClientSecretPost):
		return AuthMethodClientSecretPost, nil
	default:
		return "", fmt.Errorf("the authorization server supports neither client_secret_basic nor client_secret_post (it lists %s)",
			clean(strings.Join(supported, ", "), 200))
	}
}

// registrationMethod picks the token_endpoint_auth_method to ask for in
// dynamic registration: none (a public client, so no secret to keep) unless
// the server advertises methods without it.
func registrationMethod(supported []string) (string, error) {
	if len(supported) == 0 || slices.Contains(supported, AuthMethodNone) {
		return AuthMethodNone, nil
	}
	return secretMethod(supported)
}

// registrationResponse is RFC 7591 §3.2.1 plus RFC 7592's management
// fields, which oauthex.ClientRegistrationResponse does not carry.
type registrationResponse struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret"`
	ClientSecretExpiresAt   int64  `json:"client_secret_expires_at"`
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// oauthError is the error body of RFC 6749 §5.2 and RFC 7591 §3.2.2.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// registerDynamic performs RFC 7591 registration. It posts the request
// itself rather than through oauthex.RegisterClient, which drops
// registration_access_token and quotes the whole response body (client
// secret included) in some of its errors.
func (c *Client) registerDynamic(ctx context.Context, d *Discovery, r RegisterRequest) (*Credentials, error) {
	if r.RedirectURI == "" {
		return nil, fmt.Errorf("%w: no redirect URI", ErrRegistration)
	}
	method, err := registrationMethod(d.TokenEndpointAuthMethods)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistration, err)
	}
	meta := oauthex.ClientRegistrationMetadata{
		RedirectURIs:            []string{r.RedirectURI},
		TokenEndpointAuthMethod: method,
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		ClientName:              c.name,
		Scope:                   strings.Join(r.Scopes, " "),
	}
	payload, err := json.Marshal(&meta)
	if err != nil {
		return nil, fmt.Errorf("encode registration: %w", err)
	}
	req, err := newRequest(ctx, http.MethodPost, d.RegistrationEndpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	body, err := readCapped(resp.Body, maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRegistration, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		var oe oauthError
		if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
			return nil, fmt.Errorf("%w: HTTP %d: %s", ErrRegistration, resp.StatusCode, describe(oe.Error, oe.Description))
		}
		return nil, fmt.Errorf("%w: HTTP %d", ErrRegistration, resp.StatusCode)
	}
	var rr registrationResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		// Not the decoder's message: it may quote the body, secret and all.
		return nil, fmt.Errorf("%w: the response is not a registration JSON object", ErrRegistration)
	}
	if rr.ClientID == "" {
		return nil, fmt.Errorf("%w: the response has no client_id", ErrRegistration)
	}
	cr := &Credentials{
		ClientID:                rr.ClientID,
		ClientSecret:            rr.ClientSecret,
		AuthMethod:              method,
		Issuer:                  d.Issuer,
		RegistrationAccessToken: rr.RegistrationAccessToken,
		RegistrationClientURI:   rr.RegistrationClientURI,
	}
	if rr.ClientSecretExpiresAt > 0 {
		cr.ClientSecretExpiresAt = time.Unix(rr.ClientSecretExpiresAt, 0).UTC()
	}
	// The server may register another method than asked (RFC 7591 §3.2.1);
	// what it registered is what the token endpoint will expect.
	switch rr.TokenEndpointAuthMethod {
	case "":
	case AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		cr.AuthMethod = rr.TokenEndpointAuthMethod
	default:
		return nil, fmt.Errorf("%w: the server registered token_endpoint_auth_method %q, which tether does not support",
			ErrRegistration, clean(rr.TokenEndpointAuthMethod, 64))
	}
	if cr.AuthMethod == AuthMethodNone {
		cr.ClientSecret = ""
	} else if cr.ClientSecret == "" {
		return nil, fmt.Errorf("%w: the server registered %s but issued no client_secret", ErrRegistration, cr.AuthMethod)
	}
	return cr, nil
}

// ClientMetadataDocument is tether's client ID metadata document, served at
// {public-url}/oauth/client-metadata.json: an authorization server that
// supports client ID metadata documents fetches it to learn the client whose
// client_id is that URL. clientID must be the URL the document is served at.
func ClientMetadataDocument(clientID, redirectURI, clientName string) map[string]any {
	if clientName == "" {
		clientName = "tether"
	}
	return map[string]any{
		"client_id":                  clientID,
		"client_name":                clientName,
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": AuthMethodNone,
	}
}
