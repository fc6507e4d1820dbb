package mcpclient

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func TestProbeOversizedToolList(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	tests := []struct {
		name      string
		transport registry.Transport
		handler   func(t *testing.T, s *mcp.Server) http.Handler
	}{
		{
			name: "streamable event stream", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return streamableHandler(s, nil) },
		},
		{
			name: "streamable JSON", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler {
				return streamableHandler(s, &mcp.StreamableHTTPOptions{JSONResponse: true})
			},
		},
		{
			name: "stateless streamable", transport: registry.TransportStreamableHTTP,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler {
				return streamableHandler(s, &mcp.StreamableHTTPOptions{Stateless: true})
			},
		},
		{
			name: "legacy sse", transport: registry.TransportSSE,
			handler: func(_ *testing.T, s *mcp.Server) http.Handler { return sseHandler(s) },
		},
		{name: "websocket", transport: registry.TransportWebSocket, handler: wsHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer("big")
			addBigTool(s, 2*limit)
			srv, _ := serve(t, tt.handler(t, s))
			endpoint := srv.URL
			if tt.transport == registry.TransportWebSocket {
				endpoint = wsURL(srv)
			}
			c := newTestClient(t, Options{MaxMessageBytes: limit})

			// An oversized message fails at once, not at the timeout: the
			// error is the cap, not registry.ErrUpstreamTimeout.
			_, err := c.Probe(ctxT(t), httpConn(tt.transport, endpoint))
			require.ErrorIs(t, err, registry.ErrUpstreamInvalid)
			assert.Equal(t, "invalid MCP response: response larger than 64 KiB", err.Error())
		})
	}
	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, Options{MaxMessageBytes: limit})
		_, err := c.Probe(ctxT(t), &registry.Connection{
			Transport: registry.TransportStdio, Command: stdioFixture,
			Args: []string{stdioServerArg, "big"}, TimeoutMS: 10000,
		})
		require.ErrorIs(t, err, registry.ErrUpstreamInvalid)
		assert.Equal(t, "invalid MCP response: response larger than 64 KiB", err.Error())
	})
	t.Run("under the limit", func(t *testing.T) {
		t.Parallel()
		s := newTestServer("big")
		addBigTool(s, limit/2)
		srv, _ := serve(t, streamableHandler(s, nil))
		c := newTestClient(t, Options{MaxMessageBytes: limit})
		res, err := c.Probe(ctxT(t), httpConn(registry.TransportStreamableHTTP, srv.URL))
		require.NoError(t, err)
		assert.Len(t, res.Tools, 4)
	})
}

// pagingServer answers tools/list with one tool per page and the cursor
// that next(cursor) gives, counting the pages served.
func pagingServer(t *testing.T, next func(cursor string) string) (string, *atomic.Int64) {
	t.Helper()
	s := newTestServer("paging")
	var pages atomic.Int64
	s.AddReceivingMiddleware(func(h mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method != "tools/list" {
				return h(ctx, method, req)
			}
			n := pages.Add(1)
			cursor := ""
			if p, ok := req.GetParams().(*mcp.ListToolsParams); ok && p != nil {
				cursor = p.Cursor
			}
			return &mcp.ListToolsResult{
				Tools:      []*mcp.Tool{{Name: fmt.Sprintf("tool%d", n), InputSchema: map[string]any{"type": "object"}}},
				NextCursor: next(cursor),
			}, nil
		}
	})
	srv, _ := serve(t, streamableHandler(s, nil))
	return srv.URL, &pages
}

func TestProbePaging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		maxPages  int
		next      func(cursor string) string
		wantTools int
	}{
		{name: "follows cursors to the end", maxPages: 10, wantTools: 3, next: func(c string) string {
			return map[string]string{"": "a", "a": "b", "b": ""}[c]
		}},
		{name: "the same cursor forever", maxPages: 10, wantTools: 2, next: func(string) string { return "again" }},
		{name: "a cursor cycle", maxPages: 10, wantTools: 3, next: func(c string) string {
			return map[string]string{"": "a", "a": "b", "b": "a"}[c]
		}},
		{name: "more pages than the cap", maxPages: 5, wantTools: 5, next: func(c string) string { return c + "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			endpoint, pages := pagingServer(t, tt.next)
			c := newTestClient(t, Options{MaxToolPages: tt.maxPages})

			res, err := c.Probe(ctxT(t), httpConn(registry.TransportStreamableHTTP, endpoint))
			require.NoError(t, err)
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
			}
			assert.Len(t, names, tt.wantTools, "tools: %s", strings.Join(names, ","))
			assert.EqualValues(t, tt.wantTools, pages.Load(), "pages fetched")
		})
	}
}

func TestFramer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		events  bool
		chunks  []string
		tooBig  bool
		comment string
	}{
		{name: "events under the limit", events: true, chunks: []string{"data: 12345\n\n", "data: 12345\n\n"}},
		{name: "event over the limit", events: true, chunks: []string{"data: 1234567\n\n"}, tooBig: true},
		{name: "event split across reads", events: true, chunks: []string{"data: 12", "34567\n\n"}, tooBig: true},
		{name: "multi-line event counts as a whole", events: true, chunks: []string{"id: 1\ndata: 12\n\n"}, tooBig: true},
		{name: "crlf boundaries", events: true, chunks: []string{"data: 12345\r\n\r\ndata: 12345\r\n\r\n"}},
		{name: "lines under the limit", chunks: []string{"1234567890\n", "1234567890\n"}},
		{name: "line over the limit", chunks: []string{"12345678901\n"}, tooBig: true},
		{name: "line split across reads", chunks: []string{"123456", "78901"}, tooBig: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limit := int64(10)
			if tt.events {
				limit = 12 // "data: 12345" is 11 bytes
			}
			tr := newTracker(time.Second)
			f := newFramer(limit, tt.events, tr)
			var err error
			for _, c := range tt.chunks {
				if err = f.scan([]byte(c)); err != nil {
					break
				}
			}
			if tt.tooBig {
				require.Error(t, err)
				assert.Error(t, tr.fatalErr())
				return
			}
			require.NoError(t, err)
			assert.NoError(t, tr.fatalErr())
		})
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{name: "short", writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "trimmed across writes", writes: []string{"abcd", "efgh"}, want: "cdefgh"},
		{name: "one long write", writes: []string{"0123456789"}, want: "456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &tailBuffer{max: 6}
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				require.NoError(t, err)
				assert.Equal(t, len(w), n)
			}
			got, _ := b.contents()
			assert.Equal(t, tt.want, got)
		})
	}
}
