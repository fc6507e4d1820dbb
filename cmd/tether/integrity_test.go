package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// --default-tool-policy: auto by default, from the environment, a flag
// over it, and nothing but auto or approve.
func TestDefaultToolPolicyFlag(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "auto", cfg.DefaultToolPolicy)
	t.Setenv("TETHER_DEFAULT_TOOL_POLICY", "approve")
	cfg, err = parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "approve", cfg.DefaultToolPolicy)
	cfg, err = parseServeFlags([]string{"--default-tool-policy", "auto"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "auto", cfg.DefaultToolPolicy)
	_, err = parseServeFlags([]string{"--default-tool-policy", "trust"}, io.Discard)
	assert.ErrorContains(t, err, "auto or approve")
}

// Under an approve default, a new server's tools wait: the fleet-wide
// gauge counts them, and approving one takes it off the count.
func TestToolsAwaitingApprovalMetric(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback, func(c *Config) { c.DefaultToolPolicy = "approve" })
	key := h.newKey("acme")
	id := ferniServer(t, h, key, "calc", up.URL(), nil)
	require.Equal(t, true, ferniTest(t, h, key, id)["connected"])
	gauge := func() string {
		r := h.do(req{method: http.MethodGet, path: "/metrics"})
		require.Equal(t, http.StatusOK, r.status)
		for _, line := range strings.Split(string(r.body), "\n") {
			if strings.HasPrefix(line, "tether_tools_awaiting_approval ") {
				return strings.TrimPrefix(line, "tether_tools_awaiting_approval ")
			}
		}
		t.Fatal("no tether_tools_awaiting_approval in /metrics")
		return ""
	}
	assert.Equal(t, "5", gauge(), "add, echo, fail, sleep, profile")

	conn := h.do(req{method: http.MethodGet, path: featherBase + "/" + id, key: key}).json(t)
	assert.Equal(t, "approve", conn["tool_policy"])
	tool := conn["tools"].([]any)[0].(map[string]any)
	r := h.do(req{method: http.MethodPost, key: key, path: featherBase + "/" + id + "/tools/" + tool["id"].(string) + "/approve",
		body: map[string]any{"definition_hash": tool["definition_hash"]}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "4", gauge())
}
