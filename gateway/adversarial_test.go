package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raw2026 posts body to /mcp as acme with a 2026-07-28 request's headers,
// overridden by hdr (several values per name allowed), and returns the
// status and the decoded answer (nil for an empty or non-JSON body).
func (e *env) raw2026(t *testing.T, hdr http.Header, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(tenantHeader, "acme")
	req.Header.Set("Mcp-Protocol-Version", newVersion)
	for k, v := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var msg map[string]any
	_ = json.Unmarshal(b, &msg)
	return resp.StatusCode, msg
}

// meta2026 is the _meta every 2026-07-28 request carries.
const meta2026 = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

// callBody is a 2026-07-28 tools/call of calc_add or calc_echo.
func callBody(name string) string {
	args := `{"a":20,"b":22}`
	if name == "calc_echo" {
		args = `{"text":"hi"}`
	}
	return `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"` + name + `","arguments":` + args + `,` + meta2026 + `}}`
}

// SEP-2243: a server MUST decode an Mcp-Name sent in the base64 sentinel
// form before comparing it with the body, and refuses with 400 and
// HeaderMismatch (-32020) what does not match. A routing header given
// twice is refused too: an intermediary reading the other value would
// route by a name or method the body does not have. Each case runs before
// the view exists (the SDK's path) and after (the fast path).
func TestRoutingHeadersAsTheSpecReadsThem(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	b64 := func(s string) string { return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }

	tests := []struct {
		name string
		hdr  http.Header
		body string
		ok   bool
	}{
		{name: "plain", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add"}}, body: callBody("calc_add"), ok: true},
		{name: "base64 name", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {b64("calc_add")}}, body: callBody("calc_add"), ok: true},
		{name: "base64 of another name", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {b64("calc_echo")}}, body: callBody("calc_add")},
		{name: "broken base64", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?base64?!!!?="}}, body: callBody("calc_add")},
		{name: "sentinel upper case", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"=?BASE64?Y2FsY19hZGQ=?="}}, body: callBody("calc_add")},
		{name: "name twice", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add", "calc_echo"}}, body: callBody("calc_add")},
		{name: "name twice, same", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add", "calc_add"}}, body: callBody("calc_add")},
		{name: "method twice", hdr: http.Header{"Mcp-Method": {"tools/call", "tools/list"}, "Mcp-Name": {"calc_add"}}, body: callBody("calc_add")},
		{name: "version twice", hdr: http.Header{"Mcp-Protocol-Version": {legacyVersion, newVersion}, "Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add"}}, body: callBody("calc_add")},
		{name: "method in another case", hdr: http.Header{"Mcp-Method": {"Tools/Call"}, "Mcp-Name": {"calc_add"}}, body: callBody("calc_add")},
		{name: "name missing", hdr: http.Header{"Mcp-Method": {"tools/call"}}, body: callBody("calc_add")},
		{name: "method missing", hdr: http.Header{"Mcp-Name": {"calc_add"}}, body: callBody("calc_add")},
		{name: "header names in lower case", hdr: http.Header{"mcp-method": {"tools/call"}, "mcp-name": {"calc_add"}}, body: callBody("calc_add"), ok: true},
	}
	for round := range 2 {
		for _, tt := range tests {
			status, msg := e.raw2026(t, tt.hdr, tt.body)
			what := fmt.Sprintf("round %d, %s: %v", round, tt.name, msg)
			if tt.ok {
				require.Equal(t, http.StatusOK, status, what)
				res, _ := msg["result"].(map[string]any)
				assert.Equal(t, map[string]any{"sum": float64(42)}, res["structuredContent"], what)
				continue
			}
			assert.Equal(t, http.StatusBadRequest, status, what)
			assert.Equal(t, mcp.CodeHeaderMismatch, rpcError(msg), what)
			assert.Nil(t, msg["result"], "the call did not run: "+what)
		}
		// The view exists from here on: the fast path serves what it can.
		cs := e.agent(agentOptions{tenant: "acme", version: newVersion})
		require.Contains(t, toolNames(t, cs), "calc_add")
	}
}

// The sessionless revision's refusals, with the spec's HTTP status:
// malformed _meta is 400 with -32602, an unknown version 400 with
// -32022 listing what is supported, a method tether does not serve 404
// with -32601 (ping and logging/setLevel are gone from the revision), a
// batch 400; server/discover declares tools (listChanged) and the tasks
// extension only.
func TestStatelessRefusalsAsTheSpecSays(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	list := func(meta string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":` + meta + `}}`
	}
	method := func(m, params string) (http.Header, string) {
		return http.Header{"Mcp-Method": {m}}, `{"jsonrpc":"2.0","id":1,"method":"` + m + `","params":{` + params + meta2026 + `}}`
	}
	type refusal struct {
		name   string
		hdr    http.Header
		body   string
		status int
		code   int
	}
	tests := []refusal{
		{name: "no protocol version in _meta", hdr: http.Header{"Mcp-Method": {"tools/list"}},
			body: list(`{"io.modelcontextprotocol/clientCapabilities":{}}`), status: 400, code: jsonrpc.CodeInvalidParams},
		{name: "no _meta", hdr: http.Header{"Mcp-Method": {"tools/list"}},
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, status: 400, code: jsonrpc.CodeInvalidParams},
		{name: "capabilities a string", hdr: http.Header{"Mcp-Method": {"tools/list"}},
			body: list(`{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":"all"}`), status: 400, code: jsonrpc.CodeInvalidParams},
		{name: "capabilities an array, on a call", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add"}},
			body:   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calc_add","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":[]}}}`,
			status: 400, code: jsonrpc.CodeInvalidParams},
		{name: "no capabilities", hdr: http.Header{"Mcp-Method": {"tools/list"}},
			body: list(`{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`), status: 400, code: jsonrpc.CodeInvalidParams},
		{name: "clientInfo a number", hdr: http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add"}},
			body:   `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calc_add","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":7}}}`,
			status: 400, code: jsonrpc.CodeInvalidParams},
		{name: "header and _meta disagree", hdr: http.Header{"Mcp-Method": {"tools/list"}},
			body: list(`{"io.modelcontextprotocol/protocolVersion":"2025-11-25","io.modelcontextprotocol/clientCapabilities":{}}`), status: 400, code: mcp.CodeHeaderMismatch},
		{name: "unknown version", hdr: http.Header{"Mcp-Protocol-Version": {"2099-01-01"}, "Mcp-Method": {"tools/list"}},
			body: list(`{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}`), status: 400, code: mcp.CodeUnsupportedProtocolVersion},
		{name: "odd version", hdr: http.Header{"Mcp-Protocol-Version": {"9"}, "Mcp-Method": {"tools/list"}},
			body: list(`{"io.modelcontextprotocol/protocolVersion":"9","io.modelcontextprotocol/clientCapabilities":{}}`), status: 400, code: mcp.CodeUnsupportedProtocolVersion},
	}
	for _, m := range []string{"resources/list", "resources/templates/list", "prompts/list", "logging/setLevel", "ping", "made/up"} {
		hdr, body := method(m, "")
		tests = append(tests, refusal{name: m, hdr: hdr, body: body, status: 404, code: jsonrpc.CodeMethodNotFound})
	}
	hdr, body := method("completion/complete", `"ref":{"type":"ref/prompt","name":"x"},"argument":{"name":"a","value":""},`)
	tests = append(tests, refusal{name: "completion/complete", hdr: hdr, body: body, status: 404, code: jsonrpc.CodeMethodNotFound})
	hdr, body = method("resources/read", `"uri":"file:///etc/passwd",`)
	hdr.Set("Mcp-Name", "file:///etc/passwd")
	tests = append(tests, refusal{name: "resources/read", hdr: hdr, body: body, status: 404, code: jsonrpc.CodeMethodNotFound})

	for _, tt := range tests {
		status, msg := e.raw2026(t, tt.hdr, tt.body)
		assert.Equal(t, tt.status, status, "%s: %v", tt.name, msg)
		assert.Equal(t, tt.code, rpcError(msg), "%s: %v", tt.name, msg)
		assert.Nil(t, msg["result"], tt.name)
	}

	status, msg := e.raw2026(t, http.Header{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"calc_add"}}, "["+callBody("calc_add")+"]")
	assert.Equal(t, http.StatusBadRequest, status, "no batches in the revision: %v", msg)

	// A notification is accepted (the revision defines no header rules
	// for one); an oversized body is 413, its _meta never decoded.
	status, msg = e.raw2026(t, http.Header{"Mcp-Method": {"notifications/initialized"}},
		`{"jsonrpc":"2.0","method":"notifications/initialized","params":{`+meta2026+`}}`)
	assert.Equal(t, http.StatusAccepted, status, "%v", msg)
	status, _ = e.raw2026(t, http.Header{"Mcp-Method": {"tools/list"}},
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",`+
			`"io.modelcontextprotocol/clientCapabilities":{},"x":"`+strings.Repeat("a", 5<<20)+`"}}}`)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)

	hdr, body = method("server/discover", "")
	status, msg = e.raw2026(t, hdr, body)
	require.Equal(t, http.StatusOK, status, "%v", msg)
	res := msg["result"].(map[string]any)
	assert.Equal(t, map[string]any{
		"tools":      map[string]any{"listChanged": true},
		"extensions": map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}},
	}, res["capabilities"])
	assert.Contains(t, res["supportedVersions"], newVersion)
}

// A 2026-07-28 request has no session: an Mcp-Session-Id it carries (a
// stale one, another tenant's, made up) is ignored and not echoed, as the
// revision asks, instead of a 404 "session not found" that a dual-era
// client would read as a legacy HTTP+SSE server and fall back on.
func TestStatelessRequestIgnoresSessionID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	globex := e.agent(agentOptions{tenant: "globex"})
	require.NotEmpty(t, globex.ID())
	for round := range 2 {
		for _, sid := range []string{"made-up", globex.ID()} {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", bytes.NewBufferString(callBody("calc_add")))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set(tenantHeader, "acme")
			req.Header.Set("Mcp-Protocol-Version", newVersion)
			req.Header.Set("Mcp-Method", "tools/call")
			req.Header.Set("Mcp-Name", "calc_add")
			req.Header.Set("Mcp-Session-Id", sid)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var msg map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&msg))
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "round %d, %s: %v", round, sid, msg)
			res, _ := msg["result"].(map[string]any)
			assert.Equal(t, map[string]any{"sum": float64(42)}, res["structuredContent"])
			assert.Empty(t, resp.Header.Get("Mcp-Session-Id"), "no session id echoed")
		}
		cs := e.agent(agentOptions{tenant: "acme", version: newVersion})
		require.Contains(t, toolNames(t, cs), "calc_add") // the view exists: the fast path
	}
	res := callTool(t, globex, "calc_add", map[string]any{"a": 1, "b": 1})
	assert.True(t, res.IsError, "globex has no such tool, and its session lives on")
}
