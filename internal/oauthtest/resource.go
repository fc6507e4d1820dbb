package oauthtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// ResourceOptions describe an MCP server protected by a Server: a real
// go-sdk streamable HTTP handler at /mcp behind the go-sdk's bearer
// middleware, with RFC 9728 protected resource metadata.
type ResourceOptions struct {
	// PRMPath is where the protected resource metadata is served ("" for
	// none).
	PRMPath string
	// Advertise puts resource_metadata=<PRMPath> in the 401's
	// WWW-Authenticate challenge.
	Advertise bool
	// Resource, when set, gives the metadata's resource from the server's
	// base URL (default: the /mcp endpoint). It is also the audience the
	// bearer check wants.
	Resource func(base string) string
	// AuthServers overrides the metadata's authorization_servers (default:
	// the Server's issuer).
	AuthServers []string
	// ChallengeScopes go in the 401 challenge, and tokens must carry them.
	ChallengeScopes []string
	// PRMScopes are the metadata's scopes_supported.
	PRMScopes []string
	// MCP is the server behind the bearer check. Nil: one with no tools,
	// named "fake-mcp".
	MCP *mcp.Server
}

// ResourceServer is a running MCP server protected by a Server; it records
// what it was asked.
type ResourceServer struct {
	// Base is the server's base URL; URL is its MCP endpoint, Base+"/mcp".
	Base, URL string

	hits  atomic.Int32
	mu    sync.Mutex
	paths []string
}

// NewResourceServer starts an MCP server on its own httptest origin,
// protected by as (which then issues tokens for it), closed when t ends.
func NewResourceServer(t testing.TB, as *Server, o ResourceOptions) *ResourceServer {
	t.Helper()
	mux := http.NewServeMux()
	s := &ResourceServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.paths = append(s.paths, r.Method+" "+r.URL.Path)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.Base, s.URL = srv.URL, srv.URL+"/mcp"
	as.mount(mux, s.Base, o)
	return s
}

// ServeResource serves the MCP server described by o at /mcp on the
// authorization server's own origin: the 2025-03-26 layout, where an MCP
// server without resource metadata is its own authorization server.
func (as *Server) ServeResource(o ResourceOptions) { as.mount(as.mux, as.URL, o) }

// Requested returns the "METHOD /path" of every request so far.
func (s *ResourceServer) Requested() []string {
	return clone(&s.mu, &s.paths)
}

// Hits is how many requests the server received.
func (s *ResourceServer) Hits() int { return int(s.hits.Load()) }

// mount registers the MCP endpoint at base+"/mcp" (and its metadata) on
// mux, and makes it a resource of as.
func (as *Server) mount(mux *http.ServeMux, base string, o ResourceOptions) {
	endpoint := base + "/mcp"
	resource := endpoint
	if o.Resource != nil {
		resource = o.Resource(base)
	}
	as.mu.Lock()
	as.resources = append(as.resources, resource)
	as.mu.Unlock()

	server := o.MCP
	if server == nil {
		server = mcp.NewServer(&mcp.Implementation{Name: "fake-mcp", Version: "1.0.0"}, nil)
	}
	opts := &auth.RequireBearerTokenOptions{Scopes: o.ChallengeScopes}
	if o.Advertise {
		opts.ResourceMetadataURL = base + o.PRMPath
	}
	h := auth.RequireBearerToken(as.verifier(resource), opts)(
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil))
	// Method-qualified, so the endpoint can share the authorization
	// server's mux (whose "GET /" would conflict with a method-less "/mcp").
	for _, m := range []string{"POST", "GET", "DELETE"} {
		mux.Handle(m+" /mcp", h)
	}
	if o.PRMPath != "" {
		servers := o.AuthServers
		if servers == nil {
			servers = []string{as.Issuer()}
		}
		mux.Handle("GET "+o.PRMPath, auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:             resource,
			AuthorizationServers: servers,
			ScopesSupported:      o.PRMScopes,
		}))
	}
}

// verifier is the resource server's token check: issued by as, for
// resource (RFC 8707 audience), not expired by as's clock.
func (as *Server) verifier(resource string) auth.TokenVerifier {
	return func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		as.mu.Lock()
		defer as.mu.Unlock()
		as.bearers = append(as.bearers, token)
		g, ok := as.access[token]
		if !ok || g.resource != resource || !as.opts.Now().Before(g.expiry) {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Scopes: g.scopes, Expiration: time.Now().Add(time.Hour)}, nil
	}
}
