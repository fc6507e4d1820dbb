package mcpclient

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// credentialed is a connection whose headers are templates over its secrets.
func credentialed(transport registry.Transport, endpoint string) *registry.Connection {
	conn := httpConn(transport, endpoint)
	conn.Headers = registry.Sensitive{
		"X-API-Key":     "{{secrets.api_key}}",
		"Authorization": "Bearer {{ secrets.token }}",
	}
	conn.Secrets = registry.Sensitive{"api_key": "k-12345-secret", "token": "t-67890-secret"}
	return conn
}

func TestHeadersInterpolated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport registry.Transport
		ws        bool
	}{
		{name: "streamable", transport: registry.TransportStreamableHTTP},
		{name: "sse", transport: registry.TransportSSE},
		{name: "websocket", transport: registry.TransportWebSocket, ws: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer("headers")
			var h http.Handler
			switch tt.transport {
			case registry.TransportSSE:
				h = sseHandler(s)
			case registry.TransportWebSocket:
				h = wsHandler(t, s)
			default:
				h = streamableHandler(s, nil)
			}
			srv, rec := serve(t, h)
			endpoint := srv.URL
			if tt.ws {
				endpoint = wsURL(srv)
			}
			var logs bytes.Buffer
			c := newTestClient(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

			_, err := c.Probe(ctxT(t), credentialed(tt.transport, endpoint))
			require.NoError(t, err)
			reqs := rec.requests()
			require.NotEmpty(t, reqs)
			for _, r := range reqs {
				assert.Equal(t, "k-12345-secret", r.Header.Get("X-API-Key"), "%s %s", r.Method, r.URL)
				assert.Equal(t, "Bearer t-67890-secret", r.Header.Get("Authorization"), "%s %s", r.Method, r.URL)
			}
			assert.NotContains(t, logs.String(), "secret")
		})
	}
}

// A redirect to another origin must not carry the connection's headers:
// the guard's credentialed client refuses to follow it at all.
func TestHeadersNotSentAcrossOrigins(t *testing.T) {
	t.Parallel()
	other, otherRec := serve(t, streamableHandler(newTestServer("other"), nil))
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/mcp", http.StatusTemporaryRedirect)
	}))
	c := newTestClient(t, Options{})

	_, err := c.Probe(ctxT(t), credentialed(registry.TransportHTTP, srv.URL+"/mcp"))
	require.ErrorIs(t, err, registry.ErrUpstreamRefused)
	assert.Contains(t, err.Error(), "leaves the origin of a request that carries credentials")
	assert.NotContains(t, err.Error(), "secret")
	for _, r := range otherRec.requests() {
		assert.Empty(t, r.Header.Get("X-API-Key"))
		assert.Empty(t, r.Header.Get("Authorization"))
	}
	assert.Zero(t, otherRec.hits.Load())
}

// A same-origin redirect keeps the headers (the guard follows it).
func TestHeadersFollowSameOriginRedirect(t *testing.T) {
	t.Parallel()
	mcpHandler := streamableHandler(newTestServer("moved"), nil)
	srv, rec := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusPermanentRedirect)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	c := newTestClient(t, Options{})

	res, err := c.Probe(ctxT(t), credentialed(registry.TransportStreamableHTTP, srv.URL+"/old"))
	require.NoError(t, err)
	assert.Len(t, res.Tools, 3)
	for _, r := range rec.requests() {
		assert.Equal(t, "k-12345-secret", r.Header.Get("X-API-Key"), "%s %s", r.Method, r.URL)
	}
}

// The round tripper adds headers only to the endpoint's own origin: a legacy
// SSE server names its message endpoint, which may be anywhere.
func TestRoundTripperOrigin(t *testing.T) {
	t.Parallel()
	endpointSrv, endpointRec := serve(t, http.NotFoundHandler())
	elsewhere, elsewhereRec := serve(t, http.NotFoundHandler())
	endpoint, err := url.Parse(endpointSrv.URL + "/sse")
	require.NoError(t, err)
	conn := credentialed(registry.TransportSSE, endpoint.String())
	c := newTestClient(t, Options{})
	hc := c.httpClient(endpoint, registry.TransportSSE, connHeaders(conn), 0, newTracker(time.Second))

	for _, u := range []string{endpointSrv.URL + "/messages", elsewhere.URL + "/messages"} {
		resp, err := hc.Post(u, "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
	}
	require.Len(t, endpointRec.requests(), 1)
	assert.Equal(t, "k-12345-secret", endpointRec.requests()[0].Header.Get("X-API-Key"))
	require.Len(t, elsewhereRec.requests(), 1)
	assert.Empty(t, elsewhereRec.requests()[0].Header.Get("X-API-Key"))
	assert.Empty(t, elsewhereRec.requests()[0].Header.Get("Authorization"))
}

func TestOriginOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{name: "explicit port", in: "http://Example.COM:8080/x", want: "http://example.com:8080"},
		{name: "default https", in: "https://example.com/x?q=1", want: "https://example.com:443"},
		{name: "ws is http", in: "ws://example.com/x", want: "http://example.com:80"},
		{name: "wss is https", in: "wss://example.com:443/x", want: "https://example.com:443"},
		{name: "ipv6", in: "http://[::1]:9000/", want: "http://[::1]:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, originOf(u))
		})
	}
}
