package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
)

// A request state sealed by one tether opens on another that shares the
// database and the keys (replicas behind a balancer with no affinity): the
// question is asked through A, the answer goes through B.
func TestRequestStateOpensOnAnotherReplica(t *testing.T) {
	up := mcptest.NewAsking(t)
	a := startTether(t, allowLoopback)
	cfgB := a.m.Config
	cfgB.Addr = "127.0.0.1:0"
	b := startOn(t, cfgB)
	key := a.newKey("acme")
	featherConnection(t, a, key, up.URL)

	const path = "/v1/integrations/tools/calc_greet/invoke"
	r := a.do(req{method: http.MethodPost, path: path, key: key, body: map[string]any{"input": map[string]any{}, "accept_input_requests": true}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	state, _ := r.json(t)["request_state"].(string)
	require.NotEmpty(t, state, "%s", r.body)

	r = b.do(req{method: http.MethodPost, path: path, key: key, body: map[string]any{
		"input": map[string]any{}, "request_state": state,
		"input_responses": map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "octocat"}}},
	}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), "hello octocat")

	// Another key of the same tenant may not bring it back.
	other := a.newKey("acme")
	r = b.do(req{method: http.MethodPost, path: path, key: other, body: map[string]any{
		"input": map[string]any{}, "request_state": state,
		"input_responses": map[string]any{"name": map[string]any{"action": "accept", "content": map[string]any{"name": "mallory"}}},
	}})
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "invalid_request_state", r.json(t)["error"])
}
