package gateway_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/registry"
)

// listenBody is a 2026-07-28 subscriptions/listen for tool list changes.
const listenBody = `{"jsonrpc":"2.0","id":"l1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},` + meta2026 + `}}`

// listenStream is an open subscriptions/listen response: the data lines
// of its events, in order; lines is closed when the stream ends.
type listenStream struct {
	status int
	body   string // a refusal's body
	lines  chan string
	cancel context.CancelFunc
}

// openListen posts a subscriptions/listen to url with hdr and, when it is
// served, waits for its acknowledgement.
func openListen(t *testing.T, url string, hdr http.Header) *listenStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/mcp", strings.NewReader(listenBody))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", newVersion)
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	ls := &listenStream{status: resp.StatusCode, lines: make(chan string, 64), cancel: cancel}
	t.Cleanup(cancel)
	if resp.StatusCode != http.StatusOK {
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		resp.Body.Close()
		ls.body = b.String()
		close(ls.lines)
		return ls
	}
	go func() {
		defer close(ls.lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok {
				ls.lines <- data
			}
		}
	}()
	select {
	case line := <-ls.lines:
		require.Contains(t, line, "notifications/subscriptions/acknowledged")
	case <-time.After(10 * time.Second):
		t.Fatal("no acknowledgement on the listen stream")
	}
	return ls
}

// next waits for the stream's next event; ok is false when the stream
// ended (or nothing came within the wait).
func (ls *listenStream) next(wait time.Duration) (string, bool) {
	select {
	case line, ok := <-ls.lines:
		return line, ok
	case <-time.After(wait):
		return "", false
	}
}

// A key holds at most MaxSessionsPerKey listen streams, as it holds at
// most that many sessions: each is an open request, a goroutine and a
// view held. Past the cap, 429; other keys keep their own count; a
// stream that ends gives its place back.
func TestListenStreamsPerKeyAreCapped(t *testing.T) {
	t.Parallel()
	e := newBoundsEnv(t, gateway.Options{MaxSessionsPerKey: 2})
	k1 := http.Header{keyHeader: {"k1"}}
	first := openListen(t, e.srv.URL, k1)
	require.Equal(t, http.StatusOK, first.status, first.body)
	second := openListen(t, e.srv.URL, k1)
	require.Equal(t, http.StatusOK, second.status, second.body)

	third := openListen(t, e.srv.URL, k1)
	assert.Equal(t, http.StatusTooManyRequests, third.status, third.body)
	assert.Contains(t, third.body, "limit_exceeded")

	other := openListen(t, e.srv.URL, http.Header{keyHeader: {"k2"}})
	assert.Equal(t, http.StatusOK, other.status, "another key has its own places: %s", other.body)

	first.cancel()
	require.Eventually(t, func() bool {
		ls := openListen(t, e.srv.URL, k1)
		defer ls.cancel()
		return ls.status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "an ended stream gives its place back")
}

// revocable is an API key check whose answer the test changes.
type revocable struct {
	mu      sync.Mutex
	revoked map[string]bool
	checks  atomic.Int64
}

func (rv *revocable) valid(r *http.Request) bool {
	rv.checks.Add(1)
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return !rv.revoked[r.Header.Get(keyHeader)]
}

func (rv *revocable) revoke(key string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.revoked[key] = true
}

// A listen stream whose API key is revoked while it is open ends: it
// hears nothing of the tenant's changes from then on. A stream of
// another key of the tenant carries on, and hears them; another tenant's
// stream never hears them.
func TestListenStreamEndsWhenItsKeyIsRevoked(t *testing.T) {
	t.Parallel()
	rv := &revocable{revoked: map[string]bool{}}
	e := newEnv(t, envOptions{reauthorize: rv.valid, reauthorizeEvery: 50 * time.Millisecond})
	up := newUpstream(t, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	echo := e.toolID("acme", c.ID, "echo")
	toggle := func(enabled bool) {
		_, _, err := e.svc.UpdateTool(context.Background(), "acme", c.ID, echo, registry.ToolPatch{Enabled: &enabled})
		require.NoError(t, err)
	}

	doomed := openListen(t, e.srv.URL, http.Header{tenantHeader: {"acme"}, keyHeader: {"k1"}})
	require.Equal(t, http.StatusOK, doomed.status, doomed.body)
	kept := openListen(t, e.srv.URL, http.Header{tenantHeader: {"acme"}, keyHeader: {"k2"}})
	require.Equal(t, http.StatusOK, kept.status, kept.body)
	foreign := openListen(t, e.srv.URL, http.Header{tenantHeader: {"globex"}, keyHeader: {"k3"}})
	require.Equal(t, http.StatusOK, foreign.status, foreign.body)

	toggle(false)
	for _, ls := range []*listenStream{doomed, kept} {
		line, ok := ls.next(30 * time.Second)
		require.True(t, ok, "the tenant's streams hear the change")
		assert.Contains(t, line, "notifications/tools/list_changed")
	}

	rv.revoke("k1")
	// The revoked key's stream ends (its final answer may come first).
	deadline := time.Now().Add(30 * time.Second)
	for {
		line, ok := doomed.next(time.Until(deadline))
		if !ok {
			break
		}
		require.NotContains(t, line, "list_changed", "nothing after the revocation")
	}
	require.False(t, time.Now().After(deadline), "the revoked key's stream ended")

	toggle(true)
	line, ok := kept.next(30 * time.Second)
	require.True(t, ok, "the other key's stream carries on")
	assert.Contains(t, line, "notifications/tools/list_changed")
	_, ok = foreign.next(500 * time.Millisecond)
	assert.False(t, ok, "another tenant hears nothing of acme's changes")
}

// A legacy session's GET stream ends too when its key is revoked; the
// session's requests are refused by authentication from then on anyway.
func TestSessionStreamEndsWhenItsKeyIsRevoked(t *testing.T) {
	t.Parallel()
	rv := &revocable{revoked: map[string]bool{}}
	e := newEnv(t, envOptions{reauthorize: rv.valid, reauthorizeEvery: 50 * time.Millisecond})
	hdr := func(req *http.Request) {
		req.Header.Set(tenantHeader, "acme")
		req.Header.Set(keyHeader, "k1")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", legacyVersion)
	}
	post := func(sid, body string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", strings.NewReader(body))
		require.NoError(t, err)
		hdr(req)
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := post("", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"`+legacyVersion+`","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sid := resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	require.Equal(t, http.StatusAccepted, post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).StatusCode)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/mcp", nil)
	require.NoError(t, err)
	hdr(req)
	req.Header.Set("Mcp-Session-Id", sid)
	get, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer get.Body.Close()
	require.Equal(t, http.StatusOK, get.StatusCode)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = io.Copy(io.Discard, get.Body)
	}()
	select {
	case <-ended:
		t.Fatal("the stream ended before the revocation")
	case <-time.After(300 * time.Millisecond):
	}
	rv.revoke("k1")
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the revoked key's GET stream is still open")
	}
}

// subscriptions/listen is of the sessionless revision: on a session of an
// older one it is "method not found", answered at once, not a stream
// parked for as long as the agent likes (unbounded per session, and
// keeping the session busy so that it is never closed as idle).
func TestListenIsNotServedOnSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, version := range []string{olderVersion, legacyVersion} {
		cs := e.agent(agentOptions{tenant: "acme", version: version})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/mcp",
			strings.NewReader(`{"jsonrpc":"2.0","id":"l1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`))
		require.NoError(t, err)
		req.Header.Set(tenantHeader, "acme")
		req.Header.Set("Mcp-Session-Id", cs.ID())
		req.Header.Set("Mcp-Protocol-Version", version)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		require.NoError(t, err, "%s: the answer came whole, not as a stream left open", version)
		assert.Contains(t, string(b), `"code":-32601`, "%s: %s", version, b)
		assert.NotContains(t, string(b), "acknowledged", version)
	}
}
