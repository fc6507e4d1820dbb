package main

import (
	"database/sql"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetrics(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	id := ferniServer(t, h, key, "calc", up.URL(), nil)
	require.Equal(t, true, ferniTest(t, h, key, id)["connected"])
	h.do(req{method: http.MethodGet, path: "/v1/integrations/nope", key: key})

	r := h.do(req{method: http.MethodGet, path: "/metrics"})
	require.Equal(t, http.StatusOK, r.status)
	text := string(r.body)
	for _, want := range []string{
		`tether_http_requests_total{method="POST",route="/api/v2/developers/mcp-servers",status="201"} 1`,
		`tether_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`tether_probes_total{outcome="ok",transport="streamable_http"} 1`,
		`tether_http_request_duration_seconds_bucket`,
		`tether_probe_duration_seconds_count{transport="streamable_http"} 1`,
		`tether_db_write_duration_seconds_count`,
		`go_goroutines`,
	} {
		assert.Contains(t, text, want)
	}
}

func TestMetricsOnSeparateListener(t *testing.T) {
	h := startTether(t, func(c *Config) { c.MetricsAddr = "127.0.0.1:0" })
	assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodGet, path: "/metrics"}).status)
	resp, err := http.Get("http://" + h.m.MetricsAddr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "tether_http_requests_total")
}

func TestRateLimits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		up := newUpstream(t, false)
		h := startTether(t, on, allowLoopback, func(c *Config) { c.RateLimit = "8/m"; c.ProbeRateLimit = "2/m" })
		key, other := h.newKey("acme"), h.newKey("acme")
		id := ferniServer(t, h, key, "calc", up.URL(), nil) // 1 request

		// The general budget, shared by both header styles.
		for i := 2; i <= 5; i++ {
			r := h.do(req{method: http.MethodGet, path: ferniBase, key: key, bearer: i%2 == 0})
			require.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, "8", r.header.Get("X-RateLimit-Limit"))
			assert.Equal(t, strconv.Itoa(8-i), r.header.Get("X-RateLimit-Remaining"))
			reset, err := strconv.Atoi(r.header.Get("X-RateLimit-Reset"))
			require.NoError(t, err)
			assert.True(t, reset >= 1 && reset <= 60, "reset %d", reset)
		}
		// Probes spend their own, smaller budget (and the general one).
		for range 2 {
			r := h.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test", key: key})
			require.Equal(t, http.StatusOK, r.status)
			assert.Equal(t, "2", r.header.Get("X-RateLimit-Limit"))
		}
		r := h.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test", key: key})
		require.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "RATE_LIMITED", r.json(t)["error"].(map[string]any)["code"])
		assert.NotEmpty(t, r.header.Get("Retry-After"))

		// The general budget runs out (8 spent: 1 create, 4 lists, 3 tests).
		r = h.do(req{method: http.MethodGet, path: featherBase, key: key})
		require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
		assert.Equal(t, "rate_limited", r.json(t)["error"])
		assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
		retry, err := strconv.Atoi(r.header.Get("Retry-After"))
		require.NoError(t, err)
		assert.True(t, retry >= 1 && retry <= 60)
		assert.True(t, strings.Contains(r.json(t)["message"].(string), "rate limit"))

		// Another key has its own budget; ops routes are never limited.
		assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: featherBase, key: other}).status)
		assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: "/healthz"}).status)
	})
}

// TestReadiness: /readyz is 503 while the keyring cannot decrypt what is
// stored, and while the database is unreachable.
func TestReadiness(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: "/readyz"}).status)
	r := ferniCreate(h, key, map[string]any{"name": "a", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "autoConnect": false, "secrets": map[string]any{"K": "v"}})
	require.Equal(t, http.StatusCreated, r.status)

	// Corrupt one stored value (authentication fails), then rotate: the
	// re-encryption stops on it, and readiness says so.
	db, err := sql.Open("sqlite", h.dbPath+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	// The last byte (of the GCM tag) replaced by another: 0x00, or 0x01
	// when it already was 0x00 (1 run in 256 otherwise changed nothing).
	_, err = db.Exec(`UPDATE connections SET secrets_enc = CAST(substr(secrets_enc, 1, length(secrets_enc) - 1) ||
		CASE WHEN substr(secrets_enc, -1) = x'00' THEN x'01' ELSE x'00' END AS BLOB)`)
	require.NoError(t, err)
	require.NoError(t, runCLI(t, "keys", "rotate", "--db", h.dbPath))
	require.NoError(t, h.m.ReloadKeys())
	require.Eventually(t, func() bool {
		return h.do(req{method: http.MethodGet, path: "/readyz"}).status == http.StatusServiceUnavailable
	}, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, h.do(req{method: http.MethodGet, path: "/readyz"}).json(t)["status"], "keyring")

	h2 := startTether(t)
	require.NoError(t, h2.m.store.Close())
	assert.Equal(t, http.StatusServiceUnavailable, h2.do(req{method: http.MethodGet, path: "/readyz"}).status)
	assert.Equal(t, http.StatusOK, h2.do(req{method: http.MethodGet, path: "/healthz"}).status)
}
