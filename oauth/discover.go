package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Discovery is what discovery found for one MCP server URL. It is plain data
// that round-trips through JSON, so it can be stored on the connection row
// and reused for the authorization request, the callback and every refresh
// without discovering again.
type Discovery struct {
	// Resource is the canonical resource URI (RFC 8707) sent as "resource"
	// on the authorization and token requests: the protected resource
	// metadata's "resource" when it matches the server URL, else the server
	// URL itself; lowercase scheme and host, no fragment.
	Resource string `json:"resource"`
	// ResourceMetadataURL is where the protected resource metadata was found;
	// empty when the server has none (the 2025-03-26 fallback, where the
	// server's origin is its own authorization server).
	ResourceMetadataURL string `json:"resource_metadata_url,omitempty"`
	// Issuer is the authorization server's issuer identifier, exactly as its
	// metadata states it: the value RFC 9207's iss must equal.
	Issuer string `json:"issuer,omitempty"`
	// AuthorizationEndpoint is where the user's browser is sent.
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	// TokenEndpoint is where codes and refresh tokens are exchanged.
	TokenEndpoint string `json:"token_endpoint"`
	// RegistrationEndpoint is the RFC 7591 dynamic client registration
	// endpoint; empty when the server offers none.
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`
	// RevocationEndpoint is the RFC 7009 revocation endpoint, if any.
	RevocationEndpoint string `json:"revocation_endpoint,omitempty"`
	// ScopesSupported is the protected resource metadata's scopes_supported
	// (the MCP specification's source for default scopes); the authorization
	// server's only when there is no protected resource metadata.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// ChallengeScopes is the scope of the first Bearer WWW-Authenticate
	// challenge the server answered with.
	ChallengeScopes []string `json:"challenge_scopes,omitempty"`
	// ClientIDMetadataDocumentSupported is the authorization server's
	// client_id_metadata_document_supported: it accepts an https URL as
	// client_id and fetches the client's metadata from it.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// IssParameterSupported is authorization_response_iss_parameter_supported
	// (RFC 9207): the callback must then carry iss.
	IssParameterSupported bool `json:"iss_parameter_supported,omitempty"`
	// TokenEndpointAuthMethods is token_endpoint_auth_methods_supported.
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods,omitempty"`
	// CodeChallengeMethods is code_challenge_methods_supported; after
	// [Client.Discover] it always contains S256.
	CodeChallengeMethods []string `json:"code_challenge_methods,omitempty"`
	// GrantTypes is grant_types_supported, when the metadata lists it.
	GrantTypes []string `json:"grant_types,omitempty"`
	// Fallback marks the 2025-03-26 default endpoints ([FallbackDiscovery]):
	// the server published no metadata, and its base URL serves /authorize,
	// /token and /register.
	Fallback bool `json:"fallback,omitempty"`
}

// SupportsDCR reports whether the authorization server offers RFC 7591
// dynamic client registration: the discover endpoint's supports_dcr.
func (d *Discovery) SupportsDCR() bool { return d.RegistrationEndpoint != "" }

// Scopes picks the scopes to request, per the MCP specification's scope
// selection: the user's explicit scopes win; else the WWW-Authenticate
// challenge's; else scopes_supported; else none (nil: omit the parameter).
// It returns a copy the caller may modify. The server's lists are passed
// over when they are not ones tether would accept in a step-up challenge
// (over [MaxScopes] or [MaxScopeBytes], or with a token RFC 6749 §3.3 does
// not allow): a server must not make the authorization request, and what
// is stored, as large as it likes.
func (d *Discovery) Scopes(explicit []string) []string {
	if len(explicit) > 0 {
		return slices.Clone(explicit)
	}
	for _, s := range [][]string{d.ChallengeScopes, d.ScopesSupported} {
		if len(s) > 0 && ScopesWithinBounds(s) && allScopeTokens(s) {
			return slices.Clone(s)
		}
	}
	return nil
}

// challenge is what the unauthenticated probe learned.
type challenge struct {
	unauthorized     bool   // the server answered 401
	resourceMetadata string // resource_metadata of the first Bearer challenge
	scopes           []string
}

// Discover finds how to authorize tether to the MCP server at serverURL:
//
//  1. An unauthenticated MCP initialize POST (a GET if POST is not allowed);
//     on 401 the first Bearer WWW-Authenticate challenge gives
//     resource_metadata and scope.
//  2. Protected resource metadata (RFC 9728) from that URL, else the
//     path-inserted well-known URL, else the root one. Its resource must
//     match the server URL (the same canonical URL, or its origin or a
//     parent path on the same origin), else [ErrIssuerMismatch]; the
//     matching resource becomes [Discovery.Resource].
//  3. Authorization server metadata (RFC 8414, OpenID Connect Discovery) for
//     the first authorization_servers entry, at the well-known URLs in the
//     MCP specification's order. Its issuer must equal the one used, else
//     [ErrIssuerMismatch]. A server that answered 401 but has no protected
//     resource metadata is taken as its own authorization server (the
//     2025-03-26 specification's fallback); when it has no authorization
//     server metadata either, its base URL's default endpoints are used
//     ([FallbackDiscovery]).
//  4. PKCE S256 must be advertised, else [ErrNoPKCE].
//
// A server that asks for no authorization and has no metadata answers
// [ErrNoOAuth]. Endpoint URLs must
// be absolute http(s) URLs (https when the issuer is), else
// [ErrInvalidMetadata]. Network errors are returned as they are: a refusal
// by netguard stays visible through errors.Is(err, netguard.ErrRefused), and
// is never reported as ErrNoOAuth. A metadata URL answering 5xx is skipped,
// but if nothing else is found the 5xx is reported rather than ErrNoOAuth,
// since it says nothing about what the server supports.
func (c *Client) Discover(ctx context.Context, serverURL string) (_ *Discovery, err error) {
	ctx, span := c.startSpan(ctx, "discovery", serverURL)
	defer func() { endSpan(span, err) }()
	server, err := canonicalURL("server URL", serverURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: discover: %w", err)
	}
	d, err := c.discover(ctx, server, true)
	if err != nil {
		return nil, fmt.Errorf("oauth: discover %s: %w", origin(server), err)
	}
	return d, nil
}

// DiscoverClientCredentials is [Client.Discover] for the client_credentials
// grant (machine-to-machine): no user is sent anywhere, so the
// authorization server needs no authorization endpoint and no PKCE; its
// token endpoint is what matters. A server whose metadata lists
// grant_types_supported without client_credentials is refused with
// [ErrUnsupportedGrant].
func (c *Client) DiscoverClientCredentials(ctx context.Context, serverURL string) (*Discovery, error) {
	server, err := canonicalURL("server URL", serverURL)
	if err != nil {
		return nil, fmt.Errorf("oauth: discover: %w", err)
	}
	d, err := c.discover(ctx, server, false)
	if err != nil {
		return nil, fmt.Errorf("oauth: discover %s: %w", origin(server), err)
	}
	if len(d.GrantTypes) > 0 && !slices.Contains(d.GrantTypes, GrantClientCredentials) {
		return nil, fmt.Errorf("oauth: discover %s: %w: the authorization server lists grant types %s",
			origin(server), ErrUnsupportedGrant, clean(strings.Join(d.GrantTypes, ", "), 200))
	}
	return d, nil
}

// forCode is true for the authorization code grant, whose metadata must
// have an authorization endpoint and PKCE S256.
func (c *Client) discover(ctx context.Context, server *url.URL, forCode bool) (*Discovery, error) {
	ch, err := c.probe(ctx, server)
	if err != nil {
		return nil, err
	}
	d := &Discovery{Resource: server.String(), ChallengeScopes: ch.scopes}

	prm, prmURL, err := c.protectedResourceMetadata(ctx, server, ch.resourceMetadata)
	if err != nil {
		return nil, err
	}
	var issuer string
	switch {
	case prm != nil:
		resource, err := canonicalURL("protected resource metadata resource", prm.Resource)
		if err != nil {
			return nil, fmt.Errorf("%w: protected resource metadata at %s: %w", ErrIssuerMismatch, originOf(prmURL), err)
		}
		if !resourceMatches(resource, server) {
			return nil, fmt.Errorf("%w: protected resource metadata at %s is for resource %s, not for this server",
				ErrIssuerMismatch, originOf(prmURL), origin(resource)+pathHint(resource, server))
		}
		if len(prm.AuthorizationServers) == 0 {
			return nil, fmt.Errorf("%w: protected resource metadata at %s names no authorization server", ErrNoOAuth, originOf(prmURL))
		}
		d.Resource = resource.String()
		d.ResourceMetadataURL = prmURL
		d.ScopesSupported = prm.ScopesSupported
		issuer = prm.AuthorizationServers[0]
	case ch.unauthorized:
		// MCP 2025-03-26: without protected resource metadata, the server's
		// origin is its authorization server. Only for a server that asked
		// for authorization, so an open server's unrelated login metadata is
		// not mistaken for its own.
		issuer = origin(server)
	default:
		return nil, fmt.Errorf("%w: no protected resource metadata and no 401 challenge", ErrNoOAuth)
	}

	asm, err := c.authServerMetadata(ctx, issuer, forCode)
	if errors.Is(err, ErrNoOAuth) && prm == nil {
		// MCP 2025-03-26, "Fallbacks for Servers without Metadata
		// Discovery": no metadata at either well-known path, so the
		// default endpoints at the server's base URL.
		fb := fallbackDiscovery(server)
		fb.ChallengeScopes = ch.scopes
		if !c.endpointExists(ctx, fb.AuthorizationEndpoint) {
			// A server that asks for a token and has no authorization
			// endpoint either wants a static credential (a bearer token,
			// an API key), not OAuth: saying otherwise would hide the
			// fields its user must fill in.
			return nil, fmt.Errorf("%w: the server asks for credentials but publishes no OAuth metadata and has no %s", ErrNoOAuth, "/authorize")
		}
		return fb, nil
	}
	if err != nil {
		return nil, err
	}
	if prm == nil {
		d.ScopesSupported = asm.ScopesSupported
	}
	d.Issuer = asm.Issuer
	d.AuthorizationEndpoint = asm.AuthorizationEndpoint
	d.TokenEndpoint = asm.TokenEndpoint
	d.RegistrationEndpoint = asm.RegistrationEndpoint
	d.RevocationEndpoint = asm.RevocationEndpoint
	d.ClientIDMetadataDocumentSupported = asm.ClientIDMetadataDocumentSupported
	d.IssParameterSupported = asm.AuthorizationResponseIssParameterSupported
	d.TokenEndpointAuthMethods = asm.TokenEndpointAuthMethodsSupported
	d.CodeChallengeMethods = asm.CodeChallengeMethodsSupported
	d.GrantTypes = asm.GrantTypesSupported
	return d, nil
}

// pathHint says "(another path)" when a mismatching resource is on the
// server's own origin, without printing either path.
func pathHint(resource, server *url.URL) string {
	if resource.Scheme == server.Scheme && resource.Host == server.Host {
		return " (another path)"
	}
	return ""
}

// initializeBody is a minimal MCP initialize request: what a real client
// sends first, so an authorizing server answers it with its 401 challenge.
var initializeBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"tether-oauth-discovery","version":"1.0.0"}}}`)

// probe makes the unauthenticated request of discovery step 1. Legacy SSE
// endpoints only take GET, so a 405 to the POST is retried as a GET.
func (c *Client) probe(ctx context.Context, server *url.URL) (challenge, error) {
	resp, err := c.probeOnce(ctx, http.MethodPost, server)
	if err != nil {
		return challenge{}, err
	}
	if resp.StatusCode == http.StatusMethodNotAllowed {
		drainClose(resp.Body)
		if resp, err = c.probeOnce(ctx, http.MethodGet, server); err != nil {
			return challenge{}, err
		}
	}
	// Never read the body: a server that needs no authorization may answer
	// with an endless SSE stream.
	_ = resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// An open server just created a session for our initialize; end it
		// rather than leave it to time out.
		if id := resp.Header.Get("Mcp-Session-Id"); id != "" && resp.Request.Method == http.MethodPost {
			c.endSession(ctx, server, id)
		}
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return challenge{}, nil
	}
	ch := challenge{unauthorized: true}
	// A malformed header is not fatal: the well-known URLs still work.
	cs, _ := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	for _, b := range cs {
		if b.Scheme != "bearer" {
			continue
		}
		ch.resourceMetadata = b.Params["resource_metadata"]
		ch.scopes = strings.Fields(b.Params["scope"])
		break
	}
	return ch, nil
}

func (c *Client) probeOnce(ctx context.Context, method string, server *url.URL) (*http.Response, error) {
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader(initializeBody)
	}
	req, err := newRequest(ctx, method, server.String(), body)
	if err != nil {
		return nil, err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the MCP server: %w", err)
	}
	return resp, nil
}

// endSession deletes an MCP session, best effort.
func (c *Client) endSession(ctx context.Context, server *url.URL, id string) {
	req, err := newRequest(ctx, http.MethodDelete, server.String(), nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", id)
	if resp, err := c.do(req); err == nil {
		drainClose(resp.Body)
	}
}

// protectedResourceMetadata fetches RFC 9728 metadata from the challenge's
// resource_metadata URL, else the well-known URLs. The first URL that
// answers 200 with a JSON object is the answer, valid or not: skipping a
// document that fails its checks would let a later one override it. It
// returns nil, "", nil when there is none.
func (c *Client) protectedResourceMetadata(ctx context.Context, server *url.URL, fromChallenge string) (*oauthex.ProtectedResourceMetadata, string, error) {
	var candidates []string
	if fromChallenge != "" {
		if _, err := parseHTTPURL("resource_metadata", fromChallenge); err == nil {
			candidates = append(candidates, fromChallenge)
		}
	}
	for _, u := range protectedResourceMetadataURLs(server) {
		if !slices.Contains(candidates, u) {
			candidates = append(candidates, u)
		}
	}
	var serverErr error
	for _, u := range candidates {
		var prm oauthex.ProtectedResourceMetadata
		found, err := c.getMetadata(ctx, u, &prm)
		if err != nil {
			if errors.Is(err, errServerStatus) {
				serverErr = err
				continue
			}
			return nil, "", fmt.Errorf("protected resource metadata: %w", err)
		}
		if found {
			return &prm, u, nil
		}
	}
	if serverErr != nil {
		return nil, "", fmt.Errorf("protected resource metadata: %w", serverErr)
	}
	return nil, "", nil
}

// authServerMetadata fetches and checks the metadata of issuer.
func (c *Client) authServerMetadata(ctx context.Context, issuer string, forCode bool) (*oauthex.AuthServerMeta, error) {
	iu, err := parseHTTPURL("authorization server issuer", issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMetadata, err)
	}
	if iu.RawQuery != "" || iu.Fragment != "" || iu.ForceQuery {
		// RFC 8414 §2: an issuer has no query or fragment.
		return nil, fmt.Errorf("%w: issuer %s has a query or fragment", ErrInvalidMetadata, origin(iu))
	}
	var serverErr error
	for _, u := range authServerMetadataURLs(iu) {
		var asm oauthex.AuthServerMeta
		found, err := c.getMetadata(ctx, u, &asm)
		if err != nil {
			if errors.Is(err, errServerStatus) {
				serverErr = err
				continue
			}
			return nil, fmt.Errorf("authorization server metadata: %w", err)
		}
		if !found {
			continue
		}
		if !issuersEqual(asm.Issuer, issuer) {
			return nil, fmt.Errorf("%w: authorization server metadata at %s states issuer %s, fetched for %s",
				ErrIssuerMismatch, originOf(u), clean(asm.Issuer, 200), clean(issuer, 200))
		}
		if err := checkAuthServerMeta(&asm, forCode); err != nil {
			return nil, fmt.Errorf("authorization server %s: %w", clean(asm.Issuer, 200), err)
		}
		return &asm, nil
	}
	if serverErr != nil {
		return nil, fmt.Errorf("authorization server metadata: %w", serverErr)
	}
	return nil, fmt.Errorf("%w: no authorization server metadata for issuer %s", ErrNoOAuth, clean(issuer, 200))
}

// checkAuthServerMeta applies tether's requirements to authorization server
// metadata: safe endpoint URLs and, for the authorization code grant
// (forCode), PKCE S256 advertised and an authorization endpoint.
func checkAuthServerMeta(asm *oauthex.AuthServerMeta, forCode bool) error {
	if forCode && !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") {
		return ErrNoPKCE
	}
	https := strings.HasPrefix(strings.ToLower(asm.Issuer), "https:")
	for _, e := range []struct {
		name     string
		value    string
		required bool
	}{
		{"authorization_endpoint", asm.AuthorizationEndpoint, forCode},
		{"token_endpoint", asm.TokenEndpoint, true},
		{"registration_endpoint", asm.RegistrationEndpoint, false},
		{"revocation_endpoint", asm.RevocationEndpoint, false},
	} {
		if err := checkEndpoint(e.name, e.value, e.required, https); err != nil {
			return err
		}
	}
	return nil
}

// errServerStatus marks a metadata URL that answered 5xx.
var errServerStatus = errors.New("server error")

// getMetadata GETs a JSON metadata document into v. It reports found=false,
// with no error, for any non-200 answer other than 5xx and for a 200 whose
// body is not a JSON object (a single-page app answering every path with its
// HTML, say): both mean "not here". Transport errors, 5xx answers (wrapping
// errServerStatus), bodies over 1 MiB and JSON objects of the wrong shape are
// errors.
func (c *Client) getMetadata(ctx context.Context, rawURL string, v any) (found bool, err error) {
	req, err := newRequest(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return false, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode >= 500 {
		return false, fmt.Errorf("%w: %s answered %d", errServerStatus, origin(req.URL), resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return false, nil
	}
	body, err := readCapped(resp.Body, maxMetadataBytes)
	if err != nil {
		return false, fmt.Errorf("%s: %w", origin(req.URL), err)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
		return false, nil
	}
	// A JSON object that does not fit the schema is a broken document, not
	// an absent one.
	if err := json.Unmarshal(body, v); err != nil {
		return false, fmt.Errorf("%w: document at %s does not parse", ErrInvalidMetadata, origin(req.URL))
	}
	return true, nil
}

// endpointExists tells whether a fallback endpoint is there at all: a GET
// without parameters that is not 404 (an authorization endpoint answers
// such a request with an error page, 400 or a redirect, which is not
// followed).
func (c *Client) endpointExists(ctx context.Context, endpoint string) bool {
	req, err := newRequest(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return false
	}
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetadataBytes))
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}
