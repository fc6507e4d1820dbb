package oauth_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
)

const redirectURI = "http://127.0.0.1:8080/v1/integrations/oauth/callback"

// guardedClient is the production path: netguard's client, with loopback
// trusted so httptest servers on 127.0.0.1 are reachable.
func guardedClient(t *testing.T) *http.Client {
	t.Helper()
	g := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	return g.HTTPClient(netguard.ClientOptions{Timeout: 10 * time.Second})
}

// fixedNow is the clock tests give the client, so expiries are exact.
var fixedNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T) *oauth.Client {
	t.Helper()
	return oauth.New(oauth.Options{HTTPClient: guardedClient(t), Now: func() time.Time { return fixedNow }})
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tokenRequest is what the fake token endpoint received.
type tokenRequest struct {
	Form      url.Values
	BasicUser string
	BasicPass string
	HasBasic  bool
}

// grant is an issued authorization code.
type grant struct {
	clientID, redirectURI, challenge, resource, scope string
}

// accessGrant is what an access token was issued for.
type accessGrant struct {
	resource string
	scopes   []string
}

// fakeAS is an OAuth 2.1 authorization server on httptest. Its metadata is a
// plain map the test may change before use; it records every request.
type fakeAS struct {
	t    *testing.T
	srv  *httptest.Server
	mux  *http.ServeMux
	hits atomic.Int32

	// issuerPath is appended to the server URL to form the issuer.
	issuerPath string
	// metadataPaths are where the metadata document is served; nil means the
	// RFC 8414 path-inserted (or root) well-known URL.
	metadataPaths []string
	// edit, when set, changes the metadata document before it is served.
	edit func(m map[string]any)

	// rotate makes refresh issue a new refresh token and invalidate the old.
	rotate bool
	// tokenError, when set, is answered by the token endpoint instead.
	tokenError string
	// registerError, when set, is answered by the registration endpoint.
	registerError string

	mu            sync.Mutex
	metaPaths     []string // metadata paths asked for, in order
	registrations []map[string]any
	tokenReqs     []tokenRequest
	revocations   []url.Values
	authReqs      []url.Values
	clients       map[string]string // client_id → secret ("" for public)
	codes         map[string]grant
	refresh       map[string]accessGrant
	access        map[string]accessGrant
	pkceVerified  int
}

func newFakeAS(t *testing.T, issuerPath string) *fakeAS {
	t.Helper()
	as := &fakeAS{
		t:          t,
		mux:        http.NewServeMux(),
		issuerPath: issuerPath,
		clients:    map[string]string{},
		codes:      map[string]grant{},
		refresh:    map[string]accessGrant{},
		access:     map[string]accessGrant{},
	}
	as.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as.hits.Add(1)
		as.mux.ServeHTTP(w, r)
	}))
	t.Cleanup(as.srv.Close)
	as.mux.HandleFunc("GET /.well-known/", as.serveMetadata)
	as.mux.HandleFunc("GET /", as.serveMetadata) // path-appended OIDC lives under the issuer path
	as.mux.HandleFunc("GET /authorize", as.authorize)
	as.mux.HandleFunc("POST /token", as.token)
	as.mux.HandleFunc("POST /register", as.register)
	as.mux.HandleFunc("POST /revoke", as.revoke)
	return as
}

func (as *fakeAS) issuer() string { return as.srv.URL + as.issuerPath }

func (as *fakeAS) metadata() map[string]any {
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

func (as *fakeAS) serveMetadata(w http.ResponseWriter, r *http.Request) {
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
	writeJSON(w, http.StatusOK, as.metadata())
}

func (as *fakeAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	as.mu.Lock()
	defer as.mu.Unlock()
	as.authReqs = append(as.authReqs, q)
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := randomString()
	as.codes[code] = grant{
		clientID:    q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		resource:    q.Get("resource"),
		scope:       q.Get("scope"),
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	require.NoError(as.t, err)
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	bq.Set("iss", as.issuer())
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (as *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	require.NoError(as.t, r.ParseForm())
	tr := tokenRequest{Form: r.PostForm}
	tr.BasicUser, tr.BasicPass, tr.HasBasic = r.BasicAuth()
	as.mu.Lock()
	defer as.mu.Unlock()
	as.tokenReqs = append(as.tokenReqs, tr)
	if as.tokenError != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": as.tokenError, "error_description": "told to fail"})
		return
	}
	f := r.PostForm
	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := as.codes[f.Get("code")]
		delete(as.codes, f.Get("code")) // single use
		switch {
		case !ok:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		case oauthS256(f.Get("code_verifier")) != g.challenge:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
			return
		case f.Get("redirect_uri") != g.redirectURI, f.Get("resource") != g.resource:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri or resource differs"})
			return
		}
		as.pkceVerified++
		as.issue(w, accessGrant{resource: g.resource, scopes: strings.Fields(g.scope)}, "")
	case "refresh_token":
		rt := f.Get("refresh_token")
		ag, ok := as.refresh[rt]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "refresh token revoked"})
			return
		}
		if as.rotate {
			delete(as.refresh, rt)
			as.issue(w, ag, "")
			return
		}
		as.issue(w, ag, rt)
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	}
}

// issue answers with a new access token and, unless keepRefresh is set, a
// new refresh token. Called with as.mu held.
func (as *fakeAS) issue(w http.ResponseWriter, ag accessGrant, keepRefresh string) {
	at := "at-" + randomString()
	as.access[at] = ag
	body := map[string]any{"access_token": at, "token_type": "bearer", "expires_in": 3600, "scope": strings.Join(ag.scopes, " ")}
	if keepRefresh == "" {
		rt := "rt-" + randomString()
		as.refresh[rt] = ag
		body["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, body)
}

func (as *fakeAS) register(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	require.NoError(as.t, json.NewDecoder(r.Body).Decode(&body))
	as.mu.Lock()
	defer as.mu.Unlock()
	as.registrations = append(as.registrations, body)
	if as.registerError != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": as.registerError, "error_description": "no"})
		return
	}
	id := "dcr-" + randomString()
	method, _ := body["token_endpoint_auth_method"].(string)
	resp := map[string]any{
		"client_id":                  id,
		"client_id_issued_at":        fixedNow.Unix(),
		"redirect_uris":              body["redirect_uris"],
		"grant_types":                body["grant_types"],
		"token_endpoint_auth_method": method,
		"registration_access_token":  "rat-" + randomString(),
		"registration_client_uri":    as.srv.URL + "/register/" + id,
	}
	if method != "none" {
		secret := "secret-" + randomString()
		resp["client_secret"] = secret
		resp["client_secret_expires_at"] = 0
		as.clients[id] = secret
	} else {
		as.clients[id] = ""
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (as *fakeAS) revoke(w http.ResponseWriter, r *http.Request) {
	require.NoError(as.t, r.ParseForm())
	as.mu.Lock()
	defer as.mu.Unlock()
	as.revocations = append(as.revocations, r.PostForm)
	delete(as.refresh, r.PostForm.Get("token"))
	delete(as.access, r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}

// askedMetadata returns the metadata paths asked for so far.
func (as *fakeAS) askedMetadata() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.metaPaths)
}

// lastToken returns the last token request.
func (as *fakeAS) lastToken() tokenRequest {
	as.mu.Lock()
	defer as.mu.Unlock()
	require.NotEmpty(as.t, as.tokenReqs)
	return as.tokenReqs[len(as.tokenReqs)-1]
}

// verifyToken is the resource server's token check: the token must have been
// issued by this AS for resource (RFC 8707 audience).
func (as *fakeAS) verifyToken(resource string) auth.TokenVerifier {
	return func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		as.mu.Lock()
		defer as.mu.Unlock()
		ag, ok := as.access[token]
		if !ok || ag.resource != resource {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: ag.scopes, Expiration: time.Now().Add(time.Hour)}, nil
	}
}

// resourceServer describes an MCP server in front of a fake AS.
type resourceServer struct {
	// prmPath is where its protected resource metadata is served ("" for
	// none).
	prmPath string
	// advertise puts resource_metadata=<prmPath> in the 401 challenge.
	advertise bool
	// resource overrides the metadata's resource (default: the server URL).
	resource func(base string) string
	// authServers overrides the metadata's authorization_servers.
	authServers []string
	// challengeScopes go in the 401 challenge (and are required).
	challengeScopes []string
	// prmScopes are the metadata's scopes_supported.
	prmScopes []string
}

// mcpServer is a running fake MCP server that records what it was asked.
type mcpServer struct {
	*httptest.Server
	hits  atomic.Int32
	mu    sync.Mutex
	paths []string
}

// requested returns the "METHOD /path" of every request so far.
func (s *mcpServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.paths)
}

// start serves the MCP server at /mcp on a new httptest server: a real
// go-sdk streamable HTTP handler behind the go-sdk's bearer middleware.
func (rs resourceServer) start(t *testing.T, as *fakeAS) *mcpServer {
	t.Helper()
	mux := http.NewServeMux()
	s := &mcpServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.paths = append(s.paths, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	rs.mount(mux, s.URL, as)
	return s
}

// mount registers the MCP endpoint (and metadata) for base on mux.
func (rs resourceServer) mount(mux *http.ServeMux, base string, as *fakeAS) {
	serverURL := base + "/mcp"
	opts := &auth.RequireBearerTokenOptions{Scopes: rs.challengeScopes}
	if rs.advertise {
		opts.ResourceMetadataURL = base + rs.prmPath
	}
	h := auth.RequireBearerToken(as.verifyToken(serverURL), opts)(mcpHandler())
	// Method-qualified, so the endpoint can share the fake AS's mux (whose
	// "GET /" would otherwise conflict with a method-less "/mcp").
	for _, m := range []string{"POST", "GET", "DELETE"} {
		mux.Handle(m+" /mcp", h)
	}
	if rs.prmPath != "" {
		resource := serverURL
		if rs.resource != nil {
			resource = rs.resource(base)
		}
		servers := rs.authServers
		if servers == nil {
			servers = []string{as.issuer()}
		}
		mux.Handle("GET "+rs.prmPath, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:             resource,
			AuthorizationServers: servers,
			ScopesSupported:      rs.prmScopes,
		}))
	}
}

// mcpHandler is a real MCP server over streamable HTTP.
func mcpHandler() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "fake-mcp", Version: "1.0.0"}, nil)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomString() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// oauthS256 is RFC 7636's S256, computed independently of x/oauth2.
func oauthS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// followAuthorize plays the user's browser: it opens the authorize URL and
// returns the callback query the AS redirects to.
func followAuthorize(t *testing.T, authorizeURL string) url.Values {
	t.Helper()
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(authorizeURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc.Query()
}

// world is a fake AS and an MCP server in front of it, discovered.
type world struct {
	as *fakeAS
	rs *mcpServer
	d  *oauth.Discovery
	c  *oauth.Client
}

// newWorld starts an AS (its metadata changed by edit, if set) and an MCP
// server advertising it through its 401 challenge, and runs discovery.
func newWorld(t *testing.T, edit func(m map[string]any)) *world {
	t.Helper()
	as := newFakeAS(t, "")
	as.edit = edit
	rs := resourceServer{
		prmPath: "/.well-known/oauth-protected-resource/mcp", advertise: true,
		challengeScopes: []string{"mcp:tools"},
	}.start(t, as)
	c := newClient(t)
	d, err := c.Discover(testContext(t), rs.URL+"/mcp")
	require.NoError(t, err)
	return &world{as: as, rs: rs, d: d, c: c}
}
