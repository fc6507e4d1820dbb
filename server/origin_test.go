package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/server"
)

func TestOriginsAllows(t *testing.T) {
	o, err := server.NewOrigins("http://127.0.0.1:8080", "https://App.Example.com")
	require.NoError(t, err)
	for origin, want := range map[string]bool{
		"http://127.0.0.1:8080":        true,
		"http://localhost:8080":        true, // loopback aliases of the same port
		"http://[::1]:8080":            true,
		"http://127.0.0.1:8081":        false,
		"https://127.0.0.1:8080":       false,
		"https://app.example.com":      true,
		"https://app.example.com:443":  true,
		"http://app.example.com":       false,
		"https://evil.example.com":     false,
		"https://app.example.com.evil": false,
		"null":                         false,
		"":                             false,
	} {
		assert.Equal(t, want, o.Allows(origin), origin)
	}
	for _, bad := range []string{"app.example.com", "https://a.example/path", "ftp://a.example", "https://user@a.example"} {
		_, err := server.NewOrigins(bad)
		assert.Error(t, err, bad)
	}
}

// A browser request from a foreign origin is refused with 403 in the
// dialect's shape (a DNS-rebinding page sends its own origin); an allowed
// origin gets CORS headers and preflights; no Origin is served as before.
func TestForeignOriginRefused(t *testing.T) {
	origins, err := server.NewOrigins("https://console.example.com")
	require.NoError(t, err)
	ts := newTestServer(t, withServer(func(o *server.Options) { o.Origins = origins }))
	evil := http.Header{"Origin": {"http://evil.example.com"}}

	r := ts.do(req{method: http.MethodGet, path: featherBase, header: evil})
	require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	assert.Equal(t, "forbidden", r.json(t)["error"])
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))

	r = ts.do(req{method: http.MethodGet, path: ferniBase, header: evil})
	require.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	assert.Equal(t, false, r.json(t)["success"])

	// Refused before authentication: a wrong key learns nothing either.
	r = ts.do(req{method: http.MethodGet, path: featherBase, header: evil, key: "tth_wrong"})
	assert.Equal(t, http.StatusForbidden, r.status)

	good := http.Header{"Origin": {"https://console.example.com"}}
	r = ts.do(req{method: http.MethodGet, path: featherBase, header: good})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "https://console.example.com", r.header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, r.header.Values("Vary"), "Origin")

	r = ts.do(req{method: http.MethodGet, path: featherBase})
	require.Equal(t, http.StatusOK, r.status, "no Origin: not a browser, served")
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
}

func TestCORSPreflight(t *testing.T) {
	origins, err := server.NewOrigins("https://console.example.com")
	require.NoError(t, err)
	ts := newTestServer(t, withServer(func(o *server.Options) { o.Origins = origins }))
	for _, path := range []string{featherBase, "/mcp"} {
		pre, err := http.NewRequest(http.MethodOptions, ts.url+path, nil)
		require.NoError(t, err)
		pre.Header.Set("Origin", "https://console.example.com")
		pre.Header.Set("Access-Control-Request-Method", "POST")
		pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(pre)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNoContent, resp.StatusCode, path)
		assert.Equal(t, "https://console.example.com", resp.Header.Get("Access-Control-Allow-Origin"), path)
		assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization", path)
		assert.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST", path)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"), path)

		pre.Header.Set("Origin", "https://evil.example.com")
		resp, err = http.DefaultClient.Do(pre)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
}

// Origins as browsers spell them: case and default ports do not matter,
// "null" (sandboxed frames, file: pages) and look-alikes are foreign.
func TestOriginsAllowsSpellings(t *testing.T) {
	o, err := server.NewOrigins("https://console.example.com", "http://tools.example.com")
	require.NoError(t, err)
	for origin, want := range map[string]bool{
		"HTTPS://Console.Example.COM":          true,
		"https://console.example.com:443":      true,
		"http://tools.example.com:80":          true,
		"http://tools.example.com:8080":        false,
		"https://tools.example.com":            false,
		"null":                                 false,
		"Null":                                 false,
		"https://console.example.com.":         false,
		"https://console.example.com@evil":     false,
		"https://evil.com#console.example.com": false,
		"file://":                              false,
	} {
		assert.Equal(t, want, o.Allows(origin), origin)
	}
}

// A browser page of an allowed origin preflights the headers it will
// send: those an agent uses on /mcp (the persona header, routing headers,
// x-mcp-header parameters) and on the API are all allowed, so the real
// request follows; a foreign origin's preflight is 403; an allowed
// origin's request is served with Access-Control-Allow-Origin, on /mcp and
// the API alike.
func TestCORSPreflightAllowsTheHeadersAgentsSend(t *testing.T) {
	origins, err := server.NewOrigins("https://console.example.com")
	require.NoError(t, err)
	ts := newTestServer(t, withServer(func(o *server.Options) {
		o.Origins = origins
		o.MCP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	}))
	requested := []string{"authorization", "content-type", "x-api-key", "x-persona-id", "mcp-session-id",
		"mcp-protocol-version", "mcp-method", "mcp-name", "mcp-param-region", "traceparent"}
	for _, path := range []string{featherBase, "/mcp"} {
		pre, err := http.NewRequest(http.MethodOptions, ts.url+path, nil)
		require.NoError(t, err)
		pre.Header.Set("Origin", "https://console.example.com")
		pre.Header.Set("Access-Control-Request-Method", "POST")
		pre.Header.Set("Access-Control-Request-Headers", strings.Join(requested, ","))
		resp, err := http.DefaultClient.Do(pre)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode, path)
		allowed := map[string]bool{}
		for _, h := range strings.Split(resp.Header.Get("Access-Control-Allow-Headers"), ",") {
			allowed[strings.ToLower(strings.TrimSpace(h))] = true
		}
		for _, h := range requested {
			assert.True(t, allowed[h], "%s: %s allowed", path, h)
		}
	}

	r := ts.do(req{method: http.MethodPost, path: "/mcp", raw: []byte(`{}`), header: http.Header{"Origin": {"https://console.example.com"}}})
	assert.Equal(t, http.StatusAccepted, r.status)
	assert.Equal(t, "https://console.example.com", r.header.Get("Access-Control-Allow-Origin"))
	r = ts.do(req{method: http.MethodPost, path: "/mcp", raw: []byte(`{}`), header: http.Header{"Origin": {"null"}}})
	assert.Equal(t, http.StatusForbidden, r.status, "%s", r.body)
	assert.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
	r = ts.do(req{method: http.MethodPost, path: "/mcp", raw: []byte(`{}`)})
	assert.Equal(t, http.StatusAccepted, r.status, "no Origin: an agent, served")
}
