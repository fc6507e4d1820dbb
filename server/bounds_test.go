package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/metrics"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/server"
)

// boundsServer is a server.New over a real store in a temporary directory,
// with metrics on, for the tests of what an unauthenticated or hostile
// caller can make tether hold.
type boundsServer struct {
	srv     *server.Server
	metrics *metrics.Metrics
	svc     *registry.Service
	key     string
}

// newBoundsServer starts a server over a fresh database with one API key
// for tenant "acme". opts adjusts the registry options before the service
// is built.
func newBoundsServer(t *testing.T, opts ...func(*registry.Options)) *boundsServer {
	t.Helper()
	ctx := context.Background()
	st := registrytest.OpenStore(t)
	ro := registry.Options{Store: st}
	for _, o := range opts {
		o(&ro)
	}
	svc := registry.NewService(ro)
	t.Cleanup(svc.Close)
	keys := registry.NewKeys(st)
	apiKey := "tth_bounds_test_key_0123456789"
	_, err := keys.Import(ctx, "acme", apiKey)
	require.NoError(t, err)
	met := metrics.New()
	srv, err := server.New(server.Options{Connections: svc, Tools: svc, Probes: svc, OAuth: svc, Agent: svc, Keys: keys, Metrics: met})
	require.NoError(t, err)
	return &boundsServer{srv: srv, metrics: met, svc: svc, key: apiKey}
}

// httpLabelValues returns the distinct values of one label of
// tether_http_requests_total.
func httpLabelValues(t *testing.T, m *metrics.Metrics, label string) map[string]bool {
	t.Helper()
	text, err := m.Text()
	require.NoError(t, err)
	out := map[string]bool{}
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "tether_http_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, label+`="`)
		v, _, _ := strings.Cut(rest, `"`)
		out[v] = true
	}
	return out
}

// randomLetters is a made-up method token.
func randomLetters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + rand.IntN(26))
	}
	return string(b)
}

// TestMetricLabelsAreBounded: requests with made-up methods, sent without
// a key, must not each add a label value (the finding: 6,000 such requests
// grew /metrics to 250 MB). Methods the API does not route count as
// "other"; paths no route matches count as "unmatched".
func TestMetricLabelsAreBounded(t *testing.T) {
	b := newBoundsServer(t)
	ts := httptest.NewServer(b.srv)
	t.Cleanup(ts.Close)

	const n = 50
	for i := range n {
		// Through a real socket, as the attack was sent: net/http's
		// client would refuse some of these methods itself.
		path := []string{"/nope", "/api/v2/developers/mcp-servers", fmt.Sprintf("/x/%d", i)}[i%3]
		status := rawRequest(t, ts.Listener.Addr().String(), "M"+randomLetters(200)+" "+path+" HTTP/1.1")
		assert.NotEqual(t, 0, status)
	}
	// And through the handler directly, with methods net/http accepts.
	for i := range n {
		req := httptest.NewRequest("PROPFIND"+randomLetters(5), fmt.Sprintf("/healthz?i=%d", i), nil)
		b.srv.ServeHTTP(httptest.NewRecorder(), req)
	}

	// Only HTTP's own method names, plus "other"; routes are templates
	// (or "unmatched"); statuses are the few this test provokes.
	methods := httpLabelValues(t, b.metrics, "method")
	assert.True(t, methods["other"], "made-up methods count as other")
	assert.LessOrEqual(t, len(methods), 8, "method label values: %s", sample(methods))
	routes := httpLabelValues(t, b.metrics, "route")
	assert.LessOrEqual(t, len(routes), 4, "route label values: %s", sample(routes))
	for r := range routes {
		assert.False(t, strings.HasPrefix(r, "/x/"), "route label %q is a raw path", r)
	}
	statuses := httpLabelValues(t, b.metrics, "status")
	assert.LessOrEqual(t, len(statuses), 4, "status label values: %s", sample(statuses))
}

// rawRequest writes one request line (plus Host and Connection: close) and
// returns the response status.
func rawRequest(t *testing.T, addr, line string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "%s\r\nHost: tether\r\nConnection: close\r\n\r\n", line)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// sample names up to five label values, shortened, for a failure message.
func sample(m map[string]bool) string {
	var out []string
	for k := range m {
		if len(out) == 5 {
			out = append(out, "...")
			break
		}
		if len(k) > 20 {
			k = k[:20] + "..."
		}
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}

// failingProber answers every probe and call with a connection failure.
type failingProber struct{}

func (failingProber) Probe(context.Context, *registry.Connection) (*registry.ProbeResult, error) {
	return nil, registry.ErrUpstreamConnection
}

func (failingProber) CallTool(context.Context, *registry.Connection, string, map[string]any) (map[string]any, error) {
	return nil, registry.ErrUpstreamConnection
}

// TestConnectionCapInBothDialects: a create past the tenant's connection
// cap is refused in each dialect's error shape.
func TestConnectionCapInBothDialects(t *testing.T) {
	b := newBoundsServer(t, func(o *registry.Options) {
		o.Prober = failingProber{}
		o.Limits.MaxConnectionsPerTenant = 1
	})
	do := func(path, body string) (int, map[string]any) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("x-api-key", b.key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		b.srv.ServeHTTP(rec, req)
		var out map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
		return rec.Code, out
	}
	const ferniPath, featherPath = "/api/v2/developers/mcp-servers", "/v1/integrations/connections/custom-mcp"
	status, _ := do(ferniPath, `{"name":"crm","description":"CRM","transport":"http","endpoint":"https://mcp.example.com/mcp","autoConnect":false}`)
	require.Equal(t, http.StatusCreated, status)

	status, body := do(ferniPath, `{"name":"crm-2","description":"CRM","transport":"http","endpoint":"https://mcp.example.com/mcp","autoConnect":false}`)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, false, body["success"])
	if e, ok := body["error"].(map[string]any); assert.True(t, ok, "%v", body) {
		assert.Equal(t, "LIMIT_EXCEEDED", e["code"])
		assert.Contains(t, e["message"], "limit 1")
	}

	status, body = do(featherPath, `{"nickname":"CRM","server_url":"https://mcp.example.com/mcp","transport":"http","auth_type":"none"}`)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "limit_exceeded", body["error"])
	assert.Contains(t, body["message"], "limit 1")
}
