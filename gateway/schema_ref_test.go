package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
)

// Tool schemas are JSON Schema 2020-12 with local $ref only: a remote
// $ref in a tenant's tool schema is passed on as written and never
// fetched (it would make tether a request forger), while a local one
// works as usual.
func TestRemoteSchemaRefIsNeverFetched(t *testing.T) {
	t.Parallel()
	var fetched atomic.Int64
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write([]byte(`{"type":"string"}`))
	}))
	defer remote.Close()

	schema := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"type":    "object",
		"$defs":   map[string]any{"name": map[string]any{"type": "string", "maxLength": 10}},
		"properties": map[string]any{
			"who":   map[string]any{"$ref": "#/$defs/name"},
			"where": map[string]any{"$ref": remote.URL + "/evil.json"},
		},
		"required": []any{"who"},
	}
	refs := func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "greet", Description: "Greets", InputSchema: schema},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hi " + string(req.Params.Arguments)}}}, nil
			})
	}
	up := mcptest.New(t, mcptest.Options{Name: "refs", Tools: []mcptest.Tool{refs}})
	e := newEnv(t, envOptions{})
	e.connect("acme", connOptions{name: "refs", transport: up.Transport(), endpoint: up.URL()})

	for _, version := range []string{legacyVersion, newVersion} {
		cs := e.agent(agentOptions{tenant: "acme", version: version})
		tools := listTools(t, cs)
		require.Len(t, tools, 1)
		props := tools[0].InputSchema.(map[string]any)["properties"].(map[string]any)
		assert.Equal(t, map[string]any{"$ref": remote.URL + "/evil.json"}, props["where"], "passed on as written")
		assert.Equal(t, map[string]any{"$ref": "#/$defs/name"}, props["who"])

		res := callTool(t, cs, "refs_greet", map[string]any{"who": "ada", "where": "here"})
		require.False(t, res.IsError, text(res))
		assert.Contains(t, text(res), `"who":"ada"`)
	}
	assert.Zero(t, fetched.Load(), "a remote $ref is never fetched")
}
