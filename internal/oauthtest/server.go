// Package oauthtest is a fake OAuth 2.1 authorization server, and MCP
// servers protected by it, for the tests of tether's OAuth client (the
// oauth package's own and the end-to-end ones in cmd/tether). Only tests
// import it.
//
// The authorization server runs on httptest and validates like a strict
// one: RFC 8414 metadata (and the OpenID Connect locations, where told),
// RFC 7591 dynamic registration, client ID metadata documents, an
// authorization endpoint that wants PKCE S256, a state, a resource it
// serves and a redirect_uri registered for the client, a token endpoint
// that authenticates the client and checks the verifier, refresh with
// rotation, and RFC 7009 revocation. It records every request and every
// secret it issued or received, so a test can check both what its client
// sent and that no secret leaked:
//
//	as := oauthtest.NewServer(t, oauthtest.Options{})
//	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
//		PRMPath:   "/.well-known/oauth-protected-resource/mcp",
//		Advertise: true,
//	})
//	// ... the client under test discovers rs.URL, authorizes, exchanges ...
//	exchanges := as.TokenRequestsOf("authorization_code")
package oauthtest

import (
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options configure a Server before it starts. The zero value is an
// authorization server at the root of its origin, serving RFC 8414
// metadata, issuing one-hour "Bearer" tokens by the real clock.
type Options struct {
	// Now is the clock of token expiry and registration times; tests that
	// expire tokens share it with the client under test. Nil: time.Now.
	Now func() time.Time
	// IssuerPath is appended to the server's URL to form the issuer
	// ("/realms/acme").
	IssuerPath string
	// MetadataPaths are where the metadata document is served. Nil: the
	// RFC 8414 path-inserted URL of the issuer; empty: nowhere.
	MetadataPaths []string
	// Edit, when set, changes the metadata document each time it is built
	// (to drop an endpoint, advertise a feature, state another issuer).
	Edit func(m map[string]any)
	// ExpiresIn is the access token lifetime in seconds. Zero: 3600.
	ExpiresIn int
	// TokenType is the token_type of token responses. "": "Bearer".
	TokenType string
	// CIMDClient fetches client ID metadata documents (an https client_id,
	// when the metadata advertises client_id_metadata_document_supported).
	// Nil: such client IDs are unknown.
	CIMDClient *http.Client
}

// TokenRequest is one request the token endpoint received and how it was
// answered.
type TokenRequest struct {
	Form      url.Values
	BasicUser string
	BasicPass string
	HasBasic  bool
	Status    int
	Error     string // the OAuth error answered, "" on success
	// AccessToken and RefreshToken are what a successful request got (the
	// refresh token it already had, when not rotated).
	AccessToken  string
	RefreshToken string
	// ClientAuth is how the client authenticated, as the server verified
	// it: client_secret_basic, client_secret_post, private_key_jwt or none
	// ("" when authentication failed).
	ClientAuth string
}

// client is a client the server knows: registered dynamically,
// pre-registered by the test, or learned from a client ID metadata document.
type client struct {
	secret       string // "" for a public client
	redirectURIs []string
	key          crypto.PublicKey // private_key_jwt clients
	machine      bool             // may use the client_credentials grant
}

// authCode is what an authorization code was issued for.
type authCode struct {
	clientID, redirectURI, challenge, resource, scope string
}

// grant is what a token was issued for.
type grant struct {
	clientID string
	resource string
	scopes   []string
	expiry   time.Time // access tokens only
}

// Server is a fake OAuth 2.1 authorization server on httptest. Create it
// with NewServer; it closes when the test ends.
type Server struct {
	// URL is the server's base URL (the issuer, unless Options.IssuerPath).
	URL string

	opts Options
	mux  *http.ServeMux
	hits atomic.Int32

	mu            sync.Mutex
	rotate        bool   // a refresh rotates the refresh token
	refuseRefresh bool   // every refresh is invalid_grant
	tokenError    string // answered by the token endpoint instead, when set
	registerError string // answered by the registration endpoint instead, when set
	resources     []string
	metaPaths     []string
	registrations []map[string]any
	authReqs      []url.Values
	tokenReqs     []TokenRequest
	revocations   []url.Values
	cimdFetches   []string
	clients       map[string]*client
	codes         map[string]authCode
	refresh       map[string]grant
	access        map[string]grant
	jtis          map[string]bool // client assertion ids seen
	bearers       []string        // access tokens presented at a resource server
	secrets       []string        // tokens, codes, verifiers, client secrets
	pkceVerified  int
}

// NewServer starts a fake authorization server configured by o, closed
// when t ends. It rotates refresh tokens until told otherwise
// (SetRotate).
func NewServer(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ExpiresIn == 0 {
		o.ExpiresIn = 3600
	}
	if o.TokenType == "" {
		o.TokenType = "Bearer"
	}
	as := &Server{
		opts:    o,
		mux:     http.NewServeMux(),
		rotate:  true,
		clients: map[string]*client{},
		codes:   map[string]authCode{},
		refresh: map[string]grant{},
		access:  map[string]grant{},
		jtis:    map[string]bool{},
	}
	as.mux.HandleFunc("GET /", as.serveMetadata) // every well-known URL, path-appended OIDC included
	as.mux.HandleFunc("GET /authorize", as.authorize)
	as.mux.HandleFunc("POST /token", as.token)
	as.mux.HandleFunc("POST /register", as.register)
	as.mux.HandleFunc("POST /revoke", as.revoke)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.hits.Add(1)
		as.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	as.URL = srv.URL
	return as
}

// Issuer is the server's issuer identifier.
func (as *Server) Issuer() string { return as.URL + as.opts.IssuerPath }

// Handle serves h for pattern on the server's origin, beside its own
// endpoints (a misbehaving token endpoint, say).
func (as *Server) Handle(pattern string, h http.Handler) { as.mux.Handle(pattern, h) }

func (as *Server) metadata() map[string]any {
	m := map[string]any{
		"issuer":                                as.Issuer(),
		"authorization_endpoint":                as.URL + "/authorize",
		"token_endpoint":                        as.URL + "/token",
		"registration_endpoint":                 as.URL + "/register",
		"revocation_endpoint":                   as.URL + "/revoke",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		"scopes_supported":                      []string{"openid", "as:scope"},
	}
	if as.opts.Edit != nil {
		as.opts.Edit(m)
	}
	return m
}

func (as *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	as.mu.Lock()
	as.metaPaths = append(as.metaPaths, r.URL.Path)
	as.mu.Unlock()
	paths := as.opts.MetadataPaths
	if paths == nil {
		paths = []string{"/.well-known/oauth-authorization-server" + as.opts.IssuerPath}
	}
	if !slices.Contains(paths, r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, as.metadata())
}

// Preregister adds a client the user registered at the server by hand
// (secret "" for a public client).
func (as *Server) Preregister(clientID, secret string, redirectURIs ...string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.clients[clientID] = &client{secret: secret, redirectURIs: redirectURIs}
	if secret != "" {
		as.secrets = append(as.secrets, secret)
	}
}

// PreregisterMachine adds a machine-to-machine client that may use the
// client_credentials grant, authenticating with secret (client_secret_basic
// or client_secret_post) or, when key is not nil, with assertions signed by
// its private key (private_key_jwt, key the public half).
func (as *Server) PreregisterMachine(clientID, secret string, key crypto.PublicKey) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.clients[clientID] = &client{secret: secret, key: key, machine: true}
	if secret != "" {
		as.secrets = append(as.secrets, secret)
	}
}

// SetRotate sets whether a refresh issues a new refresh token and
// invalidates the old one (the default) or keeps it.
func (as *Server) SetRotate(v bool) { set(&as.mu, &as.rotate, v) }

// SetRefuseRefresh makes every refresh answer invalid_grant (the user
// revoked the client's access at the server).
func (as *Server) SetRefuseRefresh(v bool) { set(&as.mu, &as.refuseRefresh, v) }

// SetTokenError makes the token endpoint answer every request with this
// OAuth error, described as "told to fail"; "" restores it.
func (as *Server) SetTokenError(code string) { set(&as.mu, &as.tokenError, code) }

// SetRegisterError makes the registration endpoint answer every request
// with this OAuth error; "" restores it.
func (as *Server) SetRegisterError(code string) { set(&as.mu, &as.registerError, code) }

// RefreshValid reports whether the server would accept refresh token rt
// now.
func (as *Server) RefreshValid(rt string) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	_, ok := as.refresh[rt]
	return ok && !as.refuseRefresh
}

// PostToken posts form to the token endpoint, as a client would, and
// returns the status and the decoded body.
func (as *Server) PostToken(t testing.TB, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(as.URL+"/token", form)
	if err != nil {
		t.Fatalf("post token request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read token response: %v", err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("token response %s: %v", b, err)
	}
	return resp.StatusCode, v
}

// Hits is how many requests the server received, of any kind.
func (as *Server) Hits() int { return int(as.hits.Load()) }

// PKCEVerified is how many codes were exchanged with the right verifier.
func (as *Server) PKCEVerified() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.pkceVerified
}

// TokenRequests returns the token requests so far, in order.
func (as *Server) TokenRequests() []TokenRequest {
	return clone(&as.mu, &as.tokenReqs)
}

// TokenRequestsOf returns the token requests of one grant type so far.
func (as *Server) TokenRequestsOf(grantType string) []TokenRequest {
	var out []TokenRequest
	for _, tr := range as.TokenRequests() {
		if tr.Form.Get("grant_type") == grantType {
			out = append(out, tr)
		}
	}
	return out
}

// Registrations returns the bodies of the registration requests so far.
func (as *Server) Registrations() []map[string]any {
	return clone(&as.mu, &as.registrations)
}

// AuthorizeRequests returns the query of every authorization request so
// far, refused ones included.
func (as *Server) AuthorizeRequests() []url.Values {
	return clone(&as.mu, &as.authReqs)
}

// Revocations returns the forms of the revocation requests so far.
func (as *Server) Revocations() []url.Values {
	return clone(&as.mu, &as.revocations)
}

// MetadataRequests returns the paths asked for that are not endpoints
// (the well-known URLs a discovery tried), in order.
func (as *Server) MetadataRequests() []string {
	return clone(&as.mu, &as.metaPaths)
}

// CIMDFetches returns the client ID metadata documents fetched so far.
func (as *Server) CIMDFetches() []string {
	return clone(&as.mu, &as.cimdFetches)
}

// Presented returns the access tokens presented at resource servers.
func (as *Server) Presented() []string {
	return clone(&as.mu, &as.bearers)
}

// SecretValues returns every secret value the server issued or received
// (tokens, codes, verifiers, client secrets, registration access tokens),
// for leak checks.
func (as *Server) SecretValues() []string {
	return clone(&as.mu, &as.secrets)
}

// set stores v at p under mu.
func set[T any](mu *sync.Mutex, p *T, v T) {
	mu.Lock()
	defer mu.Unlock()
	*p = v
}

// clone copies the slice at s under mu.
func clone[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}
