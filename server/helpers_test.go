package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/internal/spectest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/server"
	"github.com/tether-dev/tether/store"
)

const (
	ferniBase   = "/api/v2/developers/mcp-servers"
	featherBase = "/v1/integrations/connections"
)

// testServer is server.New over a real registry.Service on a SQLite store
// in t.TempDir(), with a fake prober and the default URL policy, served by
// httptest. Every response it gets is checked against openapi.yaml and
// kept for leak checks.
type testServer struct {
	t      *testing.T
	url    string
	svc    *registry.Service
	store  *store.Store
	keys   *registry.Keys
	prober *registrytest.Prober
	// key is an API key of tenant "acme", whose id is tenant.
	key, tenant string

	mu     sync.Mutex
	bodies [][]byte
}

// setup is what a test may adjust before the server starts.
type setup struct {
	registry registry.Options
	// server adjusts the server's options once they hold the real
	// service (a test may wrap one of its interfaces).
	server []func(*server.Options)
}

func withRegistry(f func(*registry.Options)) func(*setup) {
	return func(s *setup) { f(&s.registry) }
}

func withServer(f func(*server.Options)) func(*setup) {
	return func(s *setup) { s.server = append(s.server, f) }
}

func newTestServer(t *testing.T, mods ...func(*setup)) *testServer {
	t.Helper()
	st := registrytest.OpenStore(t)
	prober := &registrytest.Prober{}
	prober.SetTools("add", "echo")
	cfg := setup{registry: registry.Options{Store: st, URLs: netguard.New(netguard.Options{}), Prober: prober}}
	for _, mod := range mods {
		mod(&cfg)
	}
	svc := registry.NewService(cfg.registry)
	t.Cleanup(svc.Close)
	keys := registry.NewKeys(st)
	const key = "tth_server_test_key_0123456789"
	k, err := keys.Import(context.Background(), "acme", key)
	require.NoError(t, err)
	opts := server.Options{Connections: svc, Tools: svc, Probes: svc, OAuth: svc, Agent: svc, Keys: keys,
		Audit: registry.NewAuditLog(st, nil), Admin: keys}
	for _, f := range cfg.server {
		f(&opts)
	}
	srv, err := server.New(opts)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testServer{t: t, url: hs.URL, svc: svc, store: st, keys: keys, prober: prober, key: key, tenant: k.TenantID}
}

// newKey creates an API key for another tenant.
func (ts *testServer) newKey(tenant string) string {
	ts.t.Helper()
	key, _, err := ts.keys.Create(context.Background(), tenant)
	require.NoError(ts.t, err)
	return key
}

// req describes one request; key "" sends the acme key, noKey sends none.
type req struct {
	method, path string
	key          string
	noKey        bool
	bearer       string // sent as Authorization: Bearer, instead of a key
	body         any    // marshalled as JSON unless raw is set
	raw          []byte // sent as is
	contentType  string // default application/json when there is a body
	header       http.Header
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes an object body.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// list decodes an array body.
func (r response) list(t *testing.T) []any {
	t.Helper()
	var v []any
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// data is a Ferni success body's data object.
func (r response) data(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.json(t)["data"].(map[string]any)
	require.True(t, ok, "no data object: %s", r.body)
	return d
}

// ferniCode is a Ferni error body's code.
func (r response) ferniCode(t *testing.T) any {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	require.True(t, ok, "no Ferni error object: %s", r.body)
	return e["code"]
}

// do sends r and checks the response against openapi.yaml.
func (ts *testServer) do(r req) response {
	ts.t.Helper()
	header := http.Header{}
	for k, vs := range r.header {
		header[k] = vs
	}
	switch {
	case r.bearer != "":
		header.Set("Authorization", "Bearer "+r.bearer)
	case r.noKey:
	case r.key != "":
		header.Set("x-api-key", r.key)
	default:
		header.Set("x-api-key", ts.key)
	}
	resp, got := spectest.Send(ts.t, http.DefaultClient, ts.url, spectest.Request{
		Method: r.method, Path: r.path, Body: r.body, Raw: r.raw, ContentType: r.contentType, Header: header})
	ts.mu.Lock()
	ts.bodies = append(ts.bodies, got)
	ts.mu.Unlock()
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

// assertNoLeak fails if any response body so far contains one of values.
func (ts *testServer) assertNoLeak(values ...string) {
	ts.t.Helper()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, v := range values {
		for _, b := range ts.bodies {
			if bytes.Contains(b, []byte(v)) {
				ts.t.Errorf("secret %q appeared in a response: %s", v, b)
			}
		}
	}
}

// ferniCreate registers a server through Ferni and requires a 201.
func (ts *testServer) ferniCreate(body map[string]any) map[string]any {
	ts.t.Helper()
	r := ts.do(req{method: http.MethodPost, path: ferniBase, body: body})
	require.Equal(ts.t, http.StatusCreated, r.status, "%s", r.body)
	return r.data(ts.t)
}

// featherConnect connects a server through Feather and requires a 201.
func (ts *testServer) featherConnect(body map[string]any) string {
	ts.t.Helper()
	r := ts.do(req{method: http.MethodPost, path: featherBase + "/custom-mcp", body: body})
	require.Equal(ts.t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(ts.t)["connection_id"].(string)
}

// validFerni is a create body that passes every rule, without autoConnect.
func validFerni(name string) map[string]any {
	return map[string]any{
		"name": name, "description": "CRM integration", "transport": "http",
		"endpoint": "https://mcp.example.com/mcp", "autoConnect": false,
	}
}

// waitToolsStatus polls a Feather connection until its tools_status is
// want (background syncs run on the fake prober, so this is quick).
func (ts *testServer) waitToolsStatus(id, want string) map[string]any {
	ts.t.Helper()
	var c map[string]any
	require.Eventually(ts.t, func() bool {
		c = ts.do(req{method: http.MethodGet, path: featherBase + "/" + id}).json(ts.t)
		return c["tools_status"] == want
	}, 10*time.Second, 5*time.Millisecond, "tools_status never became %s", want)
	return c
}
