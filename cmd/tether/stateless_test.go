package main

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two tethers that share only the database file serve one 2026-07-28
// client whose requests alternate between them (a round-robin balancer
// with no affinity), and a toggle made through one reaches the client's
// listen stream, wherever it is.
func TestStatelessMCPAcrossTwoProcessesSharingTheDatabase(t *testing.T) {
	a, b, key, calc := twoTethers(t)
	var served [2]atomic.Int64
	rr := &balancer{targets: []string{a.base, b.base}, served: served[:], key: key}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := balancedAgent(ctx, t, rr, newProtocol)
	for i := range 12 {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": i, "b": 1}})
		require.NoError(t, err)
		require.False(t, res.IsError, "call %d", i)
		assert.Equal(t, map[string]any{"sum": float64(i + 1)}, res.StructuredContent)
	}
	assert.Positive(t, served[0].Load(), "replica A served")
	assert.Positive(t, served[1].Load(), "replica B served")

	// Each process keeps its own catalogue: B learns of A's change when
	// it is told, so the new-protocol client connected to A hears it.
	changed := make(chan struct{}, 16)
	listener := agentSpeaking(t, a, newProtocol, key, "", func() { changed <- struct{}{} })
	assert.Contains(t, toolNames(t, listener), "calc_add")
	c := a.do(req{method: http.MethodGet, path: featherBase + "/" + calc, key: key}).json(t)
	add := toolBySlug(c, "calc_add")["id"].(string)
	require.Equal(t, http.StatusOK, a.do(req{method: http.MethodPatch, path: featherBase + "/" + calc + "/tools/" + add, key: key,
		body: map[string]any{"is_enabled": false}}).status)
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("no tools/list_changed on the listen stream after a toggle")
	}
}

// balancer sends each request to the next tether in turn, with the key.
type balancer struct {
	targets []string
	served  []atomic.Int64
	next    atomic.Int64
	key     string
	// only, when set, takes every request (the others are gone).
	only atomic.Pointer[string]
}

func (rr *balancer) RoundTrip(r *http.Request) (*http.Response, error) {
	i := int(rr.next.Add(1)) % len(rr.targets)
	target := rr.targets[i]
	if only := rr.only.Load(); only != nil {
		target = *only
	} else {
		rr.served[i].Add(1)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = "http", strings.TrimPrefix(target, "http://")
	r.Host = r.URL.Host
	r.Header.Set("Authorization", "Bearer "+rr.key)
	return http.DefaultTransport.RoundTrip(r)
}

// A 2025-11-25 client (sessions) whose requests a round-robin balancer
// spreads over two tethers sharing the database and keys never gets
// "session not found", and keeps working after the tether that opened its
// session is gone.
func TestLegacySessionAcrossProcessesAndAKill(t *testing.T) {
	a, b, key, _ := twoTethers(t)
	var served [2]atomic.Int64
	// The first request (initialize) goes to A: A opens the session.
	rr := &balancer{targets: []string{b.base, a.base}, served: served[:], key: key}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := balancedAgent(ctx, t, rr, legacyProtocol)
	require.NotEmpty(t, s.ID(), "a legacy session")
	call := func(i int) {
		t.Helper()
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": i, "b": 1}})
		require.NoError(t, err, "call %d", i)
		require.False(t, res.IsError, "call %d", i)
		assert.Equal(t, map[string]any{"sum": float64(i + 1)}, res.StructuredContent)
	}
	for i := range 10 {
		call(i)
		assert.Contains(t, toolNames(t, s), "calc_add")
	}
	assert.Positive(t, served[0].Load())
	assert.Positive(t, served[1].Load())

	// A, which opened the session, goes away; B serves on.
	require.NoError(t, a.stop())
	rr.only.Store(&b.base)
	for i := range 5 {
		call(100 + i)
	}
}

// twoTethers runs two tethers on one database file and keys (replicas, as
// far as a SQLite file allows) with one upstream connected as "calc"; it
// returns them, an API key of tenant acme and the connection's id.
func twoTethers(t *testing.T) (a, b *harness, key, calc string) {
	t.Helper()
	up := newUpstream(t, false)
	a = startTether(t, allowLoopback)
	cfgB := a.m.Config
	cfgB.Addr = "127.0.0.1:0"
	b = startOn(t, cfgB)
	key = a.newKey("acme")
	return a, b, key, featherConnection(t, a, key, up.URL())
}

// balancedAgent connects a go-sdk agent speaking version through rr.
func balancedAgent(ctx context.Context, t *testing.T, rr *balancer, version string) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: "http://balancer.invalid/mcp", HTTPClient: &http.Client{Transport: rr},
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
