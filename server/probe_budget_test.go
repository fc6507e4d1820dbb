package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/server"
)

// newBudgetServer serves /mcp (the real gateway) and the API over a real
// store, with a probe budget of probes calls per hour and no general one.
func newBudgetServer(t *testing.T, probes int) (*httptest.Server, string) {
	t.Helper()
	ctx := context.Background()
	st := registrytest.OpenStore(t)
	svc := registry.NewService(registry.Options{Store: st})
	gw := gateway.New(gateway.Options{
		Registry: svc,
		Tenant:   func(r *http.Request) (string, bool) { return server.TenantID(r.Context()) },
	})
	keys := registry.NewKeys(st)
	apiKey := "tth_budget_test_key_0123456789"
	_, err := keys.Import(ctx, "acme", apiKey)
	require.NoError(t, err)
	srv, err := server.New(server.Options{
		Connections: svc, Tools: svc, Probes: svc, OAuth: svc, Agent: svc, Keys: keys, MCP: gw,
		ProbeRateLimit: server.Rate{N: probes, Per: time.Hour},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		gw.Close()
		svc.Close()
	})
	return ts, apiKey
}

// postMCP sends body to /mcp as protocol version 2025-03-26 (the last
// with JSON-RPC batches) and returns the status and the probe budget left.
func postMCP(t *testing.T, ts *httptest.Server, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+"/mcp", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("x-api-key", key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-03-26")
	resp, err := ts.Client().Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining")
}

// toolCall is one JSON-RPC tools/call.
func toolCall(id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"acme_echo","arguments":{}}}`, id)
}

// TestProbeBudgetSeesEveryMCPToolCall: the probe budget must count what the
// MCP SDK will execute. The SDK matches JSON keys exactly, so a "Method"
// beside "method" does not disguise a tools/call; and a batch (2025-03-26)
// carries as many calls as it has tools/call entries.
func TestProbeBudgetSeesEveryMCPToolCall(t *testing.T) {
	t.Run("keys differing in case", func(t *testing.T) {
		ts, key := newBudgetServer(t, 2)
		disguised := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"acme_echo"},"Method":"ping"}`
		for i := range 2 {
			status, _ := postMCP(t, ts, key, disguised)
			assert.NotEqual(t, http.StatusTooManyRequests, status, "call %d is within the budget", i+1)
		}
		status, _ := postMCP(t, ts, key, disguised)
		assert.Equal(t, http.StatusTooManyRequests, status, "the third tools/call is over a budget of 2")
	})

	t.Run("batch", func(t *testing.T) {
		ts, key := newBudgetServer(t, 5)
		calls := make([]string, 20)
		for i := range calls {
			calls[i] = toolCall(i + 1)
		}
		status, _ := postMCP(t, ts, key, "["+strings.Join(calls, ",")+"]")
		assert.Equal(t, http.StatusTooManyRequests, status, "20 calls in one batch are over a budget of 5")

		status, remaining := postMCP(t, ts, key, "["+toolCall(1)+","+toolCall(2)+`,{"jsonrpc":"2.0","id":3,"method":"ping"}]`)
		assert.NotEqual(t, http.StatusTooManyRequests, status)
		assert.Equal(t, "3", remaining, "a batch of two calls and a ping spends two")
	})

	t.Run("trailing data after a batch", func(t *testing.T) {
		// The SDK reads the first JSON value of the body and ignores the
		// rest; so must the budget.
		ts, key := newBudgetServer(t, 1)
		status, _ := postMCP(t, ts, key, "["+toolCall(1)+","+toolCall(2)+"] trailing")
		assert.Equal(t, http.StatusTooManyRequests, status)
	})

	t.Run("other methods are free", func(t *testing.T) {
		ts, key := newBudgetServer(t, 1)
		for range 3 {
			status, _ := postMCP(t, ts, key, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
			assert.NotEqual(t, http.StatusTooManyRequests, status)
		}
	})
}
