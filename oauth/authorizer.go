package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	Discovery   *Discovery   `json:"discovery"`
	Credentials *Credentials `json:"credentials"`
	Scopes      []string     `json:"scopes,omitempty"`
	Token       *Token       `json:"token,omitempty"`
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
		errors.Is(err, ErrNoClient), errors.Is(err, ErrRegistration), errors.Is(err, ErrNoOAuth):
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

// Begin implements registry.Authorizer.
func (a *Authorizer) Begin(ctx context.Context, serverURL string, req registry.OAuthRequest, redirectURI string) (registry.SecretBlob, *registry.PendingAuth, error) {
	over := Overrides{AuthorizationEndpoint: req.AuthorizeURL, TokenEndpoint: req.TokenURL}
	d, err := a.Client.Discover(ctx, serverURL)
	switch {
	case errors.Is(err, ErrNoOAuth) && over.AuthorizationEndpoint != "" && over.TokenEndpoint != "":
		d, err = ManualDiscovery(serverURL, over)
	case err == nil && !over.IsZero():
		d, err = d.WithOverrides(over)
	}
	if errors.Is(err, ErrNoOAuth) {
		return nil, nil, &registry.Error{Kind: registry.ErrValidation,
			Message: "the server advertises no OAuth metadata; give oauth_authorize_url and oauth_token_url (and oauth_client_id)"}
	}
	if err != nil {
		return nil, nil, asRegistryError(err)
	}
	cr, err := a.Client.Register(ctx, d, RegisterRequest{
		ClientID: req.ClientID, ClientSecret: req.ClientSecret, RedirectURI: redirectURI,
		ClientMetadataURL: a.ClientMetadataURL, Scopes: req.Scopes,
	})
	if err != nil {
		return nil, nil, asRegistryError(err)
	}
	doc := &Document{Discovery: d, Credentials: cr, Scopes: d.Scopes(req.Scopes)}
	pending, err := a.start(doc, redirectURI)
	if err != nil {
		return nil, nil, err
	}
	blob, err := encodeDoc(doc)
	return blob, pending, err
}

func (a *Authorizer) start(doc *Document, redirectURI string) (*registry.PendingAuth, error) {
	ar, err := AuthorizeURL(doc.Discovery, doc.Credentials, redirectURI, doc.Scopes)
	if err != nil {
		return nil, asRegistryError(err)
	}
	return &registry.PendingAuth{URL: ar.URL, State: ar.State, Verifier: ar.Verifier, Issuer: doc.Discovery.Issuer}, nil
}

// Restart implements registry.Authorizer.
func (a *Authorizer) Restart(ctx context.Context, blob registry.SecretBlob, redirectURI string) (*registry.PendingAuth, error) {
	doc, err := decodeDoc(blob)
	if err != nil {
		return nil, err
	}
	return a.start(doc, redirectURI)
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
		return nil, err
	}
	doc.Token = tok
	return encodeDoc(doc)
}

// AccessToken implements registry.Authorizer.
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
	if doc.Token.RefreshToken == "" {
		if doc.Token.Expiry.IsZero() || a.now().Before(doc.Token.Expiry) {
			return doc.Token.AccessToken, nil, nil // still valid; nothing to refresh with
		}
		return "", nil, fmt.Errorf("%w: the access token expired and there is no refresh token", registry.ErrReauthRequired)
	}
	tok, err := a.Client.Refresh(ctx, doc.Discovery, doc.Credentials, doc.Token.RefreshToken)
	if errors.Is(err, ErrInvalidGrant) {
		return "", nil, fmt.Errorf("%w: %v", registry.ErrReauthRequired, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: token refresh: %v", registry.ErrUpstreamAuth, err)
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
	return errors.Join(errs...)
}
