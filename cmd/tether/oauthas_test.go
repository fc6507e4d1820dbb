package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/stretchr/testify/require"
)

// This file is a fake OAuth 2.1 authorization server and a go-sdk MCP server
// protected by it, for the end-to-end OAuth tests (adapted from the oauth
// package's helpers_test.go, which another package's tests cannot share).

// oauthClock is a clock the test moves by hand. tether (Main.Now) and the
// fake authorization server share it, so state and token expiry are exact.
type oauthClock struct {
	mu  sync.Mutex
	now time.Time
}

func newOAuthClock() *oauthClock {
	return &oauthClock{now: time.Now().UTC().Truncate(time.Second)}
}

func (c *oauthClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *oauthClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// asTokenRequest is one request the token endpoint received and how it was
// answered.
type asTokenRequest struct {
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
}

// asClient is a client the fake AS knows: registered dynamically,
// pre-registered by the test, or learned from a client ID metadata document.
type asClient struct {
	secret       string
	redirectURIs []string
}

// asCode is an issued authorization code.
type asCode struct {
	clientID, redirectURI, challenge, resource, scope string
}

// asGrant is what a token was issued for.
type asGrant struct {
	clientID string
	resource string
	scopes   []string
	expiry   time.Time // access tokens only
}

// oauthAS is an OAuth 2.1 authorization server on httptest: RFC 8414
// metadata, RFC 7591 registration, client ID metadata documents, an
// authorization endpoint that validates like a strict server (PKCE S256,
// resource, redirect_uri registered for the client_id), a token endpoint
// with PKCE and client authentication, refresh rotation and RFC 7009
// revocation. It records every request.
type oauthAS struct {
	t   *testing.T
	srv *httptest.Server
	now func() time.Time

	// Configuration, fixed before the server starts (see the options).
	issuerPath    string               // appended to the server URL to form the issuer
	metadataPaths []string             // where the metadata is served; nil: the RFC 8414 path-inserted URL
	edit          func(map[string]any) // changes the metadata document
	expiresIn     int                  // access token lifetime, seconds
	rotate        bool                 // a refresh rotates the refresh token
	cimdClient    *http.Client         // fetches client ID metadata documents

	mu            sync.Mutex
	resources     []string // the protected resources this AS issues tokens for
	refuseRefresh bool     // answer every refresh with invalid_grant
	metaPaths     []string
	registrations []map[string]any
	authReqs      []url.Values
	authRefusals  []string
	tokenReqs     []asTokenRequest
	revocations   []url.Values
	cimdFetches   []string
	clients       map[string]*asClient
	codes         map[string]asCode
	refresh       map[string]asGrant
	access        map[string]asGrant
	bearers       []string // access tokens presented at a resource server
	secrets       []string // every secret issued or received: tokens, codes, verifiers, client secrets
}

// newOAuthAS starts a fake AS whose token expiry follows now; opts configure
// it before it starts.
func newOAuthAS(t *testing.T, now func() time.Time, opts ...func(*oauthAS)) *oauthAS {
	t.Helper()
	as := &oauthAS{
		t: t, now: now, expiresIn: 3600, rotate: true,
		clients: map[string]*asClient{},
		codes:   map[string]asCode{},
		refresh: map[string]asGrant{},
		access:  map[string]asGrant{},
	}
	for _, o := range opts {
		o(as)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", as.serveMetadata) // every well-known URL, path-appended OIDC included
	mux.HandleFunc("GET /authorize", as.authorize)
	mux.HandleFunc("POST /token", as.token)
	mux.HandleFunc("POST /register", as.register)
	mux.HandleFunc("POST /revoke", as.revoke)
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	return as
}

func (as *oauthAS) issuer() string { return as.srv.URL + as.issuerPath }

func (as *oauthAS) metadata() map[string]any {
	m := map[string]any{
		"issuer":                                as.issuer(),
		"authorization_endpoint":                as.srv.URL + "/authorize",
		"token_endpoint":                        as.srv.URL + "/token",
		"registration_endpoint":                 as.srv.URL + "/register",
		"revocation_endpoint":                   as.srv.URL + "/revoke",
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "as:scope"},
	}
	if as.edit != nil {
		as.edit(m)
	}
	return m
}

func (as *oauthAS) supportsCIMD() bool {
	v, _ := as.metadata()["client_id_metadata_document_supported"].(bool)
	return v
}

func (as *oauthAS) serveMetadata(w http.ResponseWriter, r *http.Request) {
	as.mu.Lock()
	as.metaPaths = append(as.metaPaths, r.URL.Path)
	as.mu.Unlock()
	paths := as.metadataPaths
	if paths == nil {
		paths = []string{"/.well-known/oauth-authorization-server" + as.issuerPath}
	}
	if !slices.Contains(paths, r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	asWriteJSON(w, http.StatusOK, as.metadata())
}

// preregister adds a client the user registered at the AS by hand.
func (as *oauthAS) preregister(clientID, secret string, redirectURIs ...string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.clients[clientID] = &asClient{secret: secret, redirectURIs: redirectURIs}
	if secret != "" {
		as.secrets = append(as.secrets, secret)
	}
}

// lookupClient finds a client; an https client_id is a client ID metadata
// document, fetched (once) when the AS supports them.
func (as *oauthAS) lookupClient(clientID string) (*asClient, error) {
	as.mu.Lock()
	cl, ok := as.clients[clientID]
	as.mu.Unlock()
	if ok {
		return cl, nil
	}
	if !strings.HasPrefix(clientID, "https://") || !as.supportsCIMD() || as.cimdClient == nil {
		return nil, fmt.Errorf("unknown client_id %q", clientID)
	}
	as.mu.Lock()
	as.cimdFetches = append(as.cimdFetches, clientID)
	as.mu.Unlock()
	resp, err := as.cimdClient.Get(clientID)
	if err != nil {
		return nil, fmt.Errorf("fetch client metadata document: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client metadata document: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("client metadata document: %w", err)
	}
	if doc.ClientID != clientID {
		return nil, fmt.Errorf("client metadata document names client_id %q, not its own URL", doc.ClientID)
	}
	if doc.AuthMethod != "none" {
		return nil, fmt.Errorf("client metadata document: token_endpoint_auth_method %q", doc.AuthMethod)
	}
	cl = &asClient{redirectURIs: doc.RedirectURIs}
	as.mu.Lock()
	as.clients[clientID] = cl
	as.mu.Unlock()
	return cl, nil
}

// authorize is the user's visit: the request is validated strictly, then the
// user "consents" at once and is sent back with code, state and iss.
func (as *oauthAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	as.mu.Lock()
	as.authReqs = append(as.authReqs, q)
	resources := slices.Clone(as.resources)
	as.mu.Unlock()
	refuse := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		as.mu.Lock()
		as.authRefusals = append(as.authRefusals, msg)
		as.mu.Unlock()
		http.Error(w, msg, http.StatusBadRequest)
	}
	cl, err := as.lookupClient(q.Get("client_id"))
	switch {
	case err != nil:
		refuse("client: %v", err)
		return
	case q.Get("response_type") != "code":
		refuse("response_type %q", q.Get("response_type"))
		return
	case q.Get("code_challenge_method") != "S256":
		refuse("code_challenge_method %q", q.Get("code_challenge_method"))
		return
	case len(q.Get("code_challenge")) != 43:
		refuse("code_challenge is not an S256 challenge")
		return
	case q.Get("state") == "":
		refuse("no state")
		return
	case !slices.Contains(resources, q.Get("resource")):
		refuse("resource %q is not a resource of this server", q.Get("resource"))
		return
	case !slices.Contains(cl.redirectURIs, q.Get("redirect_uri")):
		refuse("redirect_uri %q is not registered for the client", q.Get("redirect_uri"))
		return
	}
	code := "code-" + asRandom()
	as.mu.Lock()
	as.codes[code] = asCode{
		clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), resource: q.Get("resource"), scope: q.Get("scope"),
	}
	as.secrets = append(as.secrets, code)
	as.mu.Unlock()
	back, err := url.Parse(q.Get("redirect_uri"))
	require.NoError(as.t, err)
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	bq.Set("iss", as.issuer())
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (as *oauthAS) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tr := asTokenRequest{Form: r.PostForm}
	tr.BasicUser, tr.BasicPass, tr.HasBasic = r.BasicAuth()
	as.mu.Lock()
	defer as.mu.Unlock()
	defer func() { as.tokenReqs = append(as.tokenReqs, tr) }()
	fail := func(status int, code, desc string) {
		tr.Status, tr.Error = status, code
		asWriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	f := r.PostForm
	if v := f.Get("code_verifier"); v != "" {
		as.secrets = append(as.secrets, v)
	}

	// Client authentication (RFC 6749 §2.3): Basic for a confidential
	// client, else client_id (and client_secret for client_secret_post).
	clientID := f.Get("client_id")
	if tr.HasBasic {
		user, _ := url.QueryUnescape(tr.BasicUser)
		pass, _ := url.QueryUnescape(tr.BasicPass)
		cl, ok := as.clients[user]
		if !ok || cl.secret == "" || cl.secret != pass {
			fail(http.StatusUnauthorized, "invalid_client", "bad client credentials")
			return
		}
		clientID = user
	} else {
		cl, ok := as.clients[clientID]
		if !ok || (cl.secret != "" && f.Get("client_secret") != cl.secret) {
			fail(http.StatusUnauthorized, "invalid_client", "bad client credentials")
			return
		}
	}

	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := as.codes[f.Get("code")]
		delete(as.codes, f.Get("code")) // single use
		switch {
		case !ok:
			fail(http.StatusBadRequest, "invalid_grant", "unknown or used code")
		case g.clientID != clientID:
			fail(http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		case asS256(f.Get("code_verifier")) != g.challenge:
			fail(http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		case f.Get("redirect_uri") != g.redirectURI:
			fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
		case f.Get("resource") != g.resource:
			fail(http.StatusBadRequest, "invalid_target", "resource differs")
		default:
			tr.Status = http.StatusOK
			tr.AccessToken, tr.RefreshToken = as.issue(w, asGrant{clientID: clientID, resource: g.resource, scopes: strings.Fields(g.scope)}, "")
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		g, ok := as.refresh[rt]
		switch {
		case as.refuseRefresh:
			fail(http.StatusBadRequest, "invalid_grant", "the grant was revoked")
		case !ok:
			fail(http.StatusBadRequest, "invalid_grant", "unknown, rotated or revoked refresh token")
		case g.clientID != clientID:
			fail(http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client")
		case f.Get("resource") != g.resource:
			fail(http.StatusBadRequest, "invalid_target", "resource missing or differs")
		case as.rotate:
			delete(as.refresh, rt)
			tr.Status = http.StatusOK
			tr.AccessToken, tr.RefreshToken = as.issue(w, g, "")
		default:
			tr.Status = http.StatusOK
			tr.AccessToken, tr.RefreshToken = as.issue(w, g, rt)
		}
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

// issue answers with a new access token and, unless keepRefresh is set, a
// new refresh token, and returns both. Called with as.mu held.
func (as *oauthAS) issue(w http.ResponseWriter, g asGrant, keepRefresh string) (accessToken, refreshToken string) {
	at := "at-" + asRandom()
	g.expiry = as.now().Add(time.Duration(as.expiresIn) * time.Second)
	as.access[at] = g
	as.secrets = append(as.secrets, at)
	body := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": as.expiresIn, "scope": strings.Join(g.scopes, " ")}
	rt := keepRefresh
	if rt == "" {
		rt = "rt-" + asRandom()
		g.expiry = time.Time{}
		as.refresh[rt] = g
		as.secrets = append(as.secrets, rt)
		body["refresh_token"] = rt
	}
	asWriteJSON(w, http.StatusOK, body)
	return at, rt
}

func (as *oauthAS) register(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		asWriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client_metadata"})
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.registrations = append(as.registrations, body)
	var redirects []string
	if list, ok := body["redirect_uris"].([]any); ok {
		for _, u := range list {
			s, _ := u.(string)
			redirects = append(redirects, s)
		}
	}
	if len(redirects) == 0 {
		asWriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_redirect_uri"})
		return
	}
	id := "dcr-" + asRandom()
	method, _ := body["token_endpoint_auth_method"].(string)
	rat := "rat-" + asRandom()
	as.secrets = append(as.secrets, rat)
	resp := map[string]any{
		"client_id":                  id,
		"client_id_issued_at":        as.now().Unix(),
		"redirect_uris":              redirects,
		"grant_types":                body["grant_types"],
		"token_endpoint_auth_method": method,
		"registration_access_token":  rat,
		"registration_client_uri":    as.srv.URL + "/register/" + id,
	}
	cl := &asClient{redirectURIs: redirects}
	if method != "none" {
		cl.secret = "dcr-secret-" + asRandom()
		as.secrets = append(as.secrets, cl.secret)
		resp["client_secret"] = cl.secret
		resp["client_secret_expires_at"] = 0
	}
	as.clients[id] = cl
	asWriteJSON(w, http.StatusCreated, resp)
}

func (as *oauthAS) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.revocations = append(as.revocations, r.PostForm)
	delete(as.refresh, r.PostForm.Get("token"))
	delete(as.access, r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// setRefuseRefresh makes every refresh answer invalid_grant (the user
// revoked tether's access at the AS).
func (as *oauthAS) setRefuseRefresh(v bool) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.refuseRefresh = v
}

// refreshValid reports whether the AS would accept rt now.
func (as *oauthAS) refreshValid(rt string) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	_, ok := as.refresh[rt]
	return ok && !as.refuseRefresh
}

// tokens returns the token requests so far.
func (as *oauthAS) tokens() []asTokenRequest {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.tokenReqs)
}

// tokensOfGrant returns the token requests of one grant type so far.
func (as *oauthAS) tokensOfGrant(grantType string) []asTokenRequest {
	var out []asTokenRequest
	for _, tr := range as.tokens() {
		if tr.Form.Get("grant_type") == grantType {
			out = append(out, tr)
		}
	}
	return out
}

func (as *oauthAS) registered() []map[string]any {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.registrations)
}

func (as *oauthAS) authorizeRequests() []url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.authReqs)
}

func (as *oauthAS) revoked() []url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.revocations)
}

func (as *oauthAS) askedMetadata() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.metaPaths)
}

func (as *oauthAS) fetchedCIMD() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.cimdFetches)
}

// presented returns the access tokens presented at resource servers.
func (as *oauthAS) presented() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.bearers)
}

// secretValues returns every secret value the AS issued or received, for
// leak checks.
func (as *oauthAS) secretValues() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.secrets)
}

// verifier is the resource server's token check: issued by this AS, for
// this resource (RFC 8707 audience), not expired by the shared clock.
func (as *oauthAS) verifier(resource string) auth.TokenVerifier {
	return func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		as.mu.Lock()
		defer as.mu.Unlock()
		as.bearers = append(as.bearers, token)
		g, ok := as.access[token]
		if !ok || g.resource != resource || !as.now().Before(g.expiry) {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: g.scopes, Expiration: time.Now().Add(time.Hour)}, nil
	}
}

// oauthMCPOptions describes an MCP server in front of the fake AS.
type oauthMCPOptions struct {
	// prmPath is where the protected resource metadata is served ("" for
	// none).
	prmPath string
	// advertise puts resource_metadata in the 401's WWW-Authenticate.
	advertise bool
	// challengeScopes go in the 401 challenge, and tokens must carry them.
	challengeScopes []string
	// prmScopes are the metadata's scopes_supported.
	prmScopes []string
}

// oauthMCP is a go-sdk MCP server (streamable HTTP at /mcp, tools add and
// echo) behind auth.RequireBearerToken, with RFC 9728 metadata.
type oauthMCP struct {
	srv  *httptest.Server
	url  string
	mu   sync.Mutex
	seen []string // "METHOD /path" of every request
}

func newOAuthMCP(t *testing.T, as *oauthAS, o oauthMCPOptions) *oauthMCP {
	t.Helper()
	s := &oauthMCP{}
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	base := s.srv.URL
	s.url = base + "/mcp"
	as.mu.Lock()
	as.resources = append(as.resources, s.url)
	as.mu.Unlock()

	server := mcp.NewServer(&mcp.Implementation{Name: "oauth-upstream", Version: "2.0.0"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two numbers"}, func(ctx context.Context, req *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
		return nil, addOut{Sum: in.A + in.B}, nil
	})
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "Echo text"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	opts := &auth.RequireBearerTokenOptions{Scopes: o.challengeScopes}
	if o.advertise {
		opts.ResourceMetadataURL = base + o.prmPath
	}
	h := auth.RequireBearerToken(as.verifier(s.url), opts)(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	mux.Handle("/mcp", h)
	if o.prmPath != "" {
		mux.Handle("GET "+o.prmPath, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:             s.url,
			AuthorizationServers: []string{as.issuer()},
			ScopesSupported:      o.prmScopes,
		}))
	}
	return s
}

// requested returns the "METHOD /path" of every request so far.
func (s *oauthMCP) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// asPostToken posts a token request to the AS directly, as a client would.
func asPostToken(t *testing.T, as *oauthAS, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(as.srv.URL+"/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v), "%s", b)
	return resp.StatusCode, v
}

func asWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func asRandom() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// asS256 is RFC 7636's S256, computed independently of x/oauth2.
func asS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
