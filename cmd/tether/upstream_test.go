package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-dev/tether/internal/mcptest"
)

// upstreamTools is how many tools newUpstream serves.
const upstreamTools = 5

// newUpstream is a customer's MCP server, test-upstream 1.2.3, serving
// add, echo, fail, sleep and profile over streamable HTTP (or legacy SSE
// with sse true).
func newUpstream(t *testing.T, sse bool) *mcptest.Upstream {
	t.Helper()
	return mcptest.New(t, mcptest.Options{Version: "1.2.3", SSE: sse,
		Tools: []mcptest.Tool{mcptest.Add, mcptest.Echo, mcptest.Fail, mcptest.Sleep, mcptest.Profile}})
}

func allowLoopback(c *Config) { c.AllowCIDRs = "127.0.0.0/8" }

// httptestServer serves h on loopback for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}
