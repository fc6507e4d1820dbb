package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
)

type bigIn struct {
	Bytes int `json:"bytes"`
}

// bigTool answers a text of the requested size.
func bigTool(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{Name: "big", Description: "A result of the size asked for"},
		func(_ context.Context, _ *mcp.CallToolRequest, in bigIn) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Repeat("x", in.Bytes)}}}, nil, nil
		})
}

// A tool result over the size cap (8 MiB) is refused on every path an
// agent calls through (both /mcp revisions and the REST invoke) as a tool
// error, and the connection goes on serving the next call.
func TestResultOverTheCapIsRefused(t *testing.T) {
	up := mcptest.New(t, mcptest.Options{Tools: []mcptest.Tool{bigTool, mcptest.Echo}})
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	featherConnection(t, h, key, up.URL())
	over := map[string]any{"bytes": 9 << 20}

	for _, version := range []string{legacyProtocol, newProtocol} {
		s := agentSpeaking(t, h, version, key, "", nil)
		res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_big", Arguments: over})
		require.NoError(t, err, version)
		assert.True(t, res.IsError, version)
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				assert.Less(t, len(tc.Text), 4096, "%s: the refusal is short, not the result", version)
			}
		}
		res, err = s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_big", Arguments: map[string]any{"bytes": 1000}})
		require.NoError(t, err, version)
		assert.False(t, res.IsError, "%s: a result under the cap passes", version)
		res, err = s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_echo", Arguments: map[string]any{"text": "still here"}})
		require.NoError(t, err, version)
		assert.False(t, res.IsError, version)
	}

	r := h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_big/invoke", key: key, body: map[string]any{"input": over}})
	assert.NotEqual(t, http.StatusOK, r.status, "REST: refused, %s", r.body[:min(len(r.body), 300)])
	assert.Less(t, len(r.body), 4096)
	r = h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_echo/invoke", key: key, body: map[string]any{"input": map[string]any{"text": "ok"}}})
	assert.Equal(t, http.StatusOK, r.status, "%s", r.body)
}
