package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/secrets"
)

// startFleet runs n tethers on one fresh PostgreSQL database with the same
// keys and public URL, as replicas behind a load balancer; mods apply to
// each.
func startFleet(t *testing.T, n int, start func(t *testing.T, mods ...func(*Config)) *harness, mods ...func(*Config)) []*harness {
	t.Helper()
	on := onPostgres(t)
	fleet := make([]*harness, n)
	for i := range fleet {
		named := func(c *Config) { c.ReplicaID = fmt.Sprintf("replica-%d", i+1) }
		fleet[i] = start(t, append([]func(*Config){on, named}, mods...)...)
	}
	return fleet
}

// An OAuth connection behind a rotating-refresh-token authorization server
// (a rotated-out token is refused) is used from three replicas at once
// across several expiries: every call succeeds, each expiry costs one
// refresh fleet-wide, and no refresh token is ever presented twice. The
// authorization started on one replica completes on another.
func TestFleetOAuthRefreshOncePerExpiry(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	const public = "http://tether.fleet.invalid"
	fleet := startFleet(t, 3, func(t *testing.T, mods ...func(*Config)) *harness { return startOAuthTether(t, clock, mods...) },
		allowLoopback, func(c *Config) { c.PublicURL = public })
	a, b := fleet[0], fleet[1]
	key := a.newKey("acme")

	id, authorizeURL, _ := oauthConnect(t, a, key, "Files", rs.URL, nil)
	back := oauthtest.Consent(t, authorizeURL)
	require.Equal(t, public, back.Scheme+"://"+back.Host)
	// The load balancer sends the browser's callback to replica B.
	onB, err := url.Parse(b.base)
	require.NoError(t, err)
	back.Scheme, back.Host = onB.Scheme, onB.Host
	cb := oauthVisit(t, b, oauthBrowser, back.String())
	require.Equal(t, http.StatusOK, cb.status, "%s", cb.body)
	waitToolsStatus(t, b, key, id, "synced")

	const rounds = 3
	for round := range rounds {
		clock.Advance(time.Hour)
		var wg sync.WaitGroup
		results := make([]response, 2*len(fleet))
		for i := range results {
			h := fleet[i%len(fleet)]
			wg.Go(func() { results[i] = oauthCallAdd(h, key, id, "files_add", round, i) })
		}
		wg.Wait()
		for i, r := range results {
			assert.Equal(t, float64(round+i), oauthSum(t, r), "round %d, call %d", round, i)
		}
	}
	refreshes := as.TokenRequestsOf("refresh_token")
	assert.Len(t, refreshes, rounds, "one refresh per expiry across the fleet")
	presented := map[string]bool{}
	for _, r := range refreshes {
		assert.Equal(t, http.StatusOK, r.Status, r.Error)
		rt := r.Form.Get("refresh_token")
		assert.False(t, presented[rt], "a refresh token was presented twice")
		presented[rt] = true
	}
	for _, h := range fleet {
		assert.Equal(t, "active", oauthRow(t, h, key, id)["status"])
	}
}

// A tool toggled through replica A reaches replica B: B's /mcp clients
// hear notifications/tools/list_changed and no longer list it, in the
// protocol with sessions and in the stateless one, and B's agent path no
// longer calls it.
func TestFleetToggleReachesOtherReplicas(t *testing.T) {
	up := newUpstream(t, false)
	fleet := startFleet(t, 2, startTether, allowLoopback)
	a, b := fleet[0], fleet[1]
	key := a.newKey("acme")
	calc := featherConnection(t, a, key, up.URL())

	changed := make(chan string, 16)
	var sessions []*mcp.ClientSession
	for _, version := range []string{"2025-11-25", newProtocol} {
		s := agentSpeaking(t, b, version, key, "", func() { changed <- version })
		require.Contains(t, toolNames(t, s), "calc_add", version)
		sessions = append(sessions, s)
	}
	// B's agent path has calc_add in its catalogue.
	invoke := func() int {
		return b.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_add/invoke", key: key,
			body: map[string]any{"input": map[string]any{"a": 1, "b": 2}}}).status
	}
	require.Equal(t, http.StatusOK, invoke())

	c := a.do(req{method: http.MethodGet, path: featherBase + "/" + calc, key: key}).json(t)
	add := toolBySlug(c, "calc_add")["id"].(string)
	require.Equal(t, http.StatusOK, a.do(req{method: http.MethodPatch, path: featherBase + "/" + calc + "/tools/" + add, key: key,
		body: map[string]any{"is_enabled": false}}).status)
	heard := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(heard) < 2 {
		select {
		case v := <-changed:
			heard[v] = true
		case <-deadline:
			t.Fatalf("replica B's clients heard no tools/list_changed after a toggle on A (heard: %v)", heard)
		}
	}
	for _, s := range sessions {
		assert.NotContains(t, toolNames(t, s), "calc_add")
	}
	assert.NotEqual(t, http.StatusOK, invoke(), "B's catalogue forgot the disabled tool")
}

// The fleet's health monitor probes each connection about once per
// interval, not once per replica: with three replicas, the upstream sees
// at most one handshake per lease (0.8 interval) over a window, where
// three unleased monitors would make about three per interval.
func TestFleetMonitorProbesOncePerInterval(t *testing.T) {
	var handshakes atomic.Int64
	up := newUpstream(t, false)
	counting := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"method":"initialize"`)) {
			handshakes.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: up.HTTP.Listener.Addr().String()})
		proxy.ServeHTTP(w, r)
	}))
	const interval = 300 * time.Millisecond
	fleet := startFleet(t, 3, startTether, allowLoopback, func(c *Config) { c.HealthInterval = interval })
	key := fleet[0].newKey("acme")
	id := ferniServer(t, fleet[0], key, "calc", counting+"/mcp", nil)
	require.Equal(t, true, ferniTest(t, fleet[0], key, id)["connected"])

	start := handshakes.Load()
	began := time.Now()
	time.Sleep(10 * interval)
	n := handshakes.Load() - start
	window := time.Since(began)
	// Each probe needs a lapsed claim: at most one per lease in the
	// window, plus one at each edge.
	most := int64(window/(interval*8/10)) + 2
	assert.LessOrEqual(t, n, most, "handshakes in %s with three replicas", window)
	assert.Positive(t, n, "the fleet's monitor probed")
}

// The rate limit is one budget per API key across the fleet: requests
// spread over three replicas spend it together, with the same headers as
// on one tether, and the next one is refused wherever it lands.
func TestFleetRateLimit(t *testing.T) {
	fleet := startFleet(t, 3, startTether, func(c *Config) { c.RateLimit = "6/m" })
	key := fleet[0].newKey("acme")
	for i := 1; i <= 6; i++ {
		r := fleet[i%3].do(req{method: http.MethodGet, path: featherBase, key: key})
		require.Equal(t, http.StatusOK, r.status, "request %d", i)
		assert.Equal(t, "6", r.header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(6-i), r.header.Get("X-RateLimit-Remaining"), "request %d", i)
	}
	for _, h := range fleet {
		r := h.do(req{method: http.MethodGet, path: featherBase, key: key})
		require.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
		retry, err := strconv.Atoi(r.header.Get("Retry-After"))
		require.NoError(t, err)
		assert.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
	}
	other := fleet[0].newKey("acme")
	assert.Equal(t, http.StatusOK, fleet[2].do(req{method: http.MethodGet, path: featherBase, key: other}).status, "another key has its own budget")
}

// Key rotation on a fleet is two steps: rotate adds the new key
// decrypt-only; promote refuses until every live replica has loaded it
// (SIGHUP), then makes it primary; after the next SIGHUP the replicas
// write with it, and re-encryption moves every value over. keys status
// shows each replica's keys.
func TestFleetKeyRotationTwoSteps(t *testing.T) {
	fleet := startFleet(t, 2, startTether)
	a := fleet[0]
	db, file := a.m.Config.DB, a.m.Config.EncryptionKeysFile
	key := a.newKey("acme")
	require.Equal(t, http.StatusCreated, ferniCreate(a, key, map[string]any{"name": "crm", "description": "d", "transport": "http",
		"endpoint": "https://mcp.example.com/", "autoConnect": false, "secrets": map[string]any{"K": "v"}}).status)

	status := func() (out struct {
		Primary string
		Keys    []struct {
			ID     string
			Values int
		}
		Replicas []struct {
			ID   string
			Keys []string
		}
	}) {
		require.NoError(t, json.Unmarshal([]byte(cliOutput(t, "keys", "status", "--db", db, "--encryption-keys-file", file)), &out))
		return out
	}
	before := status()
	old := before.Primary
	require.Len(t, before.Replicas, 2, "both replicas report themselves")

	out := cliOutput(t, "keys", "rotate", "--db", db, "--encryption-keys-file", file)
	assert.Contains(t, out, "decrypt-only")
	keys, err := secrets.LoadKeysFile(file)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	require.Equal(t, old, keys[0].ID, "the old key stays primary")
	fresh := keys[1].ID

	err = runCLI(t, "keys", "promote", fresh, "--db", db, "--encryption-keys-file", file)
	require.Error(t, err, "no replica has loaded the new key yet")
	require.NoError(t, fleet[0].m.ReloadKeys())
	err = runCLI(t, "keys", "promote", fresh, "--db", db, "--encryption-keys-file", file)
	require.Error(t, err, "one replica has not loaded it yet")
	assert.Contains(t, err.Error(), "missing on")
	require.NoError(t, fleet[1].m.ReloadKeys())
	for _, r := range status().Replicas {
		assert.Equal(t, []string{old, fresh}, r.Keys, "replica %s loaded the new key as decrypt-only", r.ID)
	}
	assert.Contains(t, cliOutput(t, "keys", "promote", fresh, "--db", db, "--encryption-keys-file", file), "now the primary")

	for _, h := range fleet {
		require.NoError(t, h.m.ReloadKeys())
	}
	require.Eventually(t, func() bool {
		s := status()
		for _, k := range s.Keys {
			if k.ID == old && k.Values > 0 {
				return false
			}
		}
		return s.Primary == fresh
	}, 30*time.Second, 50*time.Millisecond, "re-encryption moved every value to the new key")
	for _, r := range status().Replicas {
		assert.Equal(t, []string{fresh, old}, r.Keys)
	}
	require.NoError(t, runCLI(t, "keys", "retire", old, "--db", db, "--encryption-keys-file", file))
}
