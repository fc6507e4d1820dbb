package server_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

// The REST invoke API's input-required round trip (DESIGN.md, "Wave 2
// contracts") against a real 2026-07-28 upstream that asks for a name: a
// caller that accepts input requests gets {input_requests, request_state},
// answers with {input, input_responses, request_state}, and gets the
// result; a forged or another tenant's state is 400 invalid_request_state;
// a caller that does not accept them is never asked.
func TestInvokeInputRequired(t *testing.T) {
	up := mcptest.NewAsking(t)
	guard := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	pool := mcpclient.NewPool(mcpclient.PoolOptions{Client: mcpclient.New(mcpclient.Options{Guard: guard})})
	t.Cleanup(pool.Close)
	ts := newTestServer(t, withRegistry(func(o *registry.Options) { o.Prober, o.URLs = pool, guard }))
	id := ts.featherConnect(map[string]any{"nickname": "Asker", "server_url": up.URL, "transport": "streamable_http"})
	ts.waitToolsStatus(id, "synced")
	// The same tool slug in another tenant, whose key must not replay
	// acme's state.
	other := ts.newKey("globex")
	r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", key: other,
		body: map[string]any{"nickname": "Asker", "server_url": up.URL, "transport": "streamable_http"}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

	const path = "/v1/integrations/tools/asker_greet/invoke"
	r = ts.do(req{method: http.MethodPost, path: path, body: map[string]any{"input": map[string]any{}}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), "hello stranger", "a caller that accepts no input is not asked")

	r = ts.do(req{method: http.MethodPost, path: path, body: map[string]any{"input": map[string]any{}, "accept_input_requests": true}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	asked := r.json(t)
	assert.NotContains(t, asked, "result")
	requests, _ := asked["input_requests"].(map[string]any)
	require.Contains(t, requests, "name", "%s", r.body)
	state, _ := asked["request_state"].(string)
	require.NotEmpty(t, state)
	assert.NotContains(t, string(r.body), mcptest.AskingState)

	answers := map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "octocat"}}}
	for _, tt := range []struct {
		name, key, state string
	}{
		{"forged", "", "tsl1.bm90LXNlYWxlZA"},
		{"another tenant", other, state},
	} {
		r = ts.do(req{method: http.MethodPost, path: path, key: tt.key, body: map[string]any{
			"input": map[string]any{}, "input_responses": answers, "request_state": tt.state,
		}})
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", tt.name, r.body)
		assert.Equal(t, "invalid_request_state", r.json(t)["error"], tt.name)
	}

	r = ts.do(req{method: http.MethodPost, path: path, body: map[string]any{
		"input": map[string]any{}, "input_responses": answers, "request_state": state,
	}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), "hello octocat")
	assert.Contains(t, r.json(t), "result")
}
