package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/registry"
)

// A tool list as an upstream may send it, hostile parts included: tool
// annotations (passed through), a schema nested hundreds deep, a schema
// with thousands of properties, and $ref cycles. /mcp lists every tool
// in every revision, in the same order each time, with private cache
// hints in the sessionless one, and a call of a tool with a cyclic
// schema reaches the upstream instead of hanging.
func TestHostileToolListServed(t *testing.T) { forEachVersion(t, testHostileToolListServed) }

func testHostileToolListServed(t *testing.T, version string) {
	deep := `{"type":"object"}`
	for range 300 {
		deep = `{"type":"object","properties":{"a":` + deep + `}}`
	}
	var wide strings.Builder
	wide.WriteString(`{"type":"object","properties":{`)
	for i := range 5000 {
		if i > 0 {
			wide.WriteByte(',')
		}
		wide.WriteString(`"p` + strings.Repeat("x", i%7) + `_` + itoa(i) + `":{"type":"string","description":"` + strings.Repeat("d", 40) + `"}`)
	}
	wide.WriteString(`}}`)
	tools := `[` +
		`{"name":"zeta","annotations":{"readOnlyHint":true,"destructiveHint":false,"idempotentHint":true,"openWorldHint":false,"title":"Zeta"},"inputSchema":{"type":"object"}},` +
		`{"name":"deep","inputSchema":` + deep + `},` +
		`{"name":"wide","inputSchema":` + wide.String() + `},` +
		`{"name":"cycle","inputSchema":{"type":"object","properties":{"n":{"$ref":"#"}}}},` +
		`{"name":"mutual","inputSchema":{"type":"object","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"properties":{"x":{"$ref":"#/$defs/a"}}}},` +
		`{"name":"alpha","annotations":{"destructiveHint":true},"inputSchema":{"type":"object"}}` +
		`]`
	up := rawUpstream(t, tools)
	e := newEnv(t, envOptions{})
	e.connect("acme", connOptions{name: "h", transport: registry.TransportHTTP, endpoint: up.URL, timeoutMS: 20000})

	cs := e.agent(agentOptions{tenant: "acme", version: version})
	listed := listTools(t, cs)
	var names []string
	byName := map[string]*mcp.Tool{}
	for _, tool := range listed {
		names = append(names, tool.Name)
		byName[tool.Name] = tool
	}
	assert.Equal(t, []string{"h_alpha", "h_cycle", "h_deep", "h_mutual", "h_wide", "h_zeta"}, names, "every tool, by name")
	for range 3 {
		assert.Equal(t, names, toolNames(t, cs), "the same order each time")
	}
	f := false
	assert.Equal(t, &mcp.ToolAnnotations{ReadOnlyHint: true, DestructiveHint: &f, IdempotentHint: true, OpenWorldHint: &f, Title: "Zeta"},
		byName["h_zeta"].Annotations, "annotations pass through")
	tr := true
	assert.Equal(t, &mcp.ToolAnnotations{DestructiveHint: &tr}, byName["h_alpha"].Annotations)
	assert.Len(t, byName["h_wide"].InputSchema.(map[string]any)["properties"], 5000)

	if version == newVersion {
		res, err := cs.ListTools(context.Background(), nil)
		require.NoError(t, err)
		assert.Equal(t, "private", res.CacheScope)
		assert.Equal(t, int(gateway.ToolsTTL/time.Millisecond), res.TTLMs)
	}

	// The raw upstream answers calls "method not found": the call got
	// there, through a schema that refers to itself.
	res := callTool(t, cs, "h_cycle", map[string]any{"n": map[string]any{"n": map[string]any{}}})
	assert.True(t, res.IsError)
	assert.Contains(t, text(res), "method not found")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// A legacy session id is bound to its tenant (and persona): another
// tenant's key cannot list, call, stream or end it, in either revision
// with sessions, and the owner's session survives the attempts.
func TestLegacySessionOfAnotherTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	for _, version := range []string{olderVersion, legacyVersion} {
		acme := e.agent(agentOptions{tenant: "acme", version: version})
		require.NotEmpty(t, acme.ID())
		as := func(tenant, persona, method, body string) int {
			resp := sessionRequest(t, e.srv.URL, persona, method, tenant, acme.ID(), version, body)
			resp.Body.Close()
			return resp.StatusCode
		}
		call := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":1,"b":2}}}`
		list := `{"jsonrpc":"2.0","id":6,"method":"tools/list"}`
		for _, tt := range []struct{ tenant, persona, method, body string }{
			{"globex", "", http.MethodPost, call},
			{"globex", "", http.MethodPost, list},
			{"globex", "", http.MethodGet, ""},
			{"globex", "", http.MethodDelete, ""},
			{"acme", "?persona=other", http.MethodPost, call}, // another persona's view
			{"acme", "?persona=other", http.MethodDelete, ""},
		} {
			assert.Equal(t, http.StatusNotFound, as(tt.tenant, tt.persona, tt.method, tt.body), "%s %v", version, tt)
		}
		res := callTool(t, acme, "calc_add", map[string]any{"a": 1, "b": 2})
		require.False(t, res.IsError, text(res))
		assert.Equal(t, float64(3), structured(t, res)["sum"], "the owner's session lives on")
	}
}
