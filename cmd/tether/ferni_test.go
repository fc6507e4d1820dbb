package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// TestStdioNeedsAUserAsRoot: as root, stdio without --stdio-user would run
// tenants' commands as root; tether refuses to start rather than do that.
func TestStdioNeedsAUserAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the rule is about running as root; this test process is not root")
	}
	m := &Main{Config: Config{Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "tether.db"), StdioCommands: "node"}}
	err := m.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--stdio-user")
	m.Close()
}
