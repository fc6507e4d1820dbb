package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// traceUpstream is a customer's MCP server whose one tool, reveal, answers
// with the credential it was sent (a server that reflects a secret), and
// which records the trace context of every tools/call: the traceparent
// header of the HTTP request and the traceparent in the call's _meta.
type traceUpstream struct {
	*mcptest.Upstream

	mu    sync.Mutex
	calls []tracedCall
}

// tracedCall is what one tools/call carried.
type tracedCall struct {
	header, meta string // traceparent as a header, and in _meta ("" for none)
}

func newTraceUpstream(t testing.TB) *traceUpstream {
	u := &traceUpstream{}
	reveal := func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{Name: "reveal", Description: "echoes its credential", InputSchema: map[string]any{"type": "object"}},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				c := tracedCall{}
				if req.Extra != nil {
					c.header = req.Extra.Header.Get("Traceparent")
				}
				if tp, ok := req.Params.Meta["traceparent"].(string); ok {
					c.meta = tp
				}
				cred := ""
				if req.Extra != nil {
					cred = req.Extra.Header.Get("Authorization")
				}
				u.mu.Lock()
				u.calls = append(u.calls, c)
				u.mu.Unlock()
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "you sent " + cred}}}, nil
			})
	}
	u.Upstream = mcptest.New(t, mcptest.Options{Name: "traced", Tools: []mcptest.Tool{reveal}})
	return u
}

// lastCall is the trace context of the latest tools/call.
func (u *traceUpstream) lastCall(t *testing.T) tracedCall {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.NotEmpty(t, u.calls, "the upstream got no tools/call")
	return u.calls[len(u.calls)-1]
}

// newTraceID and newSpanID are random W3C ids in hex.
func newTraceID() string { return randomHex(16) }
func newSpanID() string  { return randomHex(8) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// agentTransport is an agent's HTTP client: it sends the API key and,
// when set, its own traceparent, and keeps the response headers of the
// last POST (after a CallTool, the tools/call's).
type agentTransport struct {
	key, traceparent string

	mu       sync.Mutex
	lastCall http.Header
}

func (a *agentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("x-api-key", a.key)
	if a.traceparent != "" {
		r.Header.Set("Traceparent", a.traceparent)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil && r.Method == http.MethodPost {
		a.mu.Lock()
		a.lastCall = resp.Header.Clone()
		a.mu.Unlock()
	}
	return resp, err
}

func (a *agentTransport) callHeaders() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastCall
}

// connectAgent opens an MCP session on tether's /mcp through at.
func connectAgent(t *testing.T, h *harness, at *agentTransport) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	s, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: h.base + "/mcp", HTTPClient: &http.Client{Transport: at}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// tracing turns trace export on, to rcv, with a short batch delay.
func tracing(rcv *otlpReceiver) func(*Config) {
	return func(c *Config) {
		c.Tracing = true
		c.TracingEndpoint = rcv.URL
		c.TracingBatchDelay = 20 * time.Millisecond
	}
}

// bearerConnection connects up with a bearer token and waits for its tools.
func bearerConnection(t *testing.T, h *harness, key, url, token string) string {
	t.Helper()
	r := featherConnect(h, key, map[string]any{"nickname": "Calc", "server_url": url, "transport": "http", "auth_type": "bearer", "token": token})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["connection_id"].(string)
	waitToolsStatus(t, h, key, id, "synced")
	return id
}

// TestTraceFromAgentThroughUpstream: one tool call through /mcp with the
// agent's traceparent is one trace, exported over OTLP/HTTP: the agent's
// span → tether's HTTP span → tether's tools/call span → tether's
// upstream span, whose context the upstream receives as a traceparent
// header and in the call's _meta. No span carries the API key, the bearer
// token, the header it travels in, the secret the upstream reflects, or
// the agent's arguments. Responses carry X-Request-Id and traceparent,
// and the request's log line names both ids.
func TestTraceFromAgentThroughUpstream(t *testing.T) {
	rcv := newOTLPReceiver(t)
	up := newTraceUpstream(t)
	h := startTether(t, allowLoopback, tracing(rcv))
	key := h.newKey("acme")
	token := "tok-" + randomHex(12)
	connID := bearerConnection(t, h, key, up.URL(), token)

	agentTrace, agentSpan := newTraceID(), newSpanID()
	at := &agentTransport{key: key, traceparent: "00-" + agentTrace + "-" + agentSpan + "-01"}
	s := connectAgent(t, h, at)
	argSecret := "arg-" + randomHex(8)
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_reveal", Arguments: map[string]any{"note": argSecret}})
	require.NoError(t, err)
	require.False(t, res.IsError, "%v", res.Content)
	text := res.Content[0].(*mcp.TextContent).Text
	assert.NotContains(t, text, token, "tether redacts the secret the upstream reflected")

	// The spans of the call, as the collector receives them.
	var msg, upSpan, httpSpan otlpSpan
	require.Eventually(t, func() bool {
		var ok bool
		if msg, ok = rcv.find(func(s otlpSpan) bool { return s.Name == "tools/call calc_reveal" }); !ok {
			return false
		}
		if upSpan, ok = rcv.find(func(s otlpSpan) bool { return s.Name == "tools/call reveal" && s.ParentID == msg.SpanID }); !ok {
			return false
		}
		httpSpan, ok = rcv.find(func(s otlpSpan) bool { return s.SpanID == msg.ParentID })
		return ok
	}, 30*time.Second, 20*time.Millisecond, "spans received: %v", rcv.Spans())

	// One trace, from the agent's span down.
	for _, sp := range []otlpSpan{httpSpan, msg, upSpan} {
		assert.Equal(t, agentTrace, sp.TraceID, "%s", sp)
		assert.Equal(t, "tether", sp.Resource["service.name"])
	}
	assert.Equal(t, agentSpan, httpSpan.ParentID, "tether's HTTP span is a child of the agent's")
	assert.Equal(t, "POST /mcp", httpSpan.Name)
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, httpSpan.Kind)
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, msg.Kind)
	assert.Equal(t, "tools/call", msg.Attrs["mcp.method.name"])
	assert.Equal(t, "calc_reveal", msg.Attrs["gen_ai.tool.name"])
	assert.NotEmpty(t, msg.Attrs["tether.tenant_id"])
	assert.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, upSpan.Kind)
	assert.Equal(t, connID, upSpan.Attrs["tether.connection_id"])
	assert.Equal(t, "streamable_http", upSpan.Attrs["tether.transport"])
	assert.NotEmpty(t, upSpan.Attrs["mcp.protocol.version"])
	assert.Equal(t, "ok", upSpan.Attrs["tether.outcome"])
	assert.Equal(t, "200", upSpan.Attrs["http.response.status_code"])
	assert.Equal(t, "127.0.0.1", upSpan.Attrs["server.address"])

	// The upstream got the same trace, under tether's upstream span.
	want := "00-" + agentTrace + "-" + upSpan.SpanID + "-01"
	call := up.lastCall(t)
	assert.Equal(t, want, call.header, "traceparent header")
	assert.Equal(t, want, call.meta, "_meta.traceparent (SEP-414)")

	// The agent's response names the request and tether's span.
	hdr := at.callHeaders()
	require.NotNil(t, hdr)
	assert.NotEmpty(t, hdr.Get("X-Request-Id"))
	assert.Equal(t, "00-"+agentTrace+"-"+httpSpan.SpanID+"-01", hdr.Get("Traceparent"))

	// So does an error response, and its log line names both.
	r := h.do(req{method: http.MethodGet, path: featherBase + "/00000000-0000-4000-8000-000000000000", key: key})
	require.Equal(t, http.StatusNotFound, r.status)
	rid, tp := r.header.Get("X-Request-Id"), r.header.Get("Traceparent")
	require.NotEmpty(t, rid)
	parts := strings.Split(tp, "-")
	require.Len(t, parts, 4, "traceparent %q", tp)
	require.Eventually(t, func() bool {
		_, ok := rcv.find(func(s otlpSpan) bool {
			return s.TraceID == parts[1] && s.SpanID == parts[2] && s.Name == "GET /v1/integrations/connections/:connection_id" &&
				s.Attrs["http.response.status_code"] == "404" && s.Attrs["tether.tenant_id"] != ""
		})
		return ok
	}, 30*time.Second, 20*time.Millisecond, "no span for the 404: %v", rcv.Spans())
	line := logLine(t, h, func(l map[string]any) bool { return l["msg"] == "request" && l["request_id"] == rid })
	assert.Equal(t, parts[1], line["trace_id"])

	// Probes are traced too (the tool sync after the connect).
	_, ok := rcv.find(func(s otlpSpan) bool { return s.Name == "probe" && s.Attrs["tether.connection_id"] == connID })
	assert.True(t, ok, "no probe span")

	// Nothing secret in any span: not the API key, the token, the header
	// that carried it, what the upstream reflected, or the arguments.
	require.NoError(t, h.stop()) // flushes the last spans
	for _, sp := range rcv.Spans() {
		for k, v := range sp.Attrs {
			for _, secret := range []string{key, token, "Bearer", argSecret} {
				assert.NotContains(t, v, secret, "span %q attribute %s", sp.Name, k)
				assert.NotContains(t, k, secret, "span %q", sp.Name)
			}
		}
		assert.NotContains(t, sp.Name, token)
	}
	h.assertNoLeak(token, key, argSecret)
}

// TestTraceContextPassesThroughWhenTracingOff: tracing is off by default:
// tether exports nothing and adds no trace context of its own, but hands
// the agent's on unchanged (header and _meta), so a platform that traces
// its agents still sees the upstream in the agent's trace.
func TestTraceContextPassesThroughWhenTracingOff(t *testing.T) {
	up := newTraceUpstream(t)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	bearerConnection(t, h, key, up.URL(), "tok-"+randomHex(8))

	// No trace context from the agent: none upstream, none back.
	plain := &agentTransport{key: key}
	_, err := connectAgent(t, h, plain).CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_reveal", Arguments: map[string]any{}})
	require.NoError(t, err)
	assert.Equal(t, tracedCall{}, up.lastCall(t))
	for _, hd := range up.Headers() {
		assert.Empty(t, hd.Get("Traceparent"))
	}
	assert.Empty(t, plain.callHeaders().Get("Traceparent"))
	assert.NotEmpty(t, plain.callHeaders().Get("X-Request-Id"))

	// The agent's trace context goes upstream as it came.
	tp := "00-" + newTraceID() + "-" + newSpanID() + "-01"
	traced := &agentTransport{key: key, traceparent: tp}
	_, err = connectAgent(t, h, traced).CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_reveal", Arguments: map[string]any{}})
	require.NoError(t, err)
	assert.Equal(t, tracedCall{header: tp, meta: tp}, up.lastCall(t))
	assert.Equal(t, tp, traced.callHeaders().Get("Traceparent"))
}

// TestTraceExportToUnreachableCollector: with the collector down, tool
// calls work as before, and the failed exports cost one log line, not one
// per export.
func TestTraceExportToUnreachableCollector(t *testing.T) {
	up := newTraceUpstream(t)
	h := startTether(t, allowLoopback, func(c *Config) {
		c.Tracing = true
		c.TracingEndpoint = "http://" + mcptest.ClosedAddr(t) + "/v1/traces"
		c.TracingBatchDelay = 10 * time.Millisecond
	})
	key := h.newKey("acme")
	bearerConnection(t, h, key, up.URL(), "tok-"+randomHex(8))
	s := connectAgent(t, h, &agentTransport{key: key})
	call := func() {
		res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_reveal", Arguments: map[string]any{}})
		require.NoError(t, err)
		require.False(t, res.IsError)
	}
	call()
	require.Eventually(t, func() bool { return exportFailures(h) == 1 }, 30*time.Second, 10*time.Millisecond)
	// More spans, then the exit's flush: another failed export at least,
	// and still one line.
	for range 5 {
		call()
	}
	require.NoError(t, h.stop())
	assert.Equal(t, 1, exportFailures(h))
}

// exportFailures counts the "trace export failed" log lines.
func exportFailures(h *harness) int {
	return strings.Count(h.logs.String(), `"msg":"trace export failed; spans dropped"`)
}

// logLine returns the first JSON log line that match accepts.
func logLine(t *testing.T, h *harness, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		for _, raw := range strings.Split(h.logs.String(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(raw), &l) == nil && match(l) {
				found = l
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "no such log line in:\n%s", h.logs.String())
	return found
}
