package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
)

const ferniBase = "/api/v2/developers/mcp-servers"

func ferniCreate(h *harness, key string, body map[string]any) response {
	return h.do(req{method: http.MethodPost, path: ferniBase, key: key, body: body})
}

func validFerni(name string) map[string]any {
	return map[string]any{
		"name": name, "description": "CRM integration", "transport": "http",
		"endpoint": "https://mcp.example.com/mcp", "autoConnect": false,
	}
}

func TestFerniStdio(t *testing.T) {
	h := startTether(t, func(c *Config) { c.StdioCommands = "node,/usr/bin/python3" })
	key := h.newKey("acme")
	r := ferniCreate(h, key, map[string]any{"name": "local", "description": "d", "transport": "stdio", "command": "node", "args": []any{"./server.js", "--flag"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	d := r.json(t)["data"].(map[string]any)
	assert.Equal(t, "node", d["command"])
	assert.Equal(t, []any{"./server.js", "--flag"}, d["args"])
	assert.Nil(t, d["endpoint"])

	r = ferniCreate(h, key, map[string]any{"name": "bash", "description": "d", "transport": "stdio", "command": "bash"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "VALIDATION_ERROR", r.json(t)["error"].(map[string]any)["code"])
}

// TestFerniStdioFixedArgs: with --stdio-args fixed, tenants choose among
// the operator's argument lists and cannot pass code.
func TestFerniStdioFixedArgs(t *testing.T) {
	h := startTether(t, func(c *Config) {
		c.StdioCommands = "node=/opt/mcp/crm.js,node=/opt/mcp/tickets.js --verbose"
		c.StdioArgs = "fixed"
	})
	key := h.newKey("acme")
	stdio := func(name string, args ...any) response {
		return ferniCreate(h, key, map[string]any{"name": name, "description": "d", "transport": "stdio", "command": "node", "args": args})
	}
	assert.Equal(t, http.StatusCreated, stdio("crm", "/opt/mcp/crm.js").status)
	assert.Equal(t, http.StatusCreated, stdio("tickets", "/opt/mcp/tickets.js", "--verbose").status)
	for _, args := range [][]any{{"-e", "process.exit(0)"}, {"/opt/mcp/crm.js", "--inspect"}, {}} {
		r := stdio("code", args...)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", args, r.body)
		e := r.json(t)["error"].(map[string]any)
		assert.Equal(t, "VALIDATION_ERROR", e["code"])
		assert.Contains(t, e["message"], "--stdio-args fixed")
	}
}

// TestStdioNeedsASandboxUser: without --stdio-user, stdio would run
// tenants' commands as tether's own user (root, in CI). tether starts and
// stdio connections can be registered, but none is ever started: the test
// answers with the reason.
func TestStdioNeedsASandboxUser(t *testing.T) {
	marker := filepath.Join(sandboxtest.ReadableDir(t), "ran")
	h := startTether(t, func(c *Config) { c.StdioCommands = "/usr/bin/touch"; c.StdioUser = "" })
	key := h.newKey("acme")
	id := ferniServer(t, h, key, "touch", "", map[string]any{"transport": "stdio", "command": "/usr/bin/touch", "args": []any{marker}})
	res := ferniTest(t, h, key, id)
	assert.Equal(t, false, res["connected"])
	assert.Contains(t, res["error"], "--stdio-user")
	_, err := os.Stat(marker)
	assert.True(t, os.IsNotExist(err), "the command must not have run")
	assert.Contains(t, h.logs.String(), "stdio servers will not start")
}
