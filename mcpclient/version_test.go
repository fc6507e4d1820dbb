package mcpclient

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// methodLog wraps an MCP HTTP handler and records the JSON-RPC method of
// every POST; refuse maps a method to the HTTP status it is refused with
// (as gopls answers server/discover with 400 over legacy SSE).
type methodLog struct {
	next   http.Handler
	refuse map[string]int
	// jsonrpcRefuse answers these methods with a JSON-RPC "method not
	// found" error, as a server of a revision before 2026-07-28 does.
	jsonrpcRefuse map[string]bool

	mu   sync.Mutex
	seen []string
}

func (m *methodLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		m.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	_ = json.Unmarshal(body, &msg)
	m.mu.Lock()
	m.seen = append(m.seen, msg.Method)
	m.mu.Unlock()
	if code := m.refuse[msg.Method]; code != 0 {
		http.Error(w, `"`+msg.Method+`" unsupported`, code)
		return
	}
	if m.jsonrpcRefuse[msg.Method] {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(msg.ID) + `,"error":{"code":-32601,"message":"method not found"}}`))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	m.next.ServeHTTP(w, r)
}

func (m *methodLog) count(method string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.seen {
		if s == method {
			n++
		}
	}
	return n
}

// A legacy SSE server that refuses server/discover with an HTTP error (as
// gopls does) is reached: over SSE tether starts with initialize.
func TestSSEServerRefusingDiscoverIsReached(t *testing.T) {
	log := &methodLog{next: sseHandler(newTestServer("gopls-like")), refuse: map[string]int{"server/discover": http.StatusBadRequest}}
	srv, _ := serve(t, log)
	c := newTestClient(t, Options{})

	res, err := c.Probe(ctxT(t), httpConn(registry.TransportSSE, srv.URL))
	require.NoError(t, err)
	assert.Equal(t, registry.TransportSSE, res.Transport)
	assert.Equal(t, legacyVersion, res.ProtocolVersion)
	assert.Zero(t, log.count("server/discover"), "legacy SSE is never asked server/discover")
	assert.Equal(t, 1, log.count("initialize"))
}

// The protocol version and transport that worked are used on the next
// connect: a 2025-11-25 server is not asked server/discover again, and a
// server reached over the fallback transport is not asked the preferred
// one first.
func TestRememberedVersionAndTransport(t *testing.T) {
	log := &methodLog{next: streamableHandler(newTestServer("legacy"), nil), jsonrpcRefuse: map[string]bool{"server/discover": true}}
	srv, _ := serve(t, log)
	c := newTestClient(t, Options{})
	conn := httpConn(registry.TransportHTTP, srv.URL)

	first, err := c.Probe(ctxT(t), conn)
	require.NoError(t, err)
	assert.Equal(t, legacyVersion, first.ProtocolVersion)
	assert.Equal(t, 1, log.count("server/discover"), "a first connect negotiates from the newest")

	conn.ProtocolVersion, conn.ConnectedTransport = first.ProtocolVersion, first.Transport
	for range 3 {
		res, err := c.Probe(ctxT(t), conn)
		require.NoError(t, err)
		assert.Equal(t, legacyVersion, res.ProtocolVersion)
	}
	assert.Equal(t, 1, log.count("server/discover"), "the remembered version skips server/discover")
	assert.Equal(t, 4, log.count("initialize"))
}

// A server that drops the remembered version (upgraded to a revision
// without initialize) is still reached: the handshake starts again from
// the newest.
func TestRememberedVersionRefusedNegotiatesAfresh(t *testing.T) {
	log := &methodLog{next: streamableHandler(newTestServer("upgraded"), &mcp.StreamableHTTPOptions{Stateless: true}), jsonrpcRefuse: map[string]bool{"initialize": true}}
	srv, _ := serve(t, log)
	c := newTestClient(t, Options{})
	conn := httpConn(registry.TransportStreamableHTTP, srv.URL)
	conn.ProtocolVersion, conn.ConnectedTransport = legacyVersion, registry.TransportStreamableHTTP

	res, err := c.Probe(ctxT(t), conn)
	require.NoError(t, err, "methods seen: %v", log.seen)
	assert.Equal(t, newestVersion, res.ProtocolVersion)
	assert.Equal(t, 1, log.count("initialize"), "the remembered version was tried first")
	assert.Equal(t, 1, log.count("server/discover"))
}

// An "http" connection that last worked over SSE tries SSE first.
func TestRememberedTransportFirst(t *testing.T) {
	assert.Equal(t, []registry.Transport{registry.TransportSSE, registry.TransportStreamableHTTP},
		rememberedFirst([]registry.Transport{registry.TransportStreamableHTTP, registry.TransportSSE}, registry.TransportSSE))
	assert.Equal(t, []registry.Transport{registry.TransportStreamableHTTP, registry.TransportSSE},
		rememberedFirst([]registry.Transport{registry.TransportStreamableHTTP, registry.TransportSSE}, ""))
	assert.Equal(t, []registry.Transport{registry.TransportStdio},
		rememberedFirst([]registry.Transport{registry.TransportStdio}, registry.TransportSSE))
}
