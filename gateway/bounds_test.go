package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// keyHeader names the test's API key; the real server passes the key's
// hash.
const keyHeader = "X-Test-Key"

// boundsProber lists one tool and answers calls, holding each until
// release is closed when block is set.
type boundsProber struct {
	block   atomic.Bool
	release chan struct{}
	once    sync.Once
	inCall  atomic.Int64
}

// unblock lets every held call return.
func (p *boundsProber) unblock() { p.once.Do(func() { close(p.release) }) }

func (p *boundsProber) Probe(context.Context, *registry.Connection) (*registry.ProbeResult, error) {
	return &registry.ProbeResult{Transport: registry.TransportStreamableHTTP, Tools: []registry.ToolSpec{
		{Name: "lookup", Description: "Look up a customer", InputSchema: map[string]any{"type": "object"}},
	}}, nil
}

func (p *boundsProber) CallTool(ctx context.Context, _ *registry.Connection, _ string, _ map[string]any) (map[string]any, error) {
	if p.block.Load() {
		p.inCall.Add(1)
		select {
		case <-p.release:
		case <-ctx.Done():
		}
	}
	return map[string]any{"content": []any{map[string]any{"type": "text", "text": "ok"}}}, nil
}

// boundsEnv is the gateway over a real store and registry, with one
// connection (tool crm_lookup) for tenant acme.
type boundsEnv struct {
	gw     *gateway.Handler
	srv    *httptest.Server
	prober *boundsProber
}

func newBoundsEnv(t *testing.T, opts gateway.Options) *boundsEnv {
	t.Helper()
	ctx := context.Background()
	key, err := secrets.GenerateKey("k1")
	require.NoError(t, err)
	ring, err := secrets.NewKeyring([]secrets.Key{key})
	require.NoError(t, err)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "tether.db"), store.Options{Cipher: ring})
	require.NoError(t, err)
	_, err = st.EnsureTenant(ctx, &registry.Tenant{ID: "acme", Name: "acme"})
	require.NoError(t, err)
	prober := &boundsProber{release: make(chan struct{})}
	svc := registry.NewService(registry.Options{Store: st, Prober: prober})
	c, err := svc.Create(ctx, "acme", registry.NewConnection{Name: "crm", Transport: registry.TransportHTTP,
		Endpoint: "https://mcp.example.com/mcp", Enabled: true})
	require.NoError(t, err)
	out, err := svc.Test(ctx, "acme", c.ID)
	require.NoError(t, err)
	require.True(t, out.Connected, "%v", out.Err)

	opts.Registry = svc
	opts.Tenant = func(r *http.Request) (string, bool) { return "acme", true }
	opts.Key = func(r *http.Request) string { return r.Header.Get(keyHeader) }
	e := &boundsEnv{gw: gateway.New(opts), prober: prober}
	e.srv = httptest.NewServer(e.gw)
	t.Cleanup(func() {
		prober.unblock()
		e.gw.Close()
		e.srv.Close()
		svc.Close()
		_ = st.Close()
	})
	return e
}

// open connects an agent with an API key and a persona.
func (e *boundsEnv) open(t *testing.T, key, persona string) (*mcp.ClientSession, error) {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   e.srv.URL + "/mcp?persona=" + persona,
		HTTPClient: &http.Client{Transport: headerTransport{http.Header{keyHeader: {key}}}},
	}, &mcp.ClientSessionOptions{ProtocolVersion: legacyVersion}) // sessions are what is bounded
	if err == nil {
		t.Cleanup(func() { _ = cs.Close() })
	}
	return cs, err
}

// initialize sends a bare initialize POST and returns the status and body.
func (e *boundsEnv) initialize(t *testing.T, key, persona string) (int, map[string]any) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp?persona="+persona, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(keyHeader, key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	if resp.StatusCode != http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out
}

// TestSessionsPerKeyAreCapped: the finding was 6,000 initialize calls with
// distinct personas holding 540 MB. A key holds at most MaxSessionsPerKey
// sessions, the one idle longest closed first; the views of closed
// sessions go with them; other keys keep their own count.
func TestSessionsPerKeyAreCapped(t *testing.T) {
	e := newBoundsEnv(t, gateway.Options{MaxSessionsPerKey: 4})
	var sessions []*mcp.ClientSession
	for i := range 10 {
		cs, err := e.open(t, "key-a", fmt.Sprintf("persona-%d", i))
		require.NoError(t, err, "session %d: the oldest idle one makes room", i)
		sessions = append(sessions, cs)
	}
	assert.Equal(t, 4, e.gw.Stats().Sessions)
	// An evicted session is closed in the background: its view goes when
	// its last request (its GET stream) ends.
	eventually(t, func() bool { return e.gw.Stats().Views == 4 }, "a view goes with its last session")

	for _, cs := range sessions[6:] {
		_, err := cs.ListTools(context.Background(), nil)
		assert.NoError(t, err, "the newest sessions are kept")
	}
	eventually(t, func() bool {
		_, err := sessions[0].ListTools(context.Background(), nil)
		return err != nil
	}, "the oldest session is closed")

	_, err := e.open(t, "key-b", "persona-0")
	require.NoError(t, err, "another key has its own count")
	assert.Equal(t, 5, e.gw.Stats().Sessions)
}

// TestSessionsPerKeyRefusedWhenAllBusy: with every session of the key
// serving a call, a new one is refused (429) rather than cutting a call.
func TestSessionsPerKeyRefusedWhenAllBusy(t *testing.T) {
	e := newBoundsEnv(t, gateway.Options{MaxSessionsPerKey: 2})
	e.prober.block.Store(true)
	// Before the sessions' own cleanups, which wait for their calls.
	defer e.prober.unblock()
	for i := range 2 {
		cs, err := e.open(t, "key-a", "")
		require.NoError(t, err)
		go func() { _, _ = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "crm_lookup"}) }()
		eventually(t, func() bool { return e.prober.inCall.Load() == int64(i+1) }, "the call is in flight")
	}
	status, body := e.initialize(t, "key-a", "")
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "limit_exceeded", body["error"])
	assert.Contains(t, body["message"], "2 MCP sessions, all busy")
	assert.Equal(t, 2, e.gw.Stats().Sessions)
}

// TestViewWithoutSessionsIsDropped: a view lives as long as its sessions.
func TestViewWithoutSessionsIsDropped(t *testing.T) {
	e := newBoundsEnv(t, gateway.Options{})
	cs, err := e.open(t, "key-a", "p1")
	require.NoError(t, err)
	assert.Equal(t, gateway.Stats{Sessions: 1, Views: 1, ViewBytes: e.gw.Stats().ViewBytes}, e.gw.Stats())
	assert.Positive(t, e.gw.Stats().ViewBytes)
	require.NoError(t, cs.Close())
	eventually(t, func() bool { return e.gw.Stats() == gateway.Stats{} }, "the view goes with its last session")
}

// TestViewsAreBoundedByWhatTheyCost: past the tenant's view budget, the
// views whose sessions are all idle are closed, longest unused first;
// with none idle, the new view is refused.
func TestViewsAreBoundedByWhatTheyCost(t *testing.T) {
	probe := newBoundsEnv(t, gateway.Options{})
	_, err := probe.open(t, "key-a", "p0")
	require.NoError(t, err)
	perView := probe.gw.Stats().ViewBytes

	e := newBoundsEnv(t, gateway.Options{MaxViewBytesPerTenant: 2*perView + perView/2})
	first, err := e.open(t, "key-a", "p1")
	require.NoError(t, err)
	_, err = e.open(t, "key-a", "p2")
	require.NoError(t, err)
	_, err = e.open(t, "key-a", "p3")
	require.NoError(t, err, "the idle view of p1 makes room")
	st := e.gw.Stats()
	assert.Equal(t, 2, st.Views)
	assert.LessOrEqual(t, st.ViewBytes, 2*perView+perView/2)
	eventually(t, func() bool {
		_, err := first.ListTools(context.Background(), nil)
		return err != nil
	}, "p1's session is closed")

	// Both remaining views busy: a fourth persona is refused.
	e.prober.block.Store(true)
	// Before the sessions' own cleanups, which wait for their calls.
	defer e.prober.unblock()
	for i, persona := range []string{"p2", "p3"} {
		cs, err := e.open(t, "key-b", persona)
		require.NoError(t, err)
		go func() { _, _ = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "crm_lookup"}) }()
		eventually(t, func() bool { return e.prober.inCall.Load() == int64(i+1) }, "the call is in flight")
	}
	status, body := e.initialize(t, "key-c", "p4")
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "limit_exceeded", body["error"])
	assert.Contains(t, body["message"], "budget")
	assert.Equal(t, 2, e.gw.Stats().Views)
}
