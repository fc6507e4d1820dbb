package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// The cluster behind the PostgreSQL tests stops when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// hinting is a customer's 2026-07-28 server (go-sdk, stateless
// streamable HTTP) whose tool list carries a cache hint, counting the
// tools/list requests it answers.
type hinting struct {
	url   string
	lists atomic.Int64
}

// newHinting starts one with ttlMs on its tool list (0: no hint, as a
// server that sets none sends).
func newHinting(t *testing.T, name string, ttl time.Duration) *hinting {
	t.Helper()
	h := &hinting{}
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{
		SetCacheable: func(_ context.Context, req mcp.Request, c *mcp.Cacheable) {
			if _, ok := req.(*mcp.ListToolsRequest); ok {
				c.TTLMs = int(ttl / time.Millisecond)
			}
		},
	})
	s.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/list" {
				h.lists.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	s.AddTool(&mcp.Tool{Name: "ping", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// replica is one tether's registry over the database db, with real MCP
// clients, its health monitor running with opts.
func replica(t *testing.T, db string, opts registry.MonitorOptions) (*registry.Service, *store.Store) {
	t.Helper()
	key, err := secrets.NewKey("test", make([]byte, 32))
	require.NoError(t, err)
	ring, err := secrets.NewKeyring([]secrets.Key{key})
	require.NoError(t, err)
	st, err := store.Open(context.Background(), db, store.Options{Cipher: ring})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	guard := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	svc := registry.NewService(registry.Options{Store: st, URLs: guard, Prober: mcpclient.New(mcpclient.Options{Guard: guard})})
	t.Cleanup(svc.Close) // before the store closes
	svc.StartMonitor(opts)
	return svc, st
}

// probesOver counts the tools/list requests each upstream gets over
// window, once every connection has recorded its server's hint.
// connectHinting starts one hinting server per hint and connects each
// (auto-connect, so the monitor probes it) for a new tenant.
func connectHinting(t *testing.T, svc *registry.Service, st *store.Store, hints map[string]time.Duration) (tenantID string, ups map[string]*hinting) {
	t.Helper()
	tenant, err := st.EnsureTenant(context.Background(), &registry.Tenant{ID: "t-acme", Name: "acme"})
	require.NoError(t, err)
	ups = map[string]*hinting{}
	for name, ttl := range hints {
		ups[name] = newHinting(t, name, ttl)
		_, err := svc.Create(context.Background(), tenant.ID, registry.NewConnection{
			Name: name, Transport: registry.TransportStreamableHTTP, Endpoint: ups[name].url,
			Enabled: true, AutoConnect: true, TimeoutMS: 30000,
		})
		require.NoError(t, err)
	}
	return tenant.ID, ups
}

func probesOver(t *testing.T, st *store.Store, tenantID string, ups map[string]*hinting, hints map[string]time.Duration, window time.Duration) map[string]int64 {
	t.Helper()
	require.Eventually(t, func() bool {
		list, _, err := st.ListConnections(context.Background(), tenantID, registry.ListFilter{})
		require.NoError(t, err)
		got := map[string]time.Duration{}
		for _, c := range list {
			got[c.Slug] = c.ToolsTTL
		}
		for name, want := range hints {
			if got[name] != want {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "every connection records its server's hint")
	before := map[string]int64{}
	for name, up := range ups {
		before[name] = up.lists.Load()
	}
	time.Sleep(window)
	out := map[string]int64{}
	for name, up := range ups {
		out[name] = up.lists.Load() - before[name]
	}
	return out
}

// most is how many probes window can hold for a connection re-synced
// every resync: rounds probe it no sooner than nine tenths of resync
// after its last refresh (the band the monitor's wake-ups are jittered
// by), plus one at each edge of the window.
func most(window, resync time.Duration) int64 { return int64(window/(resync*9/10)) + 2 }

// The health monitor re-syncs a connection at the pace its server's tool
// list asks (ttlMs), within the operator's bounds: a short hint is
// re-probed more often than the interval, a long one less often, and
// hints beyond either bound are clamped to it.
func TestMonitorPacesResyncsByToolsTTL(t *testing.T) {
	const interval = 600 * time.Millisecond
	opts := registry.MonitorOptions{Interval: interval, MinInterval: interval / 4, MaxInterval: 6 * interval}
	hints := map[string]time.Duration{
		"plain": 0,
		"short": interval / 3,
		"tiny":  time.Millisecond,     // below the floor: clamped to it
		"long":  3 * interval,         // within the ceiling
		"huge":  365 * 24 * time.Hour, // above the ceiling: clamped to it
	}
	svc, st := replica(t, filepath.Join(t.TempDir(), "tether.db"), opts)
	tenantID, ups := connectHinting(t, svc, st, hints)

	window := 20 * interval
	n := probesOver(t, st, tenantID, ups, hints, window)
	t.Logf("tools/list over %s: %v", window, n)

	assert.Positive(t, n["plain"], "the monitor re-syncs a server without a hint")
	assert.LessOrEqual(t, n["plain"], most(window, interval), "no hint: once per interval")
	assert.GreaterOrEqual(t, 2*n["short"], 3*n["plain"], "a short hint is re-synced more often than the interval")
	assert.LessOrEqual(t, n["short"], most(window, interval/3))
	assert.LessOrEqual(t, n["tiny"], most(window, opts.MinInterval), "a hint below the floor is held to the floor")
	assert.Greater(t, n["tiny"], n["plain"])
	assert.LessOrEqual(t, 2*n["long"], n["plain"], "a long hint is re-synced less often than the interval")
	assert.LessOrEqual(t, n["long"], most(window, 4*interval))
	assert.LessOrEqual(t, n["huge"], most(window, opts.MaxInterval), "a hint above the ceiling is held to the ceiling")
	assert.GreaterOrEqual(t, n["huge"], int64(2), "a year-long hint still gets re-synced within the ceiling")
}

// On a fleet, the paced re-syncs are still shared: two replicas on one
// PostgreSQL database probe a short-hint server about once per its
// re-sync interval between them (the lease follows the connection's own
// interval), not once per replica.
func TestFleetMonitorPacesResyncsByToolsTTL(t *testing.T) {
	const interval = 600 * time.Millisecond
	opts := registry.MonitorOptions{Interval: interval} // the default bounds
	db := pgtest.URL(t)
	svc, st := replica(t, db, opts)
	replica(t, db, opts)
	hints := map[string]time.Duration{"plain": 0, "short": interval / 3}
	tenantID, ups := connectHinting(t, svc, st, hints)

	window := 20 * interval
	n := probesOver(t, st, tenantID, ups, hints, window)
	t.Logf("tools/list over %s with two replicas: %v", window, n)
	assert.Positive(t, n["plain"])
	assert.LessOrEqual(t, n["plain"], most(window, interval), "no hint: once per interval across the fleet")
	assert.GreaterOrEqual(t, 2*n["short"], 3*n["plain"], "a short hint is re-synced more often than the interval")
	assert.LessOrEqual(t, n["short"], most(window, interval/3), "a short hint: once per its interval across the fleet")
}

// The operator's bounds default to a tenth and twelve times the
// interval; without a hint, or with the monitor off, the interval rules.
func TestResyncIntervalBounds(t *testing.T) {
	tests := []struct {
		name string
		opts registry.MonitorOptions
		ttl  time.Duration
		want time.Duration
	}{
		{"no hint", registry.MonitorOptions{Interval: 5 * time.Minute}, 0, 5 * time.Minute},
		{"within bounds", registry.MonitorOptions{Interval: 5 * time.Minute}, 2 * time.Minute, 2 * time.Minute},
		{"below the floor", registry.MonitorOptions{Interval: 5 * time.Minute}, time.Millisecond, 30 * time.Second},
		{"above the ceiling", registry.MonitorOptions{Interval: 5 * time.Minute}, 100 * time.Hour, time.Hour},
		{"tiny interval scales the floor", registry.MonitorOptions{Interval: 50 * time.Millisecond}, time.Millisecond, 5 * time.Millisecond},
		{"explicit bounds", registry.MonitorOptions{Interval: time.Minute, MinInterval: 20 * time.Second, MaxInterval: 2 * time.Minute}, time.Second, 20 * time.Second},
		{"bounds never exclude the interval", registry.MonitorOptions{Interval: time.Minute, MinInterval: time.Hour}, time.Second, time.Minute},
		{"monitor off", registry.MonitorOptions{}, time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.opts.ResyncInterval(tt.ttl))
		})
	}
}
