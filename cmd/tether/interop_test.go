package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
)

// The interop tests run tether against the official TypeScript reference
// server, @modelcontextprotocol/server-everything, installed from npm into
// interop/node_modules (make test and .ci/run run `npm ci` there).

func everythingScript(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs("../../interop/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.NoError(t, err, "the reference server is missing: run `npm ci` in interop/ (make test does)")
	return path
}

// startEverything runs the reference server over an HTTP transport on a
// free loopback port and returns its base URL.
func startEverything(t *testing.T, mode string) string {
	t.Helper()
	script := everythingScript(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("node", script, mode)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "reference server did not listen on %s", addr)
	return "http://" + addr
}

// directTools lists the server's tools with go-sdk directly: the truth
// tether's view is compared with.
func directTools(t *testing.T, transport mcp.Transport) (map[string]*mcp.Tool, *mcp.ClientSession) {
	t.Helper()
	// Legacy SSE keeps the Connect context on its event stream: it must live
	// as long as the session.
	ctx := t.Context()
	// The same capabilities tether declares: none (go-sdk's default is roots).
	client := mcp.NewClient(&mcp.Implementation{Name: "interop-check", Version: "1"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}})
	session, err := client.Connect(ctx, transport, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = session.Close() })
	out := map[string]*mcp.Tool{}
	for tool, err := range session.Tools(ctx, nil) {
		require.NoError(t, err)
		out[tool.Name] = tool
	}
	return out, session
}

func TestInteropEverything(t *testing.T) {
	script := everythingScript(t)
	cases := []struct {
		name      string
		transport string
		endpoint  func(t *testing.T) string
		direct    func(endpoint string) mcp.Transport
		connected string
	}{
		{
			name: "streamable http", transport: "streamable_http",
			endpoint:  func(t *testing.T) string { return startEverything(t, "streamableHttp") + "/mcp" },
			direct:    func(e string) mcp.Transport { return &mcp.StreamableClientTransport{Endpoint: e} },
			connected: "streamable_http",
		},
		{
			name: "http falls back to sse", transport: "http",
			endpoint:  func(t *testing.T) string { return startEverything(t, "sse") + "/sse" },
			direct:    func(e string) mcp.Transport { return &mcp.SSEClientTransport{Endpoint: e} },
			connected: "sse",
		},
		{
			name: "sse", transport: "sse",
			endpoint:  func(t *testing.T) string { return startEverything(t, "sse") + "/sse" },
			direct:    func(e string) mcp.Transport { return &mcp.SSEClientTransport{Endpoint: e} },
			connected: "sse",
		},
		{
			name: "stdio", transport: "stdio",
			endpoint: func(t *testing.T) string { return "" },
			direct: func(string) mcp.Transport {
				return &mcp.CommandTransport{Command: exec.Command("node", script, "stdio")}
			},
			connected: "stdio",
		},
	}
	h := startTether(t, allowLoopback, func(c *Config) { c.StdioCommands = "node" })
	key := h.newKey("acme")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			endpoint := tc.endpoint(t)
			body := map[string]any{"name": fmt.Sprintf("everything-%d", i), "description": "reference server", "transport": tc.transport, "autoConnect": false, "timeout": 20000}
			if tc.transport == "stdio" {
				// The sandbox user must be able to read the server's files.
				modules := sandboxtest.ReadableTree(t, filepath.Join(filepath.Dir(script), "../../.."))
				sandboxed := filepath.Join(modules, "@modelcontextprotocol/server-everything/dist/index.js")
				body["command"], body["args"] = "node", []any{sandboxed, "stdio"}
			} else {
				body["endpoint"] = endpoint
			}
			r := ferniCreate(h, key, body)
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			id := r.json(t)["data"].(map[string]any)["id"].(string)

			res := ferniTest(t, h, key, id)
			require.Equal(t, true, res["connected"], "%v", res["error"])
			assert.Equal(t, tc.connected, res["transport"])

			// The truth comes from a second instance of the same server, so
			// the two clients' sessions cannot interfere.
			want, session := directTools(t, tc.direct(tc.endpoint(t)))
			callCtx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			direct, err := session.CallTool(callCtx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hello tether"}})
			require.NoError(t, err)
			require.NoError(t, session.Close())
			got := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id + "/tools", key: key}).json(t)["data"].([]any)
			var gotNames, wantNames []string
			for _, g := range got {
				tool := g.(map[string]any)
				name := tool["name"].(string)
				gotNames = append(gotNames, name)
				w, ok := want[name]
				if !assert.True(t, ok, "tether lists %q, the server does not", name) {
					continue
				}
				assert.Equal(t, w.Description, tool["description"], name)
				assert.JSONEq(t, mustJSON(t, w.InputSchema), mustJSON(t, tool["inputSchema"]), name)
			}
			for name := range want {
				wantNames = append(wantNames, name)
			}
			sort.Strings(wantNames)
			assert.Equal(t, wantNames, gotNames)

			// A call through tether returns what the server returns directly.
			conn := h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key}).json(t)
			slug := conn["nickname_slug"].(string) + "_echo"
			call := h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/test-mcp-call", key: key,
				body: map[string]any{"slug": slug, "input": map[string]any{"message": "hello tether"}}})
			require.Equal(t, http.StatusOK, call.status, "%s", call.body)
			assert.JSONEq(t, mustJSON(t, direct), mustJSON(t, call.json(t)["result"]))
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
