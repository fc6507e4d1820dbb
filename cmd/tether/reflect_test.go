package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reflectingUpstream is a real go-sdk MCP server that puts the credentials
// it is sent into its server info, its tool definitions and its results, as
// a debugging endpoint or a hostile server might.
func reflectingUpstream(t *testing.T) string {
	t.Helper()
	h := mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		echo := r.Header.Get("X-API-Key") + " " + r.Header.Get("Authorization") + " " + r.URL.RawQuery
		s := mcp.NewServer(&mcp.Implementation{Name: "echo " + echo, Title: echo, Version: "1.0.0"},
			&mcp.ServerOptions{Instructions: echo})
		s.AddTool(&mcp.Tool{Name: "lookup_" + r.Header.Get("X-API-Key"), InputSchema: map[string]any{"type": "object"}},
			func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{}, nil
			})
		s.AddTool(&mcp.Tool{
			Name: "whoami", Title: "Who am I " + echo, Description: "You sent " + echo,
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{
				"q": map[string]any{"type": "string", "description": echo},
			}},
		}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			h := req.Extra.Header
			return &mcp.CallToolResult{
				Content:           []mcp.Content{&mcp.TextContent{Text: "you sent " + h.Get("X-API-Key") + " " + h.Get("Authorization")}},
				StructuredContent: map[string]any{"headers": h},
			}, nil
		})
		return s
	}, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// TestReflectedSecretsNotStored: a server that echoes its request headers
// into serverInfo, tool definitions and tool results gets none of the
// connection's secrets into any response, the logs or the database file.
func TestReflectedSecretsNotStored(t *testing.T) {
	const (
		apiKey = "reflected-API-KEY-7731"
		token  = "reflected-TOKEN-7732"
		query  = "sig=reflected-QUERY-7733"
	)
	// The endpoint (query included) is the user's own input and is shown
	// back by design; the query is redacted from what the server says,
	// but only the secrets are checked for here.
	leaks := []string{apiKey, token}
	up := reflectingUpstream(t)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	id := ferniServer(t, h, key, "echoer", up+"?"+query, map[string]any{
		"headers": map[string]any{"X-API-Key": "{{secrets.API_KEY}}", "Authorization": "Bearer {{secrets.TOKEN}}"},
		"secrets": map[string]any{"API_KEY": apiKey, "TOKEN": token},
	})

	res := ferniTest(t, h, key, id)
	require.Equal(t, true, res["connected"], "%v", res)
	assert.Equal(t, "echo *** *** ***", res["serverInfo"].(map[string]any)["name"])

	got := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id + "/tools", key: key})
	require.Equal(t, http.StatusOK, got.status)
	tools := map[string]map[string]any{}
	for _, tl := range got.json(t)["data"].([]any) {
		tools[tl.(map[string]any)["name"].(string)] = tl.(map[string]any)
	}
	require.Len(t, tools, 2, "%s", got.body)
	assert.Contains(t, tools, "lookup_***", "a tool named after a secret is listed under the redacted name")
	assert.Equal(t, "You sent *** *** ***", tools["whoami"]["description"])

	conn := h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key})
	require.Equal(t, http.StatusOK, conn.status)
	assert.Contains(t, string(conn.body), `"server_info"`)
	assert.Contains(t, string(conn.body), "echo *** *** ***")
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).status)
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: key}).status)

	// The agent path: the result the tenant's agent reads is redacted too.
	inv := h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/echoer_whoami/invoke", key: key, body: map[string]any{"input": map[string]any{}}})
	require.Equal(t, http.StatusOK, inv.status, "%s", inv.body)
	assert.Contains(t, string(inv.body), "you sent *** ***")

	h.assertNoLeak(leaks...)
	check := func(when string) {
		for _, suffix := range []string{"", "-wal"} {
			data, err := os.ReadFile(h.dbPath + suffix)
			if os.IsNotExist(err) {
				continue
			}
			require.NoError(t, err)
			for _, s := range leaks {
				assert.False(t, bytes.Contains(data, []byte(s)), "%s: %q in %s", when, s, h.dbPath+suffix)
			}
			if suffix == "" && when == "after close" {
				assert.True(t, bytes.Contains(data, []byte("echo *** *** ***")), "the redacted server info is stored: the check is not vacuous")
			}
		}
	}
	check("while serving")
	require.NoError(t, h.stop())
	check("after close")
	assert.False(t, strings.Contains(h.logs.String(), apiKey))
}
