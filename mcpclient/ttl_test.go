package mcpclient

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// A probe reports the cache hint (ttlMs) of a 2026-07-28 server's tool
// list: the smallest positive one of its pages; none when the server
// sets none (it sends ttlMs 0) or only 0s; capped when absurdly long.
func TestProbeReportsToolsTTL(t *testing.T) {
	tests := []struct {
		name string
		// pages is the ttlMs of each tools/list page, in order (nil: the
		// server sets no hint).
		pages []int
		want  time.Duration
	}{
		{name: "no hint", want: 0},
		{name: "one page", pages: []int{45000}, want: 45 * time.Second},
		{name: "smallest page wins", pages: []int{5000, 2000, 9000}, want: 2 * time.Second},
		{name: "zero pages are no hint", pages: []int{0, 7000, 0}, want: 7 * time.Second},
		{name: "only zeros", pages: []int{0, 0, 0}, want: 0},
		{name: "capped", pages: []int{math.MaxInt}, want: maxToolsTTL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &mcp.ServerOptions{}
			if tt.pages != nil {
				opts.PageSize = 1       // one tool a page: a page per hint
				var served atomic.Int64 // pages, in the one probe's order
				opts.SetCacheable = func(_ context.Context, req mcp.Request, c *mcp.Cacheable) {
					if _, ok := req.(*mcp.ListToolsRequest); ok {
						c.TTLMs = tt.pages[min(int(served.Add(1))-1, len(tt.pages)-1)]
					}
				}
			}
			s := mcp.NewServer(&mcp.Implementation{Name: "hinting", Version: "1"}, opts)
			for _, name := range []string{"a", "b", "c"} {
				s.AddTool(&mcp.Tool{Name: name, InputSchema: map[string]any{"type": "object"}},
					func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
						return &mcp.CallToolResult{}, nil
					})
			}
			srv, _ := serve(t, streamableHandler(s, &mcp.StreamableHTTPOptions{Stateless: true}))
			res, err := newTestClient(t, Options{}).Probe(ctxT(t), httpConn(registry.TransportStreamableHTTP, srv.URL))
			require.NoError(t, err)
			require.Len(t, res.Tools, 3)
			assert.Equal(t, "2026-07-28", res.ProtocolVersion)
			assert.Equal(t, tt.want, res.ToolsTTL)
		})
	}
}
