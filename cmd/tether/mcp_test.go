package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyTransport adds an API key to every request.
type keyTransport struct {
	key    string
	header string
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if k.header != "" {
		r.Header.Set(k.header, k.key)
	} else {
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// Protocol revisions agents speak in these tests: the newest with
// sessions, and the first without.
const (
	legacyProtocol = "2025-11-25"
	newProtocol    = "2026-07-28"
)

// agent connects a go-sdk MCP client speaking legacyProtocol (sessions)
// to tether's /mcp with key.
func agent(t *testing.T, h *harness, key, query string, onChange func()) *mcp.ClientSession {
	t.Helper()
	return agentSpeaking(t, h, legacyProtocol, key, query, onChange)
}

// agentSpeaking is agent speaking the given protocol version.
func agentSpeaking(t *testing.T, h *harness, version, key, query string, onChange func()) *mcp.ClientSession {
	t.Helper()
	opts := &mcp.ClientOptions{}
	if onChange != nil {
		opts.ToolListChangedHandler = func(context.Context, *mcp.ToolListChangedRequest) { onChange() }
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, opts)
	s, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{
		Endpoint:   h.base + "/mcp" + query,
		HTTPClient: &http.Client{Transport: keyTransport{key: key}},
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func toolNames(t *testing.T, s *mcp.ClientSession) []string {
	t.Helper()
	res, err := s.ListTools(t.Context(), nil)
	require.NoError(t, err)
	var out []string
	for _, tl := range res.Tools {
		out = append(out, tl.Name)
	}
	return out
}

// TestMCPEndpoint: agents reach every tenant tool through tether's /mcp,
// authenticated by API key, with tenant isolation and list_changed.
func TestMCPEndpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		up := newUpstream(t, false)
		upSSE := newUpstream(t, true)
		h := startTether(t, on, allowLoopback)
		key := h.newKey("acme")
		calc := featherConnection(t, h, key, up.URL())
		r := featherConnect(h, key, map[string]any{"nickname": "Legacy", "server_url": upSSE.URL(), "transport": "sse"})
		require.Equal(t, http.StatusCreated, r.status)
		waitToolsStatus(t, h, key, r.json(t)["connection_id"].(string), "synced")

		changed := make(chan struct{}, 16)
		s := agent(t, h, key, "", func() { changed <- struct{}{} })
		names := toolNames(t, s)
		assert.Len(t, names, 2*upstreamTools)
		assert.Contains(t, names, "calc_add")
		assert.Contains(t, names, "legacy_echo")

		res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "legacy_add", Arguments: map[string]any{"a": 20, "b": 22}})
		require.NoError(t, err)
		assert.False(t, res.IsError)
		assert.Equal(t, map[string]any{"sum": float64(42)}, res.StructuredContent)

		// Failures are isError results, never protocol errors or hangs.
		res, err = s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_nope", Arguments: map[string]any{}})
		require.NoError(t, err)
		assert.True(t, res.IsError)

		// A toggle reaches connected agents as notifications/tools/list_changed.
		c := h.do(req{method: http.MethodGet, path: featherBase + "/" + calc, key: key}).json(t)
		add := toolBySlug(c, "calc_add")["id"].(string)
		require.Equal(t, http.StatusOK, h.do(req{method: http.MethodPatch, path: featherBase + "/" + calc + "/tools/" + add, key: key, body: map[string]any{"is_enabled": false}}).status)
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatal("no tools/list_changed after a toggle")
		}
		assert.NotContains(t, toolNames(t, s), "calc_add")

		// Tenant isolation; no key is 401.
		other := h.newKey("other")
		assert.Empty(t, toolNames(t, agent(t, h, other, "", nil)))
		resp, err := http.Post(h.base+"/mcp", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

		// Calls through /mcp are recorded.
		require.Eventually(t, func() bool {
			for _, rec := range h.do(req{method: http.MethodGet, path: featherBase + "/" + c["id"].(string) + "/calls", key: key}).list(t) {
				if rec.(map[string]any)["via"] == "mcp" {
					return true
				}
			}
			legacy := r.json(t)["connection_id"].(string)
			for _, rec := range h.do(req{method: http.MethodGet, path: featherBase + "/" + legacy + "/calls", key: key}).list(t) {
				if rec.(map[string]any)["via"] == "mcp" {
					return true
				}
			}
			return false
		}, 5*time.Second, 20*time.Millisecond)
	})
}

// TestMCPToolCallsSpendTheProbeBudget: a tools/call through /mcp costs an
// upstream call, so it spends the probe budget; listing does not.
func TestMCPToolCallsSpendTheProbeBudget(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback, func(c *Config) { c.ProbeRateLimit = "2/m" })
	key := h.newKey("acme")
	featherConnection(t, h, key, up.URL())
	s := agent(t, h, key, "", nil)
	for range 3 {
		assert.NotEmpty(t, toolNames(t, s), "listing is not a probe")
	}
	for range 2 {
		res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 1, "b": 2}})
		require.NoError(t, err)
		assert.False(t, res.IsError)
	}
	_, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 1, "b": 2}})
	require.Error(t, err, "the third call is over the budget")
	assert.Contains(t, err.Error(), "Too Many Requests")
}
