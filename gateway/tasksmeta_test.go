package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// tasks/* and a tasks-declaring tools/call are served in front of the SDK
// (tasks.go), and get the revision's request checks all the same: a
// version tether does not speak is 400 UnsupportedProtocolVersion, a
// missing or mismatched _meta version 400 (-32602, HeaderMismatch),
// capabilities that are not an object 400 -32602, and a tasks request
// without the extension declared 400 MissingRequiredClientCapability (the
// revision answers each with 400). None reaches the upstream.
func TestTasksRequestsGetTheRevisionsChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tk := newTasker(t)
	e.connect("acme", connOptions{name: "tasker", transport: registry.TransportStreamableHTTP, endpoint: tk.url})
	declared := `{"extensions":{"` + registry.TasksExtension + `":{}}}`
	meta := func(version, caps string) string {
		m := `"_meta":{"io.modelcontextprotocol/clientCapabilities":` + caps
		if version != "" {
			m += `,"io.modelcontextprotocol/protocolVersion":"` + version + `"`
		}
		return m + `}`
	}
	get := func(meta string) string {
		return `{"jsonrpc":"2.0","id":4,"method":"tasks/get","params":{"taskId":"task-1",` + meta + `}}`
	}
	call := func(meta string) string {
		return `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"tasker_build","arguments":{},` + meta + `}}`
	}
	getHdr := func(version string) http.Header {
		return http.Header{"Mcp-Protocol-Version": {version}, "Mcp-Method": {"tasks/get"}, "Mcp-Name": {"task-1"}}
	}
	callHdr := func(version string) http.Header {
		return http.Header{"Mcp-Protocol-Version": {version}, "Mcp-Method": {"tools/call"}, "Mcp-Name": {"tasker_build"}}
	}
	tests := []struct {
		name string
		hdr  http.Header
		body string
		code int
	}{
		{"get: unknown version", getHdr("2099-01-01"), get(meta("2099-01-01", declared)), mcp.CodeUnsupportedProtocolVersion},
		{"get: odd version", getHdr("9"), get(meta("9", declared)), mcp.CodeUnsupportedProtocolVersion},
		{"get: no _meta version", getHdr(newVersion), get(meta("", declared)), jsonrpc.CodeInvalidParams},
		{"get: _meta version differs", getHdr(newVersion), get(meta(legacyVersion, declared)), mcp.CodeHeaderMismatch},
		{"get: capabilities a string", getHdr(newVersion), get(meta(newVersion, `"tasks"`)), jsonrpc.CodeInvalidParams},
		{"get: not declared", getHdr(newVersion), get(meta(newVersion, `{}`)), -32021},
		{"call: unknown version", callHdr("2099-01-01"), call(meta("2099-01-01", declared)), mcp.CodeUnsupportedProtocolVersion},
		{"call: no _meta version", callHdr(newVersion), call(meta("", declared)), jsonrpc.CodeInvalidParams},
		{"call: _meta version differs", callHdr(newVersion), call(meta(legacyVersion, declared)), mcp.CodeHeaderMismatch},
	}
	for _, tt := range tests {
		status, msg := e.raw2026(t, tt.hdr, tt.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", tt.name, msg)
		assert.Equal(t, tt.code, rpcError(msg), "%s: %v", tt.name, msg)
		assert.Nil(t, msg["result"], tt.name)
		if tt.code == mcp.CodeUnsupportedProtocolVersion {
			e, _ := msg["error"].(map[string]any)
			b, _ := json.Marshal(e["data"])
			assert.Contains(t, string(b), `"supported":["`+newVersion, tt.name)
		}
	}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	require.Empty(t, tk.names, "no refused request reached the upstream")
}
