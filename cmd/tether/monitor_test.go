package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAutoConnectProbesAfterCreate: an autoConnect server is probed in the
// background right after the create; its tools appear without a test call.
func TestAutoConnectProbesAfterCreate(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	r := ferniCreate(h, key, map[string]any{"name": "calc", "description": "d", "transport": "http", "endpoint": up.URL()})
	require.Equal(t, http.StatusCreated, r.status)
	id := r.json(t)["data"].(map[string]any)["id"].(string)
	require.Eventually(t, func() bool {
		d := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)
		return d["toolCount"] == float64(upstreamTools) && d["lastConnected"] != nil
	}, 15*time.Second, 20*time.Millisecond)
}

// TestHealthMonitor: the monitor re-probes on its interval, marking a
// server that went away as error and one that came back as active; at
// start-up it probes autoConnect servers.
func TestHealthMonitor(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback, func(c *Config) { c.HealthInterval = 150 * time.Millisecond })
	key := h.newKey("acme")
	id := ferniServer(t, h, key, "calc", up.URL(), nil)
	require.Equal(t, true, ferniTest(t, h, key, id)["connected"])

	status := func() string {
		return h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)["status"].(string)
	}
	up.HTTP.Config.SetKeepAlivesEnabled(false)
	up.HTTP.CloseClientConnections()
	up.HTTP.Listener.Close() // the server goes away
	require.Eventually(t, func() bool { return status() == "error" }, 15*time.Second, 20*time.Millisecond)
	lastError := h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)["lastError"]
	assert.NotEmpty(t, lastError)

	// The server is back (at a new address, registered without autoConnect,
	// so the edit itself probes nothing): the monitor brings it back.
	up2 := newUpstream(t, false)
	r := h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{"endpoint": up2.URL()}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Eventually(t, func() bool { return status() == "active" }, 15*time.Second, 20*time.Millisecond)
}

// TestStartupProbesAutoConnect: at start-up tether probes the autoConnect
// servers (and only those), even with the periodic monitor off.
func TestStartupProbesAutoConnect(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback, func(c *Config) { c.HealthInterval = 0 })
	key := h.newKey("acme")
	auto := ferniServer(t, h, key, "auto", up.URL(), map[string]any{"autoConnect": true})
	manual := ferniServer(t, h, key, "manual", up.URL(), nil)
	require.Equal(t, true, ferniTest(t, h, key, auto)["connected"])
	require.Equal(t, true, ferniTest(t, h, key, manual)["connected"])
	last := func(h *harness, id string) string {
		return h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).json(t)["data"].(map[string]any)["lastConnected"].(string)
	}
	autoBefore, manualBefore := last(h, auto), last(h, manual)
	require.NoError(t, h.stop())

	time.Sleep(5 * time.Millisecond) // timestamps have millisecond precision
	h2 := startOn(t, h.m.Config)
	require.Eventually(t, func() bool { return last(h2, auto) != autoBefore }, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, manualBefore, last(h2, manual))
}
