package mcpclient

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func TestProbeTransports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport registry.Transport
		handler   func(t *testing.T, s *mcp.Server) http.Handler
		ws        bool
		want      registry.Transport
		// methods, if set, are the HTTP methods the server must have seen,
		// in order (it shows which transports were tried).
		methods []string
	}{
		{
			name: "streamable", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return streamableHandler(s, nil) },
			want:    registry.TransportStreamableHTTP,
		},
		{
			name: "streamable with JSON responses", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler {
				return streamableHandler(s, &mcp.StreamableHTTPOptions{JSONResponse: true})
			},
			want: registry.TransportStreamableHTTP,
		},
		{
			name: "stateless streamable", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler {
				return streamableHandler(s, &mcp.StreamableHTTPOptions{Stateless: true})
			},
			want: registry.TransportStreamableHTTP,
		},
		{
			name: "http prefers streamable", transport: registry.TransportHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return streamableHandler(s, nil) },
			want:    registry.TransportStreamableHTTP,
		},
		{
			name: "legacy sse", transport: registry.TransportSSE,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return sseHandler(s) },
			want:    registry.TransportSSE,
			methods: []string{"GET"},
		},
		{
			name: "http falls back to sse", transport: registry.TransportHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return sseHandler(s) },
			want:    registry.TransportSSE,
			methods: []string{"POST", "POST", "GET"}, // server/discover, initialize, then SSE
		},
		{
			name: "sse falls back to streamable", transport: registry.TransportSSE,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return streamableHandler(s, nil) },
			want:    registry.TransportStreamableHTTP,
			methods: []string{"GET", "POST"},
		},
		{
			name: "sse falls back to stateless streamable", transport: registry.TransportSSE,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler {
				return streamableHandler(s, &mcp.StreamableHTTPOptions{Stateless: true})
			},
			want: registry.TransportStreamableHTTP,
		},
		{
			name: "websocket", transport: registry.TransportWebSocket, ws: true,
			handler: wsHandler,
			want:    registry.TransportWebSocket,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, rec := serve(t, tt.handler(t, newTestServer(tt.name)))
			endpoint := srv.URL
			if tt.ws {
				endpoint = wsURL(srv)
			}
			c := newTestClient(t, Options{})

			res, err := c.Probe(ctxT(t), httpConn(tt.transport, endpoint))
			require.NoError(t, err)
			assert.Equal(t, tt.want, res.Transport)
			assertProbe(t, res, tt.name)
			if tt.transport == tt.want {
				for _, m := range rec.methods() {
					// The first transport worked: nothing of the other
					// HTTP transport may have been tried. (Streamable's
					// GET stream is off for probes, so a GET means SSE.)
					if tt.want == registry.TransportStreamableHTTP {
						assert.NotEqual(t, "GET", m)
					}
				}
			}
			if tt.methods != nil {
				got := rec.methods()
				require.GreaterOrEqual(t, len(got), len(tt.methods), "methods: %v", got)
				assert.Equal(t, tt.methods, got[:len(tt.methods)])
			}
			t.Logf("protocol %s, server saw %v", res.ProtocolVersion, rec.methods())
		})
	}
}

func TestProbeStdio(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Options{})
	conn := &registry.Connection{
		Transport: registry.TransportStdio,
		Command:   stdioFixture,
		Args:      []string{stdioServerArg},
		TimeoutMS: 10000,
	}
	res, err := c.Probe(ctxT(t), conn)
	require.NoError(t, err)
	assert.Equal(t, registry.TransportStdio, res.Transport)
	assertProbe(t, res, "stdio-test")
}

// assertProbe checks what every probe of newTestServer must report.
func assertProbe(t *testing.T, res *registry.ProbeResult, serverName string) {
	t.Helper()
	assert.Equal(t, registry.ServerInfo{Name: serverName, Title: "Test " + serverName, Version: "1.2.3"}, res.ServerInfo)
	assert.NotEmpty(t, res.ProtocolVersion)
	assert.Positive(t, res.Latency)
	byName := map[string]registry.ToolSpec{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	require.Len(t, byName, 3, "tools: %v", res.Tools)
	add := byName["add"]
	assert.Equal(t, "Add", add.Title)
	assert.Equal(t, "Adds two numbers", add.Description)
	assert.Equal(t, "object", add.InputSchema["type"])
	assert.Contains(t, add.InputSchema["properties"], "a")
	assert.Contains(t, add.OutputSchema["properties"], "sum")
	assert.Equal(t, true, byName["env"].Annotations["readOnlyHint"])
}

// tether has no user at hand: it must not offer roots, sampling or
// elicitation, whichever handshake (server/discover or initialize) the SDK
// uses.
func TestProbeDeclaresNoClientCapabilities(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	h := streamableHandler(newTestServer("caps"), &mcp.StreamableHTTPOptions{JSONResponse: true})
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	}))
	c := newTestClient(t, Options{ClientName: "tether-test", ClientVersion: "9.9"})

	_, err := c.Probe(ctxT(t), httpConn(registry.TransportStreamableHTTP, srv.URL))
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(bodies, "\n")
	assert.Contains(t, all, `"name":"tether-test"`)
	assert.Contains(t, all, `"version":"9.9"`)
	for _, capability := range []string{"roots", "sampling", "elicitation"} {
		assert.NotContains(t, all, `"`+capability+`"`)
	}
}
