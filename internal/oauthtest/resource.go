package oauthtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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
	// ToolScopes are the scopes a tools/call of a tool needs, by tool
	// name. A token without all of them is answered 403 with a step-up
	// challenge (RFC 6750 §3.1, MCP "Step-Up Authorization Flow"):
	// WWW-Authenticate: Bearer error="insufficient_scope", scope="<the
	// tool's scopes>", resource_metadata="<PRMPath>" when Advertise.
	ToolScopes map[string][]string
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
	var inner http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	if len(o.ToolScopes) > 0 {
		inner = toolScopes(inner, o.ToolScopes, opts.ResourceMetadataURL)
	}
	h := auth.RequireBearerToken(as.verifier(resource), opts)(inner)
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

// toolScopes answers a tools/call whose token lacks one of the tool's
// scopes with 403 and an insufficient_scope challenge naming them; it runs
// behind the bearer check, which put the token's scopes in the context.
func toolScopes(next http.Handler, need map[string][]string, resourceMetadata string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string `json:"method"`
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		_ = json.Unmarshal(body, &msg)
		scopes := need[msg.Params.Name]
		if msg.Method != "tools/call" || len(scopes) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		var granted []string
		if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
			granted = ti.Scopes
		}
		for _, s := range scopes {
			if !slices.Contains(granted, s) {
				challenge := fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, strings.Join(scopes, " "))
				if resourceMetadata != "" {
					challenge += fmt.Sprintf(`, resource_metadata=%q`, resourceMetadata)
				}
				w.Header().Set("WWW-Authenticate", challenge)
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
