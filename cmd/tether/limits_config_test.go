package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/bound"
)

// The bounds on what a key or tenant makes tether hold: DESIGN.md's
// defaults, the environment, and a flag that wins over it.
func TestLimitFlags(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 256, cfg.MaxMCPSessionsPerKey)
	assert.Equal(t, 1000, cfg.MaxConnectionsPerTenant)

	t.Setenv("TETHER_MAX_MCP_SESSIONS_PER_KEY", "8")
	t.Setenv("TETHER_MAX_CONNECTIONS_PER_TENANT", "50")
	cfg, err = parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 8, cfg.MaxMCPSessionsPerKey)
	assert.Equal(t, 50, cfg.MaxConnectionsPerTenant)

	cfg, err = parseServeFlags([]string{"--max-mcp-sessions-per-key", "2", "--max-connections-per-tenant", "0"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 2, cfg.MaxMCPSessionsPerKey)
	assert.Equal(t, 0, cfg.MaxConnectionsPerTenant)
	assert.Equal(t, bound.None, bound.FromFlag(cfg.MaxConnectionsPerTenant), "0 is no bound")

	t.Setenv("TETHER_MAX_CONNECTIONS_PER_TENANT", "lots")
	_, err = parseServeFlags(nil, io.Discard)
	assert.ErrorContains(t, err, "TETHER_MAX_CONNECTIONS_PER_TENANT")
}

// TestMCPSessionsCountPerAPIKey: the wiring counts /mcp sessions per API
// key, not per tenant: a key past its cap loses its oldest idle session,
// and another key of the same tenant keeps its own.
func TestMCPSessionsCountPerAPIKey(t *testing.T) {
	h := startTether(t, func(c *Config) { c.MaxMCPSessionsPerKey = 2 })
	key, other := h.newKey("acme"), h.newKey("acme")
	mine := agent(t, h, other, "", nil)
	first := agent(t, h, key, "", nil)
	agent(t, h, key, "?persona=a", nil)
	agent(t, h, key, "?persona=b", nil)
	require.Eventually(t, func() bool {
		_, err := first.ListTools(t.Context(), nil)
		return err != nil
	}, 10*time.Second, 10*time.Millisecond, "the key's oldest session is closed")
	_, err := mine.ListTools(t.Context(), nil)
	assert.NoError(t, err, "the other key's session is its own")
}
