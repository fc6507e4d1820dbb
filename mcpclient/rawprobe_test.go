package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// wireRequest is a request as the server received it, less what differs
// between two clients by design: the JSON-RPC id, and the session id's
// value (the server's, new for each session).
type wireRequest struct {
	Method string
	Body   map[string]any
	Header map[string]string
}

// wireHeaders are the headers a probe's requests are compared on.
var wireHeaders = []string{"Content-Type", "Accept", "Mcp-Protocol-Version", "Mcp-Method", "Mcp-Name", "X-Api-Key", "Last-Event-Id"}

// probeUpstream is a real go-sdk server over streamable HTTP whose answer
// to a JSON-RPC method a test may script, recording every request.
type probeUpstream struct {
	inner  http.Handler
	script map[string]answerFunc

	mu   sync.Mutex
	seen []wireRequest
}

func (u *probeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var msg map[string]any
	_ = json.Unmarshal(body, &msg)
	id, _ := json.Marshal(msg["id"])
	delete(msg, "id")
	seen := wireRequest{Method: r.Method, Body: msg, Header: map[string]string{}}
	for _, h := range wireHeaders {
		if v := r.Header.Get(h); v != "" {
			seen.Header[h] = v
		}
	}
	if r.Header.Get("Mcp-Session-Id") != "" {
		seen.Header["Mcp-Session-Id"] = "(set)"
	}
	u.mu.Lock()
	u.seen = append(u.seen, seen)
	u.mu.Unlock()
	method, _ := msg["method"].(string)
	if f := u.script[method]; f != nil && r.Method == http.MethodPost {
		f(w, r, id)
		return
	}
	u.inner.ServeHTTP(w, r)
}

// take returns the requests seen so far and forgets them.
func (u *probeUpstream) take() []wireRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.seen
	u.seen = nil
	return out
}

// deletes counts the DELETEs seen so far.
func (u *probeUpstream) deletes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, r := range u.seen {
		if r.Method == http.MethodDelete {
			n++
		}
	}
	return n
}

// probeOutcome is what a probe came to, less its latency.
type probeOutcome struct {
	Result                *registry.ProbeResult
	Kind                  error
	Message, WWWAuth      string
	Status                int
	Transport             registry.Transport
	NotSpoken, NotAnError bool
}

func probeOutcomeOf(res *registry.ProbeResult, err error) probeOutcome {
	if res != nil {
		res.Latency = 0
	}
	o := probeOutcome{Result: res}
	if err != nil {
		e, ok := err.(*Error)
		if !ok {
			return probeOutcome{NotAnError: true, Message: err.Error()}
		}
		o.Kind, o.Message, o.Status, o.WWWAuth, o.Transport, o.NotSpoken = e.Kind, e.Error(), e.HTTPStatus, e.WWWAuthenticate, e.Transport, e.notSpoken
	}
	return o
}

// richServer is a go-sdk server whose tools use every field a tool
// definition has: title, annotations (set and unset hints), output
// schema, icons, _meta, a schema with $defs, a tool with no description.
func richServer(pageSize int) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "rich", Title: "Rich server", Version: "4.5.6"}, &mcp.ServerOptions{PageSize: pageSize})
	no, yes := false, true
	handler := func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	}
	s.AddTool(&mcp.Tool{
		Name: "delete_file", Title: "Delete a file", Description: "Deletes one file.",
		InputSchema: map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string", "minLength": 1}}, "required": []any{"path"}},
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes, IdempotentHint: true, OpenWorldHint: &no, Title: "Delete"},
		Meta:        mcp.Meta{"vendor/x": map[string]any{"n": 1.5}},
		Icons:       []mcp.Icon{{Source: "https://example.com/i.png", MIMEType: "image/png"}},
	}, handler)
	s.AddTool(&mcp.Tool{
		Name: "read", Description: "Reads.",
		InputSchema:  map[string]any{"type": "object", "$defs": map[string]any{"p": map[string]any{"type": "string"}}, "properties": map[string]any{"p": map[string]any{"$ref": "#/$defs/p"}}},
		OutputSchema: map[string]any{"type": "object", "properties": map[string]any{"text": map[string]any{"type": "string"}}},
		Annotations:  &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, handler)
	s.AddTool(&mcp.Tool{Name: "bare", InputSchema: map[string]any{"type": "object"}}, handler)
	for i := range 4 {
		s.AddTool(&mcp.Tool{Name: fmt.Sprintf("t%d", i), Description: "ünïcode \u2028 and <html> & \"quotes\"", InputSchema: map[string]any{"type": "object"}}, handler)
	}
	return s
}

// listAnswer answers tools/list with the given result.
func listAnswer(result string) answerFunc { return jsonAnswer(result) }

// TestRawProbeIsGoSDKProbe: a probe from a remembered pre-2026-07-28
// version over streamable HTTP is made raw, and comes to what a probe
// through go-sdk comes to: the same result (server info, version, every
// tool field, paging, cache hint) or the same error (kind, message,
// status, challenge), from the same requests (bodies and headers). Each
// case is probed both ways against the same server.
func TestRawProbeIsGoSDKProbe(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, sdkMaxDepth+1) + "1" + strings.Repeat("}", sdkMaxDepth+1)
	cases := []struct {
		name    string
		version string
		opts    *mcp.StreamableHTTPOptions
		pages   int
		script  map[string]answerFunc
		failure bool
		// stateless: the server serves 2026-07-28 only, without sessions
		// (nothing to DELETE).
		stateless bool
	}{
		{name: "event stream answers"},
		{name: "JSON answers", opts: &mcp.StreamableHTTPOptions{JSONResponse: true}},
		{name: "an older version remembered", version: "2025-06-18"},
		{name: "the oldest version remembered", version: "2024-11-05"},
		{name: "paged listing", pages: 2},
		{name: "a cache hint and fields go-sdk does not know", script: map[string]answerFunc{"tools/list": listAnswer(
			`{"ttlMs":60000,"extra":1,"tools":[{"name":"x","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":false,"destructiveHint":false,"custom":"y"},"unknown":{"z":[1,2]}}]}`)}},
		{name: "keys in another case are not fields", script: map[string]answerFunc{"tools/list": listAnswer(
			`{"tools":[{"name":"x","NAME":"y","Description":"D","inputSchema":{"type":"object"},"annotations":{"ReadOnlyHint":true}}]}`)}},
		{name: "a schema that is not an object", script: map[string]answerFunc{"tools/list": listAnswer(
			`{"tools":[{"name":"x","inputSchema":"no"},{"name":"y","inputSchema":null,"outputSchema":[1]}]}`)}},
		{name: "a null in the list", script: map[string]answerFunc{"tools/list": listAnswer(
			`{"tools":[null,{"name":"x","inputSchema":{"type":"object"}},null]}`)}},
		{name: "a repeated cursor", script: map[string]answerFunc{"tools/list": listAnswer(
			`{"tools":[{"name":"x","inputSchema":{"type":"object"}}],"nextCursor":"c"}`)}},
		{name: "a listing nested too deep", failure: true, script: map[string]answerFunc{"tools/list": listAnswer(
			`{"tools":[{"name":"x","inputSchema":` + deep + `}]}`)}},
		{name: "a listing of the wrong shape", failure: true, script: map[string]answerFunc{"tools/list": listAnswer(`{"tools":{"name":"x"}}`)}},
		{name: "tools/list answered with an empty body", failure: true, script: map[string]answerFunc{"tools/list": statusAnswer(http.StatusOK, "application/json", "")}},
		{name: "tools/list answered with an array", failure: true, script: map[string]answerFunc{"tools/list": statusAnswer(http.StatusOK, "application/json", `[1]`)}},
		{name: "tools/list answered without an id", failure: true, script: map[string]answerFunc{"tools/list": statusAnswer(http.StatusOK, "application/json", `{"jsonrpc":"2.0","result":{"tools":[]}}`)}},
		{name: "tools/list answered with another version tag", failure: true, script: map[string]answerFunc{"tools/list": sseAnswer(`{"jsonrpc":"1.0","id":5,"result":{"tools":[]}}`)}},
		{name: "tools/list answered with an error that is not an object", failure: true, script: map[string]answerFunc{"tools/list": statusAnswer(http.StatusOK, "application/json", `{"jsonrpc":"2.0","id":5,"error":"x"}`)}},
		{name: "tools/list as an event stream with an event that is not JSON first", failure: true, script: map[string]answerFunc{"tools/list": sseAnswer(
			`{not json`, `{"jsonrpc":"2.0","id":ID,"result":{"tools":[]}}`)}},
		{name: "tools/list refused", failure: true, script: map[string]answerFunc{"tools/list": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"no tools here"}}`, id)
		}}},
		{name: "tools/list on a forgotten session", failure: true, script: map[string]answerFunc{"tools/list": statusAnswer(http.StatusNotFound, "text/plain", "gone")}},
		{name: "tools/list as an event stream with other messages first", script: map[string]answerFunc{"tools/list": sseAnswer(
			`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}`,
			`{"jsonrpc":"2.0","id":ID,"result":{"tools":[{"name":"s","inputSchema":{"type":"object"}}]}}`)}},
		{name: "initialize answered with 2026-07-28", script: map[string]answerFunc{
			"initialize": func(w http.ResponseWriter, r *http.Request, id json.RawMessage) {
				w.Header().Set("Mcp-Session-Id", "s1")
				jsonAnswer(`{"protocolVersion":"2026-07-28","capabilities":{"tools":{}},"serverInfo":{"name":"new","version":"1"}}`)(w, r, id)
			},
			"notifications/initialized": statusAnswer(http.StatusAccepted, "", ""),
			"tools/list":                listAnswer(`{"tools":[{"name":"x","inputSchema":{"type":"object"}}]}`),
		}},
		{name: "initialize unauthorised", failure: true, script: map[string]answerFunc{"initialize": statusAnswer(http.StatusUnauthorized, "text/plain", "no",
			"WWW-Authenticate", `Bearer resource_metadata="https://as.example/prm"`)}},
		{name: "initialize fails on the server", failure: true, script: map[string]answerFunc{"initialize": statusAnswer(http.StatusInternalServerError, "text/plain", "boom")}},
		{name: "initialize answered with HTML", failure: true, script: map[string]answerFunc{"initialize": statusAnswer(http.StatusOK, "text/html", "<html></html>")}},
		{name: "initialize answered with what is not JSON", failure: true, script: map[string]answerFunc{"initialize": statusAnswer(http.StatusOK, "application/json", "{not json")}},
		{name: "initialize with an unsupported version", failure: true, script: map[string]answerFunc{"initialize": jsonAnswer(
			`{"protocolVersion":"1999-01-01","capabilities":{},"serverInfo":{"name":"old","version":"0"}}`)}},
		{name: "initialized refused", failure: true, script: map[string]answerFunc{"notifications/initialized": statusAnswer(http.StatusBadRequest, "text/plain", "bad")}},
		{name: "initialized answered 200 with a body", script: map[string]answerFunc{"notifications/initialized": statusAnswer(http.StatusOK, "application/json", "{}")}},

		// A server that last spoke 2026-07-28: server/discover, then
		// tools/list, each standing alone; on a refused discover, the
		// legacy handshake.
		{name: "2026-07-28", version: newestVersion, stateless: true},
		{name: "2026-07-28 with JSON answers", version: newestVersion, stateless: true, opts: &mcp.StreamableHTTPOptions{JSONResponse: true}},
		{name: "2026-07-28 paged", version: newestVersion, stateless: true, pages: 3},
		{name: "2026-07-28 discover with odd server info", version: newestVersion, stateless: true, script: map[string]answerFunc{"server/discover": jsonAnswer(
			`{"supportedVersions":["2026-07-28","2025-11-25"],"capabilities":{"tools":{"listChanged":true}},"instructions":"be nice","_meta":{"io.modelcontextprotocol/serverInfo":"not an object"}}`)}},
		{name: "2026-07-28 discover naming only newer versions", version: newestVersion, stateless: true, script: map[string]answerFunc{"server/discover": jsonAnswer(
			`{"supportedVersions":["2099-01-01"],"capabilities":{}}`)}},
		{name: "2026-07-28 listing with cache hints", version: newestVersion, stateless: true, script: map[string]answerFunc{"tools/list": listAnswer(
			`{"resultType":"complete","ttlMs":30000,"cacheScope":"private","tools":[{"name":"x","inputSchema":{"type":"object"}}]}`)}},
		{name: "discover refused with method not found", version: newestVersion, script: map[string]answerFunc{"server/discover": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"method not found"}}`, id)
		}}},
		{name: "discover refused with versions of initialize", version: newestVersion, script: map[string]answerFunc{"server/discover": func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":"unsupported","data":{"supported":["2025-11-25"],"requested":"2026-07-28"}}}`, id, mcp.CodeUnsupportedProtocolVersion)
		}}},
		{name: "discover answered with only older versions", version: newestVersion, script: map[string]answerFunc{"server/discover": jsonAnswer(
			`{"supportedVersions":["2025-11-25"],"capabilities":{}}`)}},
		{name: "discover refused with HTTP 400", version: newestVersion, script: map[string]answerFunc{"server/discover": statusAnswer(http.StatusBadRequest, "text/plain", "unsupported")}},
		{name: "discover and initialize unauthorised", version: newestVersion, failure: true, script: map[string]answerFunc{
			"server/discover": statusAnswer(http.StatusUnauthorized, "text/plain", "no", "WWW-Authenticate", `Bearer scope="a"`),
			"initialize":      statusAnswer(http.StatusUnauthorized, "text/plain", "no", "WWW-Authenticate", `Bearer scope="b"`)}},
		{name: "initialized answered with a stream kept open", script: map[string]answerFunc{"notifications/initialized": openStream}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			if tc.stateless {
				if opts == nil {
					opts = &mcp.StreamableHTTPOptions{}
				}
				opts.Stateless = true
			}
			up := &probeUpstream{inner: streamableHandler(richServer(tc.pages), opts), script: tc.script}
			srv, _ := serve(t, up)
			client := newTestClient(t, Options{})
			conn := rawConn(srv.URL+"/mcp", legacyVersion)
			if tc.version != "" {
				conn.ProtocolVersion = tc.version
			}
			var got [2]probeOutcome
			var sent [2][]wireRequest
			for i, raw := range []bool{true, false} {
				res, err := client.probe(ctxT(t), conn, connectOptions{rawProbe: raw})
				got[i] = probeOutcomeOf(res, err)
				// What a probe sends before it answers is its own; the
				// DELETE that ends a session follows in the background.
				if !tc.failure && !tc.stateless {
					require.Eventually(t, func() bool { return up.deletes() == 1 }, 10*time.Second, 5*time.Millisecond, "the session is ended")
				}
				sent[i] = up.take()
			}
			assert.Equal(t, got[1], got[0], "raw probe vs go-sdk probe")
			assert.Equal(t, tc.failure, got[0].Kind != nil, "failure: %s", got[0].Message)
			if tc.failure {
				// A failed handshake's session ends in the background
				// on either path: only the requests before it compare.
				sent[0], sent[1] = posts(sent[0]), posts(sent[1])
			}
			assert.Equal(t, sent[1], sent[0], "the requests of the raw probe vs go-sdk's")
		})
	}
}

// openStream answers with an event stream that stays open (until the
// client hangs up), as some servers answer a notification: go-sdk closes
// it unread and goes on.
func openStream(w http.ResponseWriter, r *http.Request, _ json.RawMessage) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

// posts is the POSTs of seen.
func posts(seen []wireRequest) []wireRequest {
	var out []wireRequest
	for _, r := range seen {
		if r.Method == http.MethodPost {
			out = append(out, r)
		}
	}
	return out
}

// A probe made raw goes raw (its ids are from rawIDBase), with one
// connection for its requests, and ends its session with a DELETE (a
// 2026-07-28 server has none to end).
func TestRawProbeIsRawOnOneConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		opts    *mcp.StreamableHTTPOptions
		methods []string
	}{
		{legacyVersion, nil, []string{"initialize", "notifications/initialized", "tools/list", "DELETE"}},
		{newestVersion, &mcp.StreamableHTTPOptions{Stateless: true}, []string{"server/discover", "tools/list"}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			inner := streamableHandler(richServer(0), tc.opts)
			var mu sync.Mutex
			var ids []int64
			var methods []string
			conns := map[string]bool{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				var msg struct {
					ID     *int64 `json:"id"`
					Method string `json:"method"`
				}
				_ = json.Unmarshal(body, &msg)
				mu.Lock()
				if r.Method == http.MethodPost {
					methods = append(methods, msg.Method)
					conns[r.RemoteAddr] = true
				} else {
					methods = append(methods, r.Method)
				}
				if msg.ID != nil {
					ids = append(ids, *msg.ID)
				}
				mu.Unlock()
				inner.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			client := newTestClient(t, Options{})
			conn := rawConn(srv.URL+"/mcp", legacyVersion)
			conn.ProtocolVersion = tc.version
			res, err := client.Probe(ctxT(t), conn)
			require.NoError(t, err)
			assert.Equal(t, tc.version, res.ProtocolVersion)
			assert.Len(t, res.Tools, 7)
			require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(methods) == len(tc.methods) }, 10*time.Second, 5*time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, tc.methods, methods)
			require.Len(t, ids, 2)
			for _, id := range ids {
				assert.Greater(t, id, int64(rawIDBase), "sent raw")
			}
			// The DELETE takes that connection too when it is back in the
			// pool by then (the rest of the last answer may still be read
			// when the DELETE starts).
			assert.Len(t, conns, 1, "one connection for the probe's requests")
		})
	}
}

// A server that leaves a stream open after its answer does not hold a raw
// probe: the rest is waited on briefly, then cut, and the probe goes on
// (here, initialize's stream stays open: a probe that waited for its end
// would send its next request only when the caller's context had ended).
func TestRawProbeDoesNotWaitForAStreamLeftOpen(t *testing.T) {
	t.Parallel()
	inner := streamableHandler(richServer(0), nil)
	held := func(w http.ResponseWriter, r *http.Request, _ json.RawMessage) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r) // the server's own answer, session and all
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the stream ends when the client goes
	}
	up := &probeUpstream{inner: inner, script: map[string]answerFunc{"initialize": held}}
	srv, _ := serve(t, up)
	client := newTestClient(t, Options{})
	conn := rawConn(srv.URL+"/mcp", legacyVersion)
	conn.TimeoutMS = 10 * 60_000 // the caller's context ends first
	res, err := client.Probe(ctxT(t), conn)
	require.NoError(t, err)
	assert.Len(t, res.Tools, 7)
}

// A JSON body that is not the answer to the request it came for (an
// answer to another id, a notification) is not taken for it: go-sdk
// routes it elsewhere and the request, with nothing more to come, ends at
// the timeout. The raw probe took it for the answer.
func TestRawProbeTakesOnlyItsOwnAnswer(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"an answer to another id": `{"jsonrpc":"2.0","id":424242,"result":{"tools":[{"name":"x","inputSchema":{"type":"object"}}]}}`,
		"a notification":          `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := &probeUpstream{inner: streamableHandler(richServer(0), nil), script: map[string]answerFunc{"tools/list": statusAnswer(http.StatusOK, "application/json", body)}}
			srv, _ := serve(t, up)
			client := newTestClient(t, Options{})
			conn := rawConn(srv.URL+"/mcp", legacyVersion)
			conn.TimeoutMS = 1000
			var got [2]probeOutcome
			for i, raw := range []bool{true, false} {
				res, err := client.probe(ctxT(t), conn, connectOptions{rawProbe: raw})
				got[i] = probeOutcomeOf(res, err)
			}
			assert.Equal(t, got[1], got[0], "raw probe vs go-sdk probe")
			assert.ErrorIs(t, got[0].Kind, registry.ErrUpstreamTimeout, got[0].Message)
		})
	}
}

// A server that answers tools/list 404, the session gone, gets no DELETE
// for it from either path (go-sdk sends none for a missing session); the
// raw session sent one. The 404 may come with a JSON-RPC error whose id
// is null (the TypeScript SDK's), which go-sdk does not take for an
// answer.
func TestRawProbeDeletesNoMissingSession(t *testing.T) {
	t.Parallel()
	for name, gone := range map[string]answerFunc{
		"plain":               statusAnswer(http.StatusNotFound, "text/plain", "gone"),
		"JSON-RPC, a null id": statusAnswer(http.StatusNotFound, "application/json", `{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}`),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := &probeUpstream{inner: streamableHandler(richServer(0), nil), script: map[string]answerFunc{"tools/list": gone}}
			srv, _ := serve(t, up)
			client := newTestClient(t, Options{})
			conn := rawConn(srv.URL+"/mcp", legacyVersion)
			for _, raw := range []bool{true, false} {
				s, err := client.connect(ctxT(t), conn, connectOptions{rawProbe: raw})
				require.NoError(t, err)
				require.Equal(t, raw, s.cs == nil, "made raw")
				require.NotEmpty(t, s.sessionID())
				_, _, err = s.listTools(ctxT(t))
				require.ErrorIs(t, err, mcp.ErrSessionMissing)
				s.Close() // returns once its DELETE, if any, is answered
				assert.Zero(t, up.deletes(), "raw %v: no DELETE for a session the server does not know", raw)
				up.take()
			}
		})
	}
}

// initialize answered with an event stream that ends after a priming event
// (an id, no answer) is resumed by a GET with Last-Event-ID, on either
// path with the same headers: no Mcp-Protocol-Version yet (the raw probe
// sent an empty one), the session's id.
func TestRawProbeResumesInitialize(t *testing.T) {
	t.Parallel()
	inner := streamableHandler(richServer(0), &mcp.StreamableHTTPOptions{JSONResponse: true})
	var mu sync.Mutex
	var held []byte
	var gets []http.Header
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch {
		case r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") == "e1":
			mu.Lock()
			gets = append(gets, r.Header.Clone())
			answer := held
			mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "id: e2\ndata: %s\n\n", answer)
		case r.Method == http.MethodPost && bytes.Contains(body, []byte(`"initialize"`)):
			// The server's own answer, held back for the resumed stream.
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, r)
			mu.Lock()
			held = bytes.TrimSpace(rec.Body.Bytes())
			mu.Unlock()
			w.Header().Set("Mcp-Session-Id", rec.Header().Get("Mcp-Session-Id"))
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: e1\nretry: 10\ndata:\n\n")
		default:
			inner.ServeHTTP(w, r)
		}
	}))
	client := newTestClient(t, Options{})
	conn := rawConn(srv.URL+"/mcp", legacyVersion)
	var got [2]probeOutcome
	for i, raw := range []bool{true, false} {
		res, err := client.probe(ctxT(t), conn, connectOptions{rawProbe: raw})
		got[i] = probeOutcomeOf(res, err)
	}
	assert.Equal(t, got[1], got[0], "raw probe vs go-sdk probe")
	require.NotNil(t, got[0].Result, got[0].Message)
	assert.Len(t, got[0].Result.Tools, 7)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, gets, 2, "each path resumed once")
	for i, h := range gets {
		assert.NotEmpty(t, h.Get("Mcp-Session-Id"))
		h.Del("Mcp-Session-Id")
		h.Del("User-Agent")
		gets[i] = h
	}
	assert.Equal(t, gets[1], gets[0], "the resuming GETs, raw vs go-sdk")
}
