package oauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

// refreshSkew is how long before expiry an access token is refreshed.
const refreshSkew = 60 * time.Second

// Authorizer adapts a Client to registry.Authorizer: the connection's OAuth
// document is a JSON Document, which the store encrypts.
type Authorizer struct {
	Client *Client
	// ClientMetadataURL is tether's client ID metadata document URL
	// ({public-url}/oauth/client-metadata.json), used when it is https and
	// the authorization server supports such documents.
	ClientMetadataURL string
	Now               func() time.Time
}

var _ registry.Authorizer = (*Authorizer)(nil)

// Document is a connection's OAuth state.
type Document struct {
	// Grant is [GrantAuthorizationCode] ("" in documents written before
	// grants were recorded) or [GrantClientCredentials].
	Grant       string       `json:"grant,omitempty"`
	Discovery   *Discovery   `json:"discovery"`
	Credentials *Credentials `json:"credentials"`
	// Scopes are the scopes requested, accumulated over step-up
	// challenges.
	Scopes []string `json:"scopes,omitempty"`
	Token  *Token   `json:"token,omitempty"`
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func decodeDoc(b registry.SecretBlob) (*Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil || d.Discovery == nil || d.Credentials == nil {
		return nil, fmt.Errorf("oauth: the stored OAuth document is unreadable")
	}
	return &d, nil
}

func encodeDoc(d *Document) (registry.SecretBlob, error) {
	b, err := json.Marshal(d)
	return registry.SecretBlob(b), err
}

// asRegistryError gives discovery and registration failures the registry's
// kinds: a URL refused by the network policy is an invalid endpoint (400);
// a broken OAuth setup, or a server that cannot be reached for discovery,
// is a validation error (400): in both cases the user must fix the URL or
// the server, and the message says which.
func asRegistryError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, netguard.ErrRefused):
		return &registry.Error{Kind: registry.ErrInvalidEndpoint, Message: msg}
	case errors.Is(err, ErrNoPKCE), errors.Is(err, ErrIssuerMismatch), errors.Is(err, ErrInvalidMetadata),
		errors.Is(err, ErrNoClient), errors.Is(err, ErrRegistration), errors.Is(err, ErrNoOAuth),
		errors.Is(err, ErrUnsupportedGrant), errors.Is(err, ErrInvalidKey):
		return &registry.Error{Kind: registry.ErrValidation, Message: msg}
	}
	return &registry.Error{Kind: registry.ErrValidation, Message: "could not complete OAuth discovery: " + msg}
}

// Discover implements registry.Authorizer.
func (a *Authorizer) Discover(ctx context.Context, serverURL string) (*registry.OAuthDiscovery, error) {
	d, err := a.Client.Discover(ctx, serverURL)
	if errors.Is(err, ErrNoOAuth) {
		return &registry.OAuthDiscovery{Scopes: []string{}}, nil
	}
	if err != nil {
		return nil, asRegistryError(err)
	}
	scopes := d.Scopes(nil)
	if scopes == nil {
		scopes = []string{}
	}
	return &registry.OAuthDiscovery{
		SupportsDCR: d.SupportsDCR(), AuthorizeURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint, Scopes: scopes,
	}, nil
}

// Begin implements registry.Authorizer. For the authorization code grant
// it discovers, registers a client and starts an authorization; a server
// with no metadata gets the 2025-03-26 default endpoints at its base URL
// ([FallbackDiscovery]), under the user's oauth_authorize_url and
// oauth_token_url when given. For client_credentials it discovers the
// token endpoint and fetches the first token at once: no PendingAuth.
func (a *Authorizer) Begin(ctx context.Context, serverURL string, req registry.OAuthRequest, redirectURI string) (registry.SecretBlob, *registry.PendingAuth, error) {
	switch req.Grant {
	case "", registry.GrantAuthorizationCode:
	case registry.GrantClientCredentials:
		blob, err := a.beginClientCredentials(ctx, serverURL, req)
		return blob, nil, err
	default:
		return nil, nil, &registry.Error{Kind: registry.ErrValidation, Message: fmt.Sprintf("unsupported oauth_grant %q", req.Grant)}
	}
	if req.PrivateKey != "" || (req.TokenEndpointAuth != "" && req.TokenEndpointAuth != AuthMethodNone && req.ClientSecret == "") {
		return nil, nil, &registry.Error{Kind: registry.ErrValidation,
			Message: "oauth_private_key and oauth_token_endpoint_auth other than a client secret's apply to oauth_grant client_credentials"}
	}
	d, err := a.discover(ctx, serverURL, req, true)
	if err != nil {
		return nil, nil, err
	}
	cr, err := a.Client.Register(ctx, d, RegisterRequest{
		ClientID: req.ClientID, ClientSecret: req.ClientSecret, RedirectURI: redirectURI,
		ClientMetadataURL: a.ClientMetadataURL, Scopes: req.Scopes,
	})
	if err != nil && d.Fallback && errors.Is(err, ErrRegistration) {
		// /register was a guess (the server publishes no metadata): say
		// what the user can do instead.
		err = fmt.Errorf("%w; the server publishes no OAuth metadata, so registration at its default /register was tried: give oauth_client_id", err)
	}
	if err != nil {
		return nil, nil, asRegistryError(err)
	}
	if req.TokenEndpointAuth != "" && req.ClientSecret != "" {
		if req.TokenEndpointAuth != AuthMethodClientSecretBasic && req.TokenEndpointAuth != AuthMethodClientSecretPost {
			return nil, nil, &registry.Error{Kind: registry.ErrValidation,
				Message: "a client secret authenticates with client_secret_basic or client_secret_post"}
		}
		cr.AuthMethod = req.TokenEndpointAuth
	}
	doc := &Document{Grant: GrantAuthorizationCode, Discovery: d, Credentials: cr, Scopes: d.Scopes(req.Scopes)}
	pending, err := a.start(doc, redirectURI)
	if err != nil {
		return nil, nil, err
	}
	blob, err := encodeDoc(doc)
	return blob, pending, err
}

// discover finds the endpoints for a connect: discovery, the user's
// overrides on top, and the 2025-03-26 fallback when the server publishes
// nothing. A registration endpoint is assumed at the server's base only
// when the endpoints in use are there too: a client registered at one
// server must not be presented to another.
func (a *Authorizer) discover(ctx context.Context, serverURL string, req registry.OAuthRequest, forCode bool) (*Discovery, error) {
	over := Overrides{AuthorizationEndpoint: req.AuthorizeURL, TokenEndpoint: req.TokenURL}
	var d *Discovery
	var err error
	if forCode {
		d, err = a.Client.Discover(ctx, serverURL)
	} else {
		d, err = a.Client.DiscoverClientCredentials(ctx, serverURL)
	}
	if errors.Is(err, ErrNoOAuth) {
		// The user asked for OAuth: a server that publishes no metadata
		// (and perhaps did not even answer 401 to an anonymous probe) gets
		// the 2025-03-26 default endpoints.
		d, err = FallbackDiscovery(serverURL)
	}
	if err != nil {
		return nil, asRegistryError(err)
	}
	if !over.IsZero() {
		base := d.RegistrationEndpoint
		if d, err = d.WithOverrides(over); err != nil {
			return nil, asRegistryError(err)
		}
		if d.Fallback && !sameOrigin(base, d.AuthorizationEndpoint, d.TokenEndpoint) {
			d.RegistrationEndpoint = ""
		}
	}
	return d, nil
}

// sameOrigin reports whether every URL in rest has first's origin.
func sameOrigin(first string, rest ...string) bool {
	o := originOf(first)
	for _, u := range rest {
		if originOf(u) != o {
			return false
		}
	}
	return true
}

// beginClientCredentials sets up a machine-to-machine connection and
// fetches its first token; a refused client is the user's to fix (400).
func (a *Authorizer) beginClientCredentials(ctx context.Context, serverURL string, req registry.OAuthRequest) (registry.SecretBlob, error) {
	if req.AuthorizeURL != "" {
		return nil, &registry.Error{Kind: registry.ErrValidation, Message: "oauth_authorize_url does not apply to oauth_grant client_credentials (no browser step)"}
	}
	d, err := a.discover(ctx, serverURL, req, false)
	if err != nil {
		return nil, err
	}
	cr, err := ClientCredentialsClient(d, ClientCredentialsRequest{
		ClientID: req.ClientID, ClientSecret: req.ClientSecret, AuthMethod: req.TokenEndpointAuth, PrivateKey: req.PrivateKey,
	})
	if err != nil {
		return nil, asRegistryError(err)
	}
	doc := &Document{Grant: GrantClientCredentials, Discovery: d, Credentials: cr, Scopes: d.Scopes(req.Scopes)}
	tok, err := a.Client.ClientCredentials(ctx, d, cr, doc.Scopes)
	if err != nil {
		return nil, &registry.Error{Kind: registry.ErrValidation, Message: "the authorization server issued no token: " + scrub(err, cr)}
	}
	doc.Token = tok
	return encodeDoc(doc)
}

func (a *Authorizer) start(doc *Document, redirectURI string) (*registry.PendingAuth, error) {
	ar, err := AuthorizeURL(doc.Discovery, doc.Credentials, redirectURI, doc.Scopes)
	if err != nil {
		return nil, asRegistryError(err)
	}
	return &registry.PendingAuth{URL: ar.URL, State: ar.State, Verifier: ar.Verifier, Issuer: doc.Discovery.Issuer}, nil
}

// Restart implements registry.Authorizer: a new authorization request for
// the document's scopes (step-up challenges included); for
// client_credentials, a new token at once.
func (a *Authorizer) Restart(ctx context.Context, blob registry.SecretBlob, redirectURI string) (registry.SecretBlob, *registry.PendingAuth, error) {
	doc, err := decodeDoc(blob)
	if err != nil {
		return nil, nil, err
	}
	if doc.Grant == GrantClientCredentials {
		tok, err := a.Client.ClientCredentials(ctx, doc.Discovery, doc.Credentials, doc.Scopes)
		if err != nil {
			return nil, nil, &registry.Error{Kind: registry.ErrUpstreamAuth, Message: "the authorization server issued no token: " + scrub(err, doc.Credentials)}
		}
		doc.Token = tok
		updated, err := encodeDoc(doc)
		return updated, nil, err
	}
	pending, err := a.start(doc, redirectURI)
	return nil, pending, err
}

// StepUp implements registry.Authorizer: an insufficient_scope challenge
// adds its scopes to the document's (SEP-2350: the stored scopes, the
// granted ones and the challenged ones, accumulated), so the next
// authorization asks for all of them. A challenge that would take the
// accumulated list past [MaxScopes] or [MaxScopeBytes] is not honoured
// (ok false): a server that names fresh scopes on every answer must not
// grow the stored document, the status and the next authorization request
// without bound.
func (a *Authorizer) StepUp(blob registry.SecretBlob, challenge string) (registry.SecretBlob, []string, bool, error) {
	challenged, ok := StepUpScopes(challenge)
	if !ok {
		return nil, nil, false, nil
	}
	doc, err := decodeDoc(blob)
	if err != nil {
		return nil, nil, false, err
	}
	var granted []string
	if doc.Token != nil {
		granted = strings.Fields(doc.Token.Scope)
	}
	scopes := AccumulateScopes(doc.Scopes, granted, challenged)
	if !ScopesWithinBounds(scopes) {
		return nil, nil, false, nil
	}
	doc.Scopes = scopes
	updated, err := encodeDoc(doc)
	if err != nil {
		return nil, nil, false, err
	}
	return updated, slices.Clone(doc.Scopes), true, nil
}

// CheckIss implements registry.Authorizer.
func (a *Authorizer) CheckIss(blob registry.SecretBlob, iss string) error {
	doc, err := decodeDoc(blob)
	if err != nil {
		return err
	}
	return CheckIss(doc.Discovery, iss)
}

// Exchange implements registry.Authorizer.
func (a *Authorizer) Exchange(ctx context.Context, blob registry.SecretBlob, code, verifier, redirectURI string) (registry.SecretBlob, error) {
	doc, err := decodeDoc(blob)
	if err != nil {
		return nil, err
	}
	tok, err := a.Client.Exchange(ctx, doc.Discovery, doc.Credentials, code, verifier, redirectURI)
	if err != nil {
		return nil, scrubbed(err, doc.Credentials)
	}
	doc.Token = tok
	return encodeDoc(doc)
}

// AccessToken implements registry.Authorizer.
// WouldRefresh reports whether AccessToken would go to the authorization
// server for this document (a refresh, or a new client-credentials
// token) rather than answer from it: the registry then takes the
// fleet-wide lock of the connection first. An unreadable document says
// yes; AccessToken reports why.
func (a *Authorizer) WouldRefresh(blob registry.SecretBlob) bool {
	doc, err := decodeDoc(blob)
	if err != nil || doc.Token == nil {
		return true
	}
	return doc.Token.NeedsRefresh(a.now(), refreshSkew)
}

func (a *Authorizer) AccessToken(ctx context.Context, blob registry.SecretBlob) (string, registry.SecretBlob, error) {
	doc, err := decodeDoc(blob)
	if err != nil {
		return "", nil, err
	}
	if doc.Token == nil {
		return "", nil, fmt.Errorf("%w: no token yet", registry.ErrReauthRequired)
	}
	if !doc.Token.NeedsRefresh(a.now(), refreshSkew) {
		return doc.Token.AccessToken, nil, nil
	}
	if doc.Grant == GrantClientCredentials {
		return a.clientCredentialsToken(ctx, doc)
	}
	if doc.Token.RefreshToken == "" {
		if doc.Token.Expiry.IsZero() || a.now().Before(doc.Token.Expiry) {
			return doc.Token.AccessToken, nil, nil // still valid; nothing to refresh with
		}
		return "", nil, fmt.Errorf("%w: the access token expired and there is no refresh token", registry.ErrReauthRequired)
	}
	tok, err := a.Client.Refresh(ctx, doc.Discovery, doc.Credentials, doc.Token.RefreshToken)
	if errors.Is(err, ErrInvalidGrant) {
		return "", nil, fmt.Errorf("%w: %s", registry.ErrReauthRequired, scrub(err, doc.Credentials, doc.Token.RefreshToken))
	}
	if err != nil {
		// The refresh token is still good: it must not travel with the error.
		return "", nil, fmt.Errorf("%w: token refresh: %s", registry.ErrUpstreamAuth, scrub(err, doc.Credentials, doc.Token.RefreshToken))
	}
	doc.Token = tok
	updated, err := encodeDoc(doc)
	if err != nil {
		return "", nil, err
	}
	return tok.AccessToken, updated, nil
}

// clientCredentialsToken fetches a new token with the grant itself (there
// is no refresh token). A refused client (a revoked secret or key) needs
// its owner: re-authorization required.
func (a *Authorizer) clientCredentialsToken(ctx context.Context, doc *Document) (string, registry.SecretBlob, error) {
	tok, err := a.Client.ClientCredentials(ctx, doc.Discovery, doc.Credentials, doc.Scopes)
	if isRefusal(err) {
		return "", nil, fmt.Errorf("%w: %s", registry.ErrReauthRequired, scrub(err, doc.Credentials))
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: token request: %s", registry.ErrUpstreamAuth, scrub(err, doc.Credentials))
	}
	doc.Token = tok
	updated, err := encodeDoc(doc)
	if err != nil {
		return "", nil, err
	}
	return tok.AccessToken, updated, nil
}

// Revoke implements registry.Authorizer: the refresh token, then the
// access token.
func (a *Authorizer) Revoke(ctx context.Context, blob registry.SecretBlob) error {
	doc, err := decodeDoc(blob)
	if err != nil || doc.Token == nil {
		return err
	}
	var errs []error
	if doc.Token.RefreshToken != "" {
		errs = append(errs, a.Client.Revoke(ctx, doc.Discovery, doc.Credentials, doc.Token.RefreshToken, "refresh_token"))
	}
	errs = append(errs, a.Client.Revoke(ctx, doc.Discovery, doc.Credentials, doc.Token.AccessToken, "access_token"))
	err = errors.Join(errs...)
	if err == nil {
		return nil
	}
	// A failed revocation leaves the tokens valid, and its error is logged.
	return scrubbed(err, doc.Credentials, doc.Token.RefreshToken, doc.Token.AccessToken)
}

// scrubbed is err with [scrub]'s message; errors.Is and errors.As still
// see err's chain.
func scrubbed(err error, cr *Credentials, tokens ...string) error {
	return &scrubbedError{msg: scrub(err, cr, tokens...), err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub is err's message with cr's secrets and tokens taken out: an
// authorization server's error_description is untrusted text, and one that
// echoes what it was sent must not carry a client secret or a token into a
// response or a log.
func scrub(err error, cr *Credentials, tokens ...string) string {
	msg := err.Error()
	forms := slices.Clone(tokens)
	for _, t := range tokens {
		forms = append(forms, url.QueryEscape(t)) // as the form sent it
	}
	if cr == nil {
		cr = &Credentials{}
	}
	forms = append(forms, cr.ClientSecret, cr.PrivateKey)
	if cr.ClientSecret != "" {
		// As client_secret_post and client_secret_basic sent it: form-encoded,
		// and the whole Basic credential (which decodes to the secret).
		id, sec := url.QueryEscape(cr.ClientID), url.QueryEscape(cr.ClientSecret)
		forms = append(forms, sec, base64.StdEncoding.EncodeToString([]byte(id+":"+sec)))
	}
	for _, v := range forms {
		if len(v) < 4 {
			continue
		}
		// As given, and as describe quotes it (%q escapes).
		quoted := strconv.Quote(v)
		msg = strings.ReplaceAll(msg, quoted[1:len(quoted)-1], "***")
		msg = strings.ReplaceAll(msg, v, "***")
	}
	return msg
}
