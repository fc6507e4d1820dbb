package main

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// /mcp refuses an initialize from a foreign browser origin with 403 (MCP
// 2025-11-25 transports: DNS-rebinding protection), serves the public
// URL's origin and --allowed-origins with CORS headers, and serves agents
// that send no Origin.
func TestMCPOriginValidation(t *testing.T) {
	h := startTether(t, func(c *Config) { c.AllowedOrigins = "https://platform.example.com" })
	key := h.newKey("acme")
	initialize := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"browser","version":"1"}}}`)
	post := func(origin string) (*http.Response, []byte) {
		r, err := http.NewRequest(http.MethodPost, h.base+"/mcp", bytes.NewReader(initialize))
		require.NoError(t, err)
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		resp, err := h.httpClient().Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	resp, body := post("http://evil.example.com")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", body)
	assert.NotContains(t, string(body), `"result"`)

	for _, origin := range []string{h.base, "https://platform.example.com", ""} {
		resp, body = post(origin)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "origin %q: %s", origin, body)
		assert.Contains(t, string(body), `"serverInfo"`, origin)
		if origin != "" {
			assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}
