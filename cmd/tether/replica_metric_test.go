package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// /metrics names the replica once, in an info series; no other series
// carries the replica label.
func TestMetricsNameTheReplica(t *testing.T) {
	h := startTether(t, func(c *Config) { c.ReplicaID = "replica-a" })
	resp, err := http.Get(h.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `tether_replica_info{replica="replica-a"} 1`)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.Contains(line, `replica="`) {
			assert.True(t, strings.HasPrefix(line, "tether_replica_info"), line)
		}
	}
}
