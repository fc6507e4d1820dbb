package mcpclient

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func TestCall(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t, streamableHandler(newTestServer("call"), nil))
	c := newTestClient(t, Options{})
	conn := httpConn(registry.TransportHTTP, srv.URL)

	t.Run("result", func(t *testing.T) {
		t.Parallel()
		res, err := c.call(ctxT(t), conn, "add", map[string]any{"a": 2, "b": 3})
		require.NoError(t, err)
		assert.False(t, res.IsError)
		assert.Equal(t, map[string]any{"sum": float64(5)}, res.StructuredContent)
		require.Len(t, res.Content, 1)
		text, ok := res.Content[0].(*mcp.TextContent)
		require.True(t, ok)
		assert.JSONEq(t, `{"sum":5}`, text.Text)
	})
	t.Run("tool error is a result", func(t *testing.T) {
		t.Parallel()
		res, err := c.call(ctxT(t), conn, "fail", nil)
		require.NoError(t, err)
		assert.True(t, res.IsError)
		require.NotEmpty(t, res.Content)
		assert.Contains(t, res.Content[0].(*mcp.TextContent).Text, "the widget is broken")
	})
	t.Run("unknown tool", func(t *testing.T) {
		t.Parallel()
		_, err := c.call(ctxT(t), conn, "nope", nil)
		require.ErrorIs(t, err, registry.ErrUpstreamError)
		assert.Equal(t, `server error: unknown tool "nope" (code -32602)`, err.Error())
		var rpcErr *jsonrpc.Error
		require.ErrorAs(t, err, &rpcErr)
		assert.EqualValues(t, jsonrpc.CodeInvalidParams, rpcErr.Code)
	})
	t.Run("invalid arguments", func(t *testing.T) {
		t.Parallel()
		// go-sdk servers report input validation failures as tool errors.
		res, err := c.call(ctxT(t), conn, "add", map[string]any{"a": "two"})
		require.NoError(t, err)
		assert.True(t, res.IsError)
	})
}

// A session outlives the handshake's deadline: legacy SSE and websocket tie
// their stream to the Connect context, which must therefore be the
// session's lifetime, not the timeout. Operations have their own deadline.
func TestSessionOutlivesConnectTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport registry.Transport
		handler   func(t *testing.T, s *mcp.Server) http.Handler
	}{
		{name: "streamable", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return streamableHandler(s, nil) }},
		{name: "sse", transport: registry.TransportSSE,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return sseHandler(s) }},
		{name: "websocket", transport: registry.TransportWebSocket, handler: wsHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := serve(t, tt.handler(t, newTestServer("warm")))
			endpoint := srv.URL
			if tt.transport == registry.TransportWebSocket {
				endpoint = wsURL(srv)
			}
			conn := httpConn(tt.transport, endpoint)
			conn.TimeoutMS = 1000
			c := newTestClient(t, Options{})

			s, err := c.Connect(ctxT(t), conn)
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, tt.transport, s.Transport())
			time.Sleep(1200 * time.Millisecond)

			var wg sync.WaitGroup
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := s.CallTool(ctxT(t), "add", map[string]any{"a": i, "b": 1})
					if assert.NoError(t, err) {
						assert.Equal(t, map[string]any{"sum": float64(i + 1)}, res["structuredContent"])
					}
				}()
			}
			wg.Wait()
			tools, err := s.ListTools(ctxT(t))
			require.NoError(t, err)
			assert.Len(t, tools, 3)
			require.NoError(t, s.Close())
			require.NoError(t, s.Close(), "Close is idempotent")
			_, err = s.ListTools(ctxT(t))
			require.ErrorIs(t, err, registry.ErrUpstreamConnection, "a closed session fails cleanly")
		})
	}
}
