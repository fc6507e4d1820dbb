// Package mcptest runs customers' MCP servers for tests: real go-sdk
// servers on loopback, over streamable HTTP or legacy SSE, that count the
// handshakes and calls they get and record the headers they were sent; and
// the misbehaving endpoints tests need (one that never answers, one where
// nothing listens).
//
//	up := mcptest.New(t, mcptest.Options{Name: "calc"})
//	c := &registry.Connection{Transport: up.Transport(), Endpoint: up.URL(), ...}
//	// ... probe or call c ...
//	assert.Equal(t, int64(1), up.Inits.Load())
//
// It imports nothing of tether's but registry's types, so that every
// package's tests (mcpclient's own included) can use it.
package mcptest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// Upstream is a customer's MCP server on loopback.
type Upstream struct {
	// Server is the MCP server: tests add and remove tools on it.
	Server *mcp.Server
	// HTTP is its listener (CloseClientConnections drops every stream).
	HTTP *httptest.Server
	// Inits and Calls count the initialize and tools/call requests served.
	Inits, Calls atomic.Int64
	// Accepts counts the TCP connections its listener accepted: a client
	// that reuses connections opens few.
	Accepts atomic.Int64

	sse     bool
	handler atomic.Pointer[http.Handler]
	mu      sync.Mutex
	headers []http.Header
	// release unblocks the slow tool's calls; closed at the end of the test.
	release chan struct{}
}

// Options configure an Upstream.
type Options struct {
	// Name and Version are the server's serverInfo. Defaults
	// "test-upstream" and "1.0.0".
	Name, Version string
	// SSE serves legacy SSE instead of streamable HTTP.
	SSE bool
	// Tools are the tools it serves. nil means Add, Echo, Lookup and
	// "slow", which answers only once the call is cancelled (or the test
	// ends).
	Tools []Tool
}

// New starts an Upstream; the test's cleanup stops it.
func New(t testing.TB, o Options) *Upstream {
	t.Helper()
	if o.Name == "" {
		o.Name = "test-upstream"
	}
	if o.Version == "" {
		o.Version = "1.0.0"
	}
	u := &Upstream{sse: o.SSE, release: make(chan struct{})}
	if o.Tools == nil {
		o.Tools = []Tool{Add, Echo, Lookup, slow(u.release)}
	}
	u.Server = mcp.NewServer(&mcp.Implementation{Name: o.Name, Version: o.Version}, nil)
	u.Server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			switch method {
			case "initialize":
				u.Inits.Add(1)
			case "tools/call":
				u.Calls.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	for _, add := range o.Tools {
		add(u.Server)
	}
	u.Restart()
	u.HTTP = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.mu.Unlock()
		(*u.handler.Load()).ServeHTTP(w, r)
	}))
	u.HTTP.Listener = &countingListener{Listener: u.HTTP.Listener, n: &u.Accepts}
	u.HTTP.Start()
	t.Cleanup(func() {
		close(u.release)
		u.HTTP.CloseClientConnections()
		u.HTTP.Close()
	})
	return u
}

// Restart replaces the HTTP handler: the sessions it knew are forgotten, as
// when the server restarts.
func (u *Upstream) Restart() {
	var h http.Handler
	if u.sse {
		h = mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return u.Server }, nil)
	} else {
		h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return u.Server }, nil)
	}
	u.handler.Store(&h)
}

// URL is the MCP endpoint.
func (u *Upstream) URL() string { return u.HTTP.URL + "/mcp" }

// Transport is the transport it speaks: streamable_http, or sse.
func (u *Upstream) Transport() registry.Transport {
	if u.sse {
		return registry.TransportSSE
	}
	return registry.TransportStreamableHTTP
}

// Headers returns the headers of every request so far.
func (u *Upstream) Headers() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.headers...)
}

// LastHeader is the value of a header on the latest request.
func (u *Upstream) LastHeader(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.headers) == 0 {
		return ""
	}
	return u.headers[len(u.headers)-1].Get(name)
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// SilentServer returns the URL of an endpoint that accepts TCP connections
// and never answers.
func SilentServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String() + "/mcp"
}

// ClosedURL returns the URL of an MCP endpoint on a loopback port nothing
// listens on.
func ClosedURL(t testing.TB) string {
	t.Helper()
	return "http://" + ClosedAddr(t) + "/mcp"
}

// ClosedAddr returns a loopback address (host:port) nothing listens on.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
