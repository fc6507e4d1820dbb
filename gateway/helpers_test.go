package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/store"
	"go.opentelemetry.io/otel/trace"
)

// tenantHeader names the test's tenant; the real server authenticates an
// API key instead.
const tenantHeader = "X-Test-Tenant"

// env is the real agent path: a SQLite store, a registry service whose
// prober is the pool, and the gateway handler on an httptest server.
type env struct {
	t     testing.TB
	store *store.Store
	svc   *registry.Service
	pool  *mcpclient.Pool
	gw    *gateway.Handler
	srv   *httptest.Server
}

type envOptions struct {
	pool mcpclient.PoolOptions
	// tracer, when set, traces the gateway, registry and client.
	tracer trace.TracerProvider
	// now is the registry's clock; nil is time.Now.
	now func() time.Time
	// sessionTimeout is the gateway's; 0 is its default.
	sessionTimeout time.Duration
	// reauthorize and reauthorizeEvery are the gateway's
	// Options.Reauthorize and ReauthorizeEvery.
	reauthorize      func(*http.Request) bool
	reauthorizeEvery time.Duration
	// sessionKey is the gateway's Options.SessionKey.
	sessionKey []byte
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	st := registrytest.OpenStore(t)
	for _, name := range []string{"acme", "globex"} {
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: name, Name: name})
		require.NoError(t, err)
	}

	e := &env{t: t, store: st}
	client := mcpclient.New(mcpclient.Options{Guard: e.guard(), TracerProvider: o.tracer})
	po := o.pool
	po.Client = client
	if po.ToolsChangedDebounce == 0 {
		po.ToolsChangedDebounce = 50 * time.Millisecond
	}
	e.pool = mcpclient.NewPool(po)
	e.svc = registry.NewService(registry.Options{Store: st, Prober: e.pool, TracerProvider: o.tracer, Now: o.now})
	e.gw = gateway.New(gateway.Options{
		Registry:         e.svc,
		TracerProvider:   o.tracer,
		SessionTimeout:   o.sessionTimeout,
		Reauthorize:      o.reauthorize,
		ReauthorizeEvery: o.reauthorizeEvery,
		SessionKey:       o.sessionKey,
		Key:              func(r *http.Request) string { return r.Header.Get(keyHeader) },
		Tenant: func(r *http.Request) (string, bool) {
			id := r.Header.Get(tenantHeader)
			return id, id != ""
		},
	})
	// Listeners, now that everything exists.
	e.svc.OnChange(e.pool.HandleChange)
	e.svc.OnChange(e.gw.HandleChange)
	e.pool.OnToolsChanged(func(ctx context.Context, tenantID, id string, tools []registry.ToolSpec) {
		_ = e.svc.RecordTools(ctx, tenantID, id, tools)
	})
	e.srv = httptest.NewServer(e.gw)
	t.Cleanup(func() {
		// Agents' sessions hold streams open: end them before the server
		// waits for its requests.
		e.gw.Close()
		e.srv.Close()
		e.svc.Close()
		e.pool.Close()
	})
	return e
}

// connOptions describe one connection to create.
type connOptions struct {
	name      string
	transport registry.Transport
	endpoint  string
	timeoutMS int
	persona   string
	headers   registry.Sensitive
	secrets   registry.Sensitive
	policy    registry.ToolPolicy
}

// connect registers a connection for tenant and probes it, which syncs its
// tools.
func (e *env) connect(tenant string, o connOptions) *registry.Connection {
	e.t.Helper()
	ctx := context.Background()
	if o.timeoutMS == 0 {
		o.timeoutMS = 5000
	}
	c, err := e.svc.Create(ctx, tenant, registry.NewConnection{
		Name: o.name, Transport: o.transport, Endpoint: o.endpoint, Enabled: true,
		TimeoutMS: o.timeoutMS, PersonaID: o.persona, Headers: o.headers, Secrets: o.secrets, ToolPolicy: o.policy,
	})
	require.NoError(e.t, err)
	out, err := e.svc.Test(ctx, tenant, c.ID)
	require.NoError(e.t, err)
	require.True(e.t, out.Connected, "probe of %s: %v", o.name, out.Err)
	c, err = e.svc.Get(ctx, tenant, c.ID)
	require.NoError(e.t, err)
	return c
}

// toolID finds a connection's tool by its upstream name.
func (e *env) toolID(tenant, connID, name string) string {
	e.t.Helper()
	_, tools, err := e.svc.Tools(context.Background(), tenant, connID)
	require.NoError(e.t, err)
	for _, t := range tools {
		if t.Name == name {
			return t.ID
		}
	}
	e.t.Fatalf("no tool %q on %s", name, connID)
	return ""
}

// agentOptions describe an agent's connection to the gateway.
type agentOptions struct {
	tenant        string
	persona       string // as ?persona=
	personaHeader string // as X-Persona-Id
	onListChanged func()
	// version is the protocol version the agent speaks; "" is
	// legacyVersion, the newest revision with sessions.
	version string
	header  http.Header // sent with every request
	// elicit, when set, answers the tools' questions (and declares the
	// elicitation capability).
	elicit func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error)
}

// Protocol revisions agents speak in these tests: the newest with
// sessions, the one before it, and the first without (stateless).
const (
	legacyVersion = "2025-11-25"
	olderVersion  = "2025-06-18"
	newVersion    = "2026-07-28"
)

// agent connects a real go-sdk client to the gateway.
func (e *env) agent(o agentOptions) *mcp.ClientSession {
	e.t.Helper()
	cs, err := e.dial(o)
	require.NoError(e.t, err)
	return cs
}

func (e *env) dial(o agentOptions) (*mcp.ClientSession, error) {
	endpoint := e.srv.URL + "/mcp"
	if o.persona != "" {
		endpoint += "?persona=" + url.QueryEscape(o.persona)
	}
	hdr := o.header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if o.tenant != "" {
		hdr.Set(tenantHeader, o.tenant)
	}
	if o.personaHeader != "" {
		hdr.Set(gateway.PersonaHeader, o.personaHeader)
	}
	opts := &mcp.ClientOptions{ElicitationHandler: o.elicit}
	if o.onListChanged != nil {
		opts.ToolListChangedHandler = func(context.Context, *mcp.ToolListChangedRequest) { o.onListChanged() }
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	version := o.version
	if version == "" {
		version = legacyVersion
	}
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: headerTransport{hdr}},
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { _ = cs.Close() })
	return cs, nil
}

// headerTransport adds fixed headers to every request.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// toolNames lists the agent's tools by name.
func toolNames(t testing.TB, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for _, tool := range listTools(t, cs) {
		names = append(names, tool.Name)
	}
	return names
}

func listTools(t testing.TB, cs *mcp.ClientSession) []*mcp.Tool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*mcp.Tool
	for tool, err := range cs.Tools(ctx, nil) {
		require.NoError(t, err)
		out = append(out, tool)
	}
	return out
}

// callTool calls a tool through the gateway; the result must not be a
// protocol error.
func callTool(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	require.NoError(t, err)
	return res
}

// text is the first text content of a result.
func text(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}

// structured is a result's structured content as a JSON object.
func structured(t testing.TB, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// newUpstream is a customer's MCP server serving tools add, echo, lookup
// (reports the arguments it received) and slow (blocks until the call is
// cancelled).
func newUpstream(t testing.TB, name string, sse bool) *mcptest.Upstream {
	t.Helper()
	return mcptest.New(t, mcptest.Options{Name: name, SSE: sse})
}

// eventually waits for cond, polling.
func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, msg)
}

// forEachVersion runs test once per protocol revision agents may speak:
// with sessions (legacyVersion, olderVersion) and stateless (newVersion).
func forEachVersion(t *testing.T, test func(t *testing.T, version string)) {
	t.Parallel()
	for _, v := range []string{olderVersion, legacyVersion, newVersion} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			test(t, v)
		})
	}
}

// guard is the SSRF guard of the tests' upstreams: loopback allowed.
func (e *env) guard() *netguard.Guard {
	return netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
}

// sessionRequest sends a raw request to base's /mcp (query appended) as
// tenant, in the legacy session sessionID at version. The caller reads or
// closes the body (a GET that is served would stream).
func sessionRequest(t testing.TB, base, query, method, tenant, sessionID, version, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, base+"/mcp"+query, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(tenantHeader, tenant)
	req.Header.Set("Mcp-Session-Id", sessionID)
	req.Header.Set("Mcp-Protocol-Version", version)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}
