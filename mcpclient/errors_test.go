package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

func TestProbeFailures(t *testing.T) {
	t.Parallel()
	html := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><body>Welcome</body></html>")
	})
	unauthorized := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`)
		http.Error(w, "no", http.StatusUnauthorized)
	})
	tests := []struct {
		name      string
		transport registry.Transport
		handler   http.Handler
		want      error
		contains  []string
		status    int
		// methods are the HTTP methods the server must have seen: they show
		// whether a fallback was (rightly) tried or not.
		methods []string
	}{
		{
			name: "html page", transport: registry.TransportHTTP, handler: html,
			want: registry.ErrUpstreamInvalid, status: 200,
			contains: []string{
				`invalid MCP response: server answered POST http://127.0.0.1:`,
				`with Content-Type "text/html; charset=utf-8", not JSON or an event stream`,
				"legacy SSE fallback: server answered GET", "not an event stream",
			},
			// The HTML answer to server/discover breaks the SDK's
			// connection, so initialize is never sent.
			methods: []string{"POST", "GET"},
		},
		{
			name: "not found", transport: registry.TransportStreamableHTTP, handler: http.NotFoundHandler(),
			want: registry.ErrUpstreamInvalid, status: 404,
			contains: []string{"invalid MCP response: server returned HTTP 404 for POST http://127.0.0.1:"},
		},
		{
			name: "not found anywhere", transport: registry.TransportSSE, handler: http.NotFoundHandler(),
			want: registry.ErrUpstreamInvalid, status: 404,
			contains: []string{
				"invalid MCP response: server returned HTTP 404 for GET http://127.0.0.1:",
				"streamable HTTP fallback: server returned HTTP 404 for POST",
			},
			methods: []string{"GET", "POST", "POST"},
		},
		{
			name: "server error", transport: registry.TransportHTTP,
			handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "boom", http.StatusBadGateway)
			}),
			want: registry.ErrUpstreamConnection, status: 502,
			contains: []string{"connection failed: server returned HTTP 502 for POST"},
			// 5xx says nothing about which transport the server speaks.
			methods: []string{"POST", "POST"},
		},
		{
			name: "unauthorized streamable", transport: registry.TransportHTTP, handler: unauthorized,
			want: registry.ErrUpstreamAuth, status: 401,
			contains: []string{"authentication rejected: HTTP 401 for POST http://127.0.0.1:"},
			methods:  []string{"POST", "POST"}, // no fallback after a 401
		},
		{
			name: "unauthorized sse", transport: registry.TransportSSE, handler: unauthorized,
			want: registry.ErrUpstreamAuth, status: 401,
			contains: []string{"authentication rejected: HTTP 401 for GET http://127.0.0.1:"},
			methods:  []string{"GET"},
		},
		{
			name: "forbidden websocket", transport: registry.TransportWebSocket,
			handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "no", http.StatusForbidden)
			}),
			want: registry.ErrUpstreamAuth, status: 403,
			contains: []string{"authentication rejected: HTTP 403 for GET http://127.0.0.1:"},
		},
		{
			name: "websocket endpoint that is plain HTTP", transport: registry.TransportWebSocket, handler: html,
			want:     registry.ErrUpstreamInvalid,
			contains: []string{"invalid MCP response:", "101", "200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, rec := serve(t, tt.handler)
			endpoint := srv.URL + "/mcp"
			if tt.transport == registry.TransportWebSocket {
				endpoint = wsURL(srv) + "/mcp"
			}
			c := newTestClient(t, Options{})

			_, err := c.Probe(ctxT(t), httpConn(tt.transport, endpoint))
			require.ErrorIs(t, err, tt.want)
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
			e := asError(t, err)
			assert.Equal(t, tt.status, e.HTTPStatus)
			if tt.want == registry.ErrUpstreamAuth && tt.transport != registry.TransportWebSocket {
				assert.Contains(t, e.WWWAuthenticate, `resource_metadata="https://mcp.example.com/`)
			}
			if tt.methods != nil {
				assert.Equal(t, tt.methods, rec.methods())
			}
		})
	}
}

func TestProbeRefusedByNetworkPolicy(t *testing.T) {
	t.Parallel()
	srv, rec := serve(t, streamableHandler(newTestServer("refused"), nil))
	tests := []struct {
		name      string
		transport registry.Transport
		endpoint  string
		contains  string
	}{
		{name: "loopback", transport: registry.TransportHTTP, endpoint: srv.URL + "/mcp", contains: "127.0.0.1 is a loopback address"},
		{name: "websocket loopback", transport: registry.TransportWebSocket, endpoint: wsURL(srv), contains: "127.0.0.1 is a loopback address"},
		{name: "wrong scheme", transport: registry.TransportWebSocket, endpoint: srv.URL, contains: `scheme "http" is not allowed`},
		{name: "metadata address", transport: registry.TransportStreamableHTTP, endpoint: "http://169.254.169.254/latest", contains: "link-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// No AllowCIDRs: loopback is refused like any internal address.
			c := New(Options{Guard: netguard.New(netguard.Options{})})
			_, err := c.Probe(ctxT(t), httpConn(tt.transport, tt.endpoint))
			require.ErrorIs(t, err, registry.ErrUpstreamRefused)
			require.ErrorIs(t, err, netguard.ErrRefused)
			assert.Contains(t, err.Error(), "refused by network policy: ")
			assert.Contains(t, err.Error(), tt.contains)
		})
	}
	assert.Zero(t, rec.hits.Load(), "a refused server must see no request")
}

// A name that resolves inward passes the URL check; the dial-time check
// must refuse it before a byte is sent.
func TestProbeRefusedAtDialTime(t *testing.T) {
	t.Parallel()
	srv, rec := serve(t, streamableHandler(newTestServer("rebind"), nil))
	g := netguard.New(netguard.Options{
		LookupNetIP: func(context.Context, string, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		},
	})
	c := New(Options{Guard: g})
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	_, err = c.Probe(ctxT(t), httpConn(registry.TransportHTTP, "http://rebind.example:"+port+"/mcp"))
	require.ErrorIs(t, err, registry.ErrUpstreamRefused)
	require.ErrorIs(t, err, netguard.ErrRefused)
	// The refusal names the host as given, not where it resolved to.
	assert.Equal(t, "refused by network policy: host rebind.example resolves to a loopback address", err.Error())
	assert.Zero(t, rec.hits.Load())
}

func TestProbeConnectionRefused(t *testing.T) {
	t.Parallel()
	addr := mcptest.ClosedAddr(t)
	c := newTestClient(t, Options{})
	conn := httpConn(registry.TransportHTTP, "http://"+addr+"/mcp?api_key=sup3rs3cret")
	conn.Headers = registry.Sensitive{"X-API-Key": "{{secrets.key}}"}
	conn.Secrets = registry.Sensitive{"key": "an0ther-s3cret"}

	_, err := c.Probe(ctxT(t), conn)
	require.ErrorIs(t, err, registry.ErrUpstreamConnection)
	assert.Contains(t, err.Error(), "connection failed: dial tcp "+addr+": connect: connection refused")
	assert.NotContains(t, err.Error(), "sup3rs3cret")
	assert.NotContains(t, err.Error(), "an0ther-s3cret")
}

func TestProbeTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport registry.Transport
	}{
		{name: "http", transport: registry.TransportHTTP},
		{name: "sse", transport: registry.TransportSSE},
		{name: "websocket", transport: registry.TransportWebSocket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			endpoint := mcptest.SilentServer(t)
			if tt.transport == registry.TransportWebSocket {
				endpoint = "ws" + endpoint[len("http"):]
			}
			conn := httpConn(tt.transport, endpoint)
			conn.TimeoutMS = 1000
			c := newTestClient(t, Options{})

			// The connection's timeout ended the probe (ctxT's is 20 s):
			// the error names it. A loaded machine only answers later, so
			// the wall-clock time is logged, not asserted.
			start := time.Now()
			_, err := c.Probe(ctxT(t), conn)
			t.Logf("probe ended after %v", time.Since(start).Round(time.Millisecond))
			require.ErrorIs(t, err, registry.ErrUpstreamTimeout)
			assert.Equal(t, "timeout: no answer within 1000ms", err.Error())
		})
	}
}

// A server that answers the handshake and then never answers tools/list
// must not hold the probe beyond the timeout either: the legacy SSE
// transport keeps its stream on the Connect context, which is why sessions
// connect with a lifetime context and operations carry their own deadline.
func TestProbeTimeoutAfterHandshake(t *testing.T) {
	t.Parallel()
	for _, transport := range []registry.Transport{registry.TransportStreamableHTTP, registry.TransportSSE} {
		t.Run(string(transport), func(t *testing.T) {
			t.Parallel()
			s := newTestServer("stuck")
			release := make(chan struct{})
			s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
				return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
					if method == "tools/list" {
						select {
						case <-release:
						case <-ctx.Done():
						}
						return nil, errors.New("released")
					}
					return next(ctx, method, req)
				}
			})
			var h http.Handler = streamableHandler(s, nil)
			if transport == registry.TransportSSE {
				h = sseHandler(s)
			}
			srv, _ := serve(t, h)
			// After serve's cleanup is registered, so it runs first: the
			// server cannot close while a handler is stuck.
			t.Cleanup(func() { close(release) })
			conn := httpConn(transport, srv.URL)
			conn.TimeoutMS = 1000
			c := newTestClient(t, Options{})

			// The connection's timeout ended it, not ctxT's 20 s.
			_, err := c.Probe(ctxT(t), conn)
			require.ErrorIs(t, err, registry.ErrUpstreamTimeout)
			assert.Equal(t, "timeout: no answer within 1000ms", err.Error())
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	t.Parallel()
	cause := &netguard.RefusedError{Reason: "x"}
	e := &Error{Kind: registry.ErrUpstreamRefused, cause: cause, msg: "refused by network policy: x"}
	assert.ErrorIs(t, e, registry.ErrUpstreamRefused)
	assert.ErrorIs(t, e, netguard.ErrRefused)
	assert.NotErrorIs(t, e, registry.ErrUpstreamTimeout)
	var re *netguard.RefusedError
	assert.True(t, errors.As(e, &re))
	wrapped := fmt.Errorf("probe: %w", e)
	assert.Same(t, e, asError(t, wrapped))
}

// The fallback gets what is left of the one timeout, not a timeout of its
// own. The server takes 450 ms to refuse each streamable HTTP POST and
// opens the SSE fallback's stream after 600 ms: within a timeout of 1000 ms
// shared by both, the fallback cannot succeed; with a timeout of its own,
// it would. The outcome, not the time taken, shows which: a loaded machine
// only makes the answers later.
func TestFallbackSharesTheTimeout(t *testing.T) {
	t.Parallel()
	sse := sseHandler(newTestServer("late"))
	srv, rec := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := func(delay time.Duration) bool {
			select {
			case <-time.After(delay):
				return true
			case <-r.Context().Done():
				return false
			}
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Query().Get("sessionid") == "":
			// Streamable HTTP: not spoken here.
			if wait(450 * time.Millisecond) {
				http.NotFound(w, r)
			}
		case r.Method == http.MethodGet:
			// The SSE stream opens late.
			if wait(600 * time.Millisecond) {
				sse.ServeHTTP(w, r)
			}
		default:
			sse.ServeHTTP(w, r)
		}
	}))
	c := newTestClient(t, Options{})

	conn := httpConn(registry.TransportHTTP, srv.URL)
	conn.TimeoutMS = 1000
	_, err := c.Probe(ctxT(t), conn)
	require.ErrorIs(t, err, registry.ErrUpstreamTimeout)
	assert.Contains(t, err.Error(), "timeout: no answer within 1000ms (after streamable HTTP failed: server returned HTTP 404 for POST")
	assert.Contains(t, rec.methods(), "GET", "the fallback was tried")

	// The control: with time for both, the same server works over SSE.
	conn.TimeoutMS = 15000
	res, err := c.Probe(ctxT(t), conn)
	require.NoError(t, err)
	assert.Equal(t, registry.TransportSSE, res.Transport)
}
