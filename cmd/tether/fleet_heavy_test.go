//go:build heavy

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/secrets"
)

// roundRobin is a plain load balancer: each request goes to the next
// replica in turn, with no affinity. Like any balancer's passive health
// check, it tries the next replica when one refuses the connection (the
// request never reached it); a request a replica accepted and then lost
// is the client's 502.
type roundRobin struct {
	targets []*url.URL
	next    atomic.Int64
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	// Kept for a retry: a refused dial has consumed the body.
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	var err error
	for range len(rr.targets) {
		u := rr.targets[int(rr.next.Add(1))%len(rr.targets)]
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.Host = u.Scheme, u.Host, u.Host
		out.Body = io.NopCloser(bytes.NewReader(body))
		var resp *http.Response
		resp, err = http.DefaultTransport.RoundTrip(out)
		var op *net.OpError
		if err != nil && errors.As(err, &op) && op.Op == "dial" {
			continue
		}
		return resp, err
	}
	return nil, err
}

// startBalancer serves a round-robin proxy over the replicas.
func startBalancer(t *testing.T, procs []*proc) string {
	t.Helper()
	rr := &roundRobin{}
	for _, p := range procs {
		u, err := url.Parse(p.base)
		require.NoError(t, err)
		rr.targets = append(rr.targets, u)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(*httputil.ProxyRequest) {}, Transport: rr}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestHeavyFleetKillOneReplica: three `tether serve` processes on one
// PostgreSQL database behind a round-robin balancer take creates from 16
// clients; one replica is killed with SIGKILL mid-load. Only requests in
// flight on it may fail (at most one per client, as 502s), the load goes
// on through the others, and every acknowledged create is there after.
func TestHeavyFleetKillOneReplica(t *testing.T) {
	db := pgtest.URL(t)
	key, err := secrets.GenerateKey("k1")
	require.NoError(t, err)
	keys := filepath.Join(t.TempDir(), "fleet.keys")
	require.NoError(t, secrets.WriteKeysFile(keys, []secrets.Key{key}))
	var procs []*proc
	for _, id := range []string{"r1", "r2", "r3"} {
		procs = append(procs, startProc(t, db, nil, "--encryption-keys-file", keys, "--replica-id", id, "--db-max-conns", "8"))
	}
	lb := &proc{base: startBalancer(t, procs)}

	const clients = 16
	l := startLoad(lb, clients)
	l.waitAcked(150, 60*time.Second)
	require.NoError(t, procs[1].cmd.Process.Signal(syscall.SIGKILL))
	<-procs[1].exit
	killedAt := l.acked.Load()
	l.waitAcked(killedAt+150, 60*time.Second)
	ids, bad := l.end()
	require.GreaterOrEqual(t, int64(len(ids)), killedAt+150, "the load went on through the other replicas")
	assert.LessOrEqual(t, len(bad), clients, "only requests in flight on the killed replica failed: %v", bad)
	for _, b := range bad {
		assert.True(t, strings.HasPrefix(b, "502 "), "a failure other than a lost in-flight request: %s", b)
	}

	have := listIDs(t, lb)
	missing := 0
	for _, id := range ids {
		if !have[id] {
			missing++
		}
	}
	assert.Zero(t, missing, "acknowledged creates missing after the kill")
}

// TestHeavyFleetLegacySessionSurvivesAKill: a 2025-11-25 agent (sessions)
// behind the round-robin balancer over three replicas on PostgreSQL: its
// requests land on every replica, and when the replica that opened its
// session is killed with SIGKILL, the others go on serving it.
func TestHeavyFleetLegacySessionSurvivesAKill(t *testing.T) {
	db := pgtest.URL(t)
	key, err := secrets.GenerateKey("k1")
	require.NoError(t, err)
	keys := filepath.Join(t.TempDir(), "fleet.keys")
	require.NoError(t, secrets.WriteKeysFile(keys, []secrets.Key{key}))
	up := newUpstream(t, false)
	var procs []*proc
	for _, id := range []string{"r1", "r2", "r3"} {
		procs = append(procs, startProc(t, db, nil, "--encryption-keys-file", keys, "--replica-id", id, "--allow-cidrs", "127.0.0.0/8"))
	}
	const apiKey = "heavy-test-key-0123456789"
	lb := startBalancer(t, procs)
	body := `{"nickname":"Calc","server_url":"` + up.URL() + `","transport":"http"}`
	req, err := http.NewRequest(http.MethodPost, lb+"/v1/integrations/connections/custom-mcp", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("x-api-key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	// A fresh balancer: its first request (initialize) goes to procs[1].
	agentLB := startBalancer(t, procs)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	s, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: agentLB + "/mcp", HTTPClient: &http.Client{Transport: keyTransport{key: apiKey}},
	}, &mcp.ClientSessionOptions{ProtocolVersion: legacyProtocol})
	require.NoError(t, err)
	defer s.Close()
	require.Eventually(t, func() bool {
		res, err := s.ListTools(ctx, nil)
		return err == nil && len(res.Tools) == upstreamTools
	}, 60*time.Second, 100*time.Millisecond, "the tools are listed through every replica")

	failed := 0
	call := func(i int) {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": i, "b": 1}})
		if err != nil || res.IsError {
			failed++
			return
		}
		assert.Equal(t, map[string]any{"sum": float64(i + 1)}, res.StructuredContent)
	}
	for i := range 12 {
		call(i)
	}
	require.Zero(t, failed, "every call served while all replicas live")
	require.NoError(t, procs[1].cmd.Process.Signal(syscall.SIGKILL))
	<-procs[1].exit
	for i := range 12 {
		call(100 + i)
	}
	assert.LessOrEqual(t, failed, 1, "at most a call in flight on the killed replica fails")
}
