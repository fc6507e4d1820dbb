package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/registry"
)

// A 2026-07-28 client is served without a session: it discovers, lists
// with private cache hints, and calls.
func TestStatelessClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})

	cs := e.agent(agentOptions{tenant: "acme", version: newVersion})
	assert.Equal(t, newVersion, cs.InitializeResult().ProtocolVersion)
	assert.Empty(t, cs.ID(), "no session id in the sessionless revision")

	res, err := cs.ListTools(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, "private", res.CacheScope, "a tenant's tool list is private")
	assert.Equal(t, int(gateway.ToolsTTL/time.Millisecond), res.TTLMs)
	var first []string
	for _, tool := range res.Tools {
		first = append(first, tool.Name)
	}
	for range 3 {
		assert.Equal(t, first, toolNames(t, cs), "tool order is stable")
	}

	out := callTool(t, cs, "calc_add", map[string]any{"a": 2, "b": 40})
	require.False(t, out.IsError, text(out))
	assert.Equal(t, float64(42), structured(t, out)["sum"])
}

// Routing headers that disagree with the body are refused (SEP-2243).
func TestRoutingHeaderMismatchRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":1,"b":2},` + meta + `}}`
	post := func(method, name string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", strings.NewReader(call))
		require.NoError(t, err)
		req.Header.Set(tenantHeader, "acme")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", newVersion)
		req.Header.Set("Mcp-Method", method)
		if name != "" {
			req.Header.Set("Mcp-Name", name)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post("tools/call", "calc_add")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"sum":3`)

	for _, tt := range []struct{ method, name string }{
		{"tools/list", "calc_add"},  // another method
		{"tools/call", "calc_echo"}, // another tool
		{"tools/call", ""},          // name missing
	} {
		status, body = post(tt.method, tt.name)
		assert.Equal(t, http.StatusBadRequest, status, "%v: %s", tt, body)
		assert.Contains(t, body, fmt.Sprint(mcp.CodeHeaderMismatch), "%v", tt)
		assert.NotContains(t, body, `"sum"`, "the call did not run")
	}
}

// Two gateways that share only the database serve one sessionless client
// whose requests alternate between them, as replicas behind a round-robin
// load balancer do.
func TestStatelessAcrossTwoGateways(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})

	// The second gateway: its own registry service, pool and handler on
	// the same store.
	pool := mcpclient.NewPool(mcpclient.PoolOptions{Client: mcpclient.New(mcpclient.Options{Guard: e.guard()})})
	svc := registry.NewService(registry.Options{Store: e.store, Prober: pool})
	gw := gateway.New(gateway.Options{Registry: svc, Tenant: func(r *http.Request) (string, bool) {
		id := r.Header.Get(tenantHeader)
		return id, id != ""
	}})
	second := httptest.NewServer(gw)
	t.Cleanup(func() { gw.Close(); second.Close(); svc.Close(); pool.Close() })

	var served [2]atomic.Int64
	rr := &roundRobin{targets: []string{e.srv.URL, second.URL}, served: served[:]}
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   "http://balancer.invalid/mcp",
		HTTPClient: &http.Client{Transport: rr},
	}, &mcp.ClientSessionOptions{ProtocolVersion: newVersion})
	require.NoError(t, err)
	defer cs.Close()
	for i := range 10 {
		assert.Contains(t, toolNames(t, cs), "calc_add")
		res := callTool(t, cs, "calc_add", map[string]any{"a": i, "b": 1})
		require.False(t, res.IsError, text(res))
		assert.Equal(t, float64(i+1), structured(t, res)["sum"])
	}
	assert.Positive(t, served[0].Load())
	assert.Positive(t, served[1].Load())
}

// roundRobin sends each request to the next target in turn, with the
// tenant header.
type roundRobin struct {
	targets []string
	served  []atomic.Int64
	next    atomic.Int64
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	i := int(rr.next.Add(1)) % len(rr.targets)
	rr.served[i].Add(1)
	r = r.Clone(r.Context())
	target := rr.targets[i]
	r.URL.Scheme, r.URL.Host = "http", strings.TrimPrefix(target, "http://")
	r.Host = r.URL.Host
	r.Header.Set(tenantHeader, "acme")
	return http.DefaultTransport.RoundTrip(r)
}

// A change acknowledged to its author is what the next stateless request
// sees: the view kept between requests is brought up to date first.
func TestStatelessReadsItsWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	up := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	echo := e.toolID("acme", c.ID, "echo")
	ctx := context.Background()
	for i := range 20 {
		enabled := i%2 == 1
		_, _, err := e.svc.UpdateTool(ctx, "acme", c.ID, echo, registry.ToolPatch{Enabled: &enabled})
		require.NoError(t, err)
		// A new client each time: no client-side cache between them.
		cs := e.agent(agentOptions{tenant: "acme", version: newVersion})
		assert.Equal(t, enabled, contains(toolNames(t, cs), "calc_echo"), "round %d", i)
	}
}
