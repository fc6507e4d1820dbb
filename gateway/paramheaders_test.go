package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// A 2026-07-28 tool that marks arguments with x-mcp-header gets them as
// Mcp-Param-* headers too (SEP-2243), computed from the arguments tether
// sends (pins and defaults applied): go-sdk's server refuses a call whose
// headers are missing or disagree with its body.
func TestParamHeadersFromTheArgumentsSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	srv := mcp.NewServer(&mcp.Implementation{Name: "geo", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{
		Name: "locate",
		InputSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"region": map[string]any{"type": "string", "x-mcp-header": "Region"},
				"tier":   map[string]any{"type": "integer", "x-mcp-header": "Tier"},
				"label":  map[string]any{"type": "string", "x-mcp-header": "Label"},
				"query":  map[string]any{"type": "string"},
			},
			"required": []any{"query"},
		},
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		h := req.Extra.Header
		return &mcp.CallToolResult{StructuredContent: map[string]any{
			"region": h.Get("Mcp-Param-Region"), "tier": h.Get("Mcp-Param-Tier"), "label": h.Get("Mcp-Param-Label"),
		}, Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil
	})
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	t.Cleanup(func() {
		up.CloseClientConnections() // tether's listen stream stays open until then
		up.Close()
	})
	c := e.connect("acme", connOptions{name: "geo", transport: registry.TransportHTTP, endpoint: up.URL})
	require.Equal(t, newVersion, c.ProtocolVersion, "the upstream speaks 2026-07-28")

	_, _, err := e.svc.UpdateTool(context.Background(), "acme", c.ID, e.toolID("acme", c.ID, "locate"), registry.ToolPatch{
		InputDefaults: registry.Optional[map[string]registry.InputArg]{Set: true, Value: map[string]registry.InputArg{
			"region": {Value: "eu-west", Pinned: true},
			"tier":   {Value: float64(2)},
		}},
	})
	require.NoError(t, err)

	cs := e.agent(agentOptions{tenant: "acme"})
	res := callTool(t, cs, "geo_locate", map[string]any{"query": "q", "label": "café ", "region": "us-east"})
	require.False(t, res.IsError, text(res))
	assert.Equal(t, map[string]any{"region": "eu-west", "tier": "2", "label": "=?base64?Y2Fmw6kg?="}, structured(t, res),
		"the pin wins over the caller, the default fills in, a non-ASCII value is base64-wrapped")

	// On tether's own /mcp the tool keeps its marks, and a 2026-07-28 call
	// whose Mcp-Param-* headers disagree with its body is refused, as
	// go-sdk refuses it: such calls take the SDK's path.
	agent := e.agent(agentOptions{tenant: "acme", version: newVersion})
	require.Contains(t, toolNames(t, agent), "geo_locate")
	before := e.gw.Stats().FastRequests
	hdr := map[string]string{
		"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": newVersion,
		"Mcp-Method": "tools/call", "Mcp-Name": "geo_locate", "Mcp-Param-Label": "other",
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"geo_locate","arguments":{"query":"q","label":"mine"},` +
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"` + newVersion + `","io.modelcontextprotocol/clientCapabilities":{}}}}`
	status, answer := e.rawPost(t, hdr, body)
	assert.Equal(t, http.StatusBadRequest, status, answer)
	assert.Contains(t, answer, "Mcp-Param-Label")
	// Given twice, once as the body has it: refused all the same (an
	// intermediary may route by the other value).
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(tenantHeader, "acme")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header["Mcp-Param-Label"] = []string{"mine", "other"}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	hdr["Mcp-Param-Label"] = "mine"
	status, answer = e.rawPost(t, hdr, body)
	assert.Equal(t, http.StatusOK, status, answer)
	assert.Contains(t, answer, `"label":"mine"`)
	assert.Equal(t, before, e.gw.Stats().FastRequests, "the SDK served both")
}
