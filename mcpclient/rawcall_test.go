package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/trace"
)

// rawSecret is the connection secret of the raw-call tests.
const rawSecret = "s3cret-raw-0462"

// seenCall is a tools/call (or notifications/cancelled) as an upstream
// received it.
type seenCall struct {
	id     json.RawMessage
	params map[string]any
	header http.Header
}

// answerFunc writes the answer to a tools/call whose JSON-RPC id is id.
type answerFunc func(w http.ResponseWriter, r *http.Request, id json.RawMessage)

// scriptedUpstream is a real go-sdk server over streamable HTTP whose
// tools/call answers a test may write itself: the handshake, and whatever
// the test does not script, are the server's own. It records the
// tools/call and notifications/cancelled requests it gets.
type scriptedUpstream struct {
	server *mcp.Server
	// stateless serves 2026-07-28 (go-sdk serves it only so).
	stateless bool
	inner     atomic.Pointer[http.Handler]
	answer    atomic.Pointer[answerFunc]
	// resumed answers a GET with Last-Event-ID (a stream resumed), given
	// the id of the last tools/call.
	resumed atomic.Pointer[answerFunc]

	mu        sync.Mutex
	calls     []seenCall
	cancelled []seenCall
	resumes   []http.Header
}

func newScriptedUpstream(t *testing.T, stateless bool) (*scriptedUpstream, string) {
	u := &scriptedUpstream{server: newTestServer("scripted"), stateless: stateless}
	u.restart()
	srv, _ := serve(t, u)
	return u, srv.URL + "/mcp"
}

// restart forgets every session, as a restarted server does.
func (u *scriptedUpstream) restart() {
	h := streamableHandler(u.server, &mcp.StreamableHTTPOptions{Stateless: u.stateless})
	u.inner.Store(&h)
}

func (u *scriptedUpstream) script(f answerFunc) { u.answer.Store(&f) }

func (u *scriptedUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f := u.resumed.Load(); r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" && f != nil {
		u.mu.Lock()
		u.resumes = append(u.resumes, r.Header.Clone())
		id := u.calls[len(u.calls)-1].id
		u.mu.Unlock()
		(*f)(w, r, id)
		return
	}
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params map[string]any  `json:"params"`
		}
		_ = json.Unmarshal(body, &msg)
		seen := seenCall{id: msg.ID, params: msg.Params, header: r.Header.Clone()}
		switch msg.Method {
		case "tools/call":
			u.mu.Lock()
			u.calls = append(u.calls, seen)
			u.mu.Unlock()
			if f := u.answer.Load(); f != nil && *f != nil {
				(*f)(w, r, msg.ID)
				return
			}
		case "notifications/cancelled":
			u.mu.Lock()
			u.cancelled = append(u.cancelled, seen)
			u.mu.Unlock()
		}
	}
	(*u.inner.Load()).ServeHTTP(w, r)
}

func (u *scriptedUpstream) lastCall(t *testing.T) seenCall {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	require.NotEmpty(t, u.calls, "the upstream got no tools/call")
	return u.calls[len(u.calls)-1]
}

// wentRaw reports whether a tools/call was sent raw: raw requests are
// numbered from rawIDBase, go-sdk's from 1.
func wentRaw(t *testing.T, c seenCall) bool {
	t.Helper()
	var id int64
	require.NoError(t, json.Unmarshal(c.id, &id), "id %s", c.id)
	return id > rawIDBase
}

// jsonAnswer answers with result as an application/json body.
func jsonAnswer(result string) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result)
	}
}

// sseAnswer answers with an event stream of events, "ID" in each replaced
// by the request's id.
func sseAnswer(events ...string) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "event: message\ndata: %s\n\n", strings.ReplaceAll(e, "ID", string(id)))
		}
	}
}

// statusAnswer answers with an HTTP failure.
func statusAnswer(status int, contentType, body string, header ...string) answerFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// rawConn reaches the scripted upstream with the raw-call secret in a
// header, remembering the legacy protocol version (so that the handshake
// starts from it), or none.
func rawConn(endpoint, version string) *registry.Connection {
	conn := httpConn(registry.TransportStreamableHTTP, endpoint)
	conn.Headers = registry.Sensitive{"X-Api-Key": "{{secrets.key}}"}
	conn.Secrets = registry.Sensitive{"key": rawSecret}
	if version == legacyVersion {
		conn.ProtocolVersion = version
		conn.ConnectedTransport = registry.TransportStreamableHTTP
	}
	return conn
}

// outcome is what a call came to, in the terms a caller can observe.
type outcome struct {
	Result  map[string]any
	Kind    error
	Message string
	Status  int
	Auth    string
	Verdict verdict
	RPC     *jsonrpc.Error
}

func outcomeOf(ctx context.Context, res map[string]any, err error) outcome {
	o := outcome{Result: res, Verdict: judge(ctx, err)}
	var e *Error
	if errors.As(err, &e) {
		o.Kind, o.Message, o.Status, o.Auth = e.Kind, e.Error(), e.HTTPStatus, e.AuthChallenge()
	} else if err != nil {
		o.Message = "not an *Error: " + err.Error()
	}
	errors.As(err, &o.RPC)
	return o
}

// bothWays makes one call twice, each on a fresh session of conn: raw,
// then through go-sdk. It checks that each took the path asked for, and
// returns what each came to and what the upstream received; each, when
// set, runs after a call with its index (0 raw, 1 go-sdk) and session.
func bothWays(t *testing.T, up *scriptedUpstream, client *Client, conn *registry.Connection, ctx context.Context,
	tool string, args map[string]any, each func(i int, sess *Session)) (got [2]outcome, sent [2]seenCall) {
	t.Helper()
	for i, raw := range []bool{true, false} {
		sess, err := client.Connect(ctxT(t), conn)
		require.NoError(t, err)
		t.Cleanup(func() { sess.Close() })
		res, err := sess.callToolVia(ctx, tool, args, raw)
		got[i] = outcomeOf(ctx, res, err)
		sent[i] = up.lastCall(t)
		require.Equal(t, raw, wentRaw(t, sent[i]))
		if each != nil {
			each(i, sess)
		}
	}
	return got, sent
}

// TestRawCallIsGoSDKCall: a tools/call over streamable HTTP goes raw, and
// comes to what go-sdk's path comes to, for every kind of answer: the
// same result object (content of every type, structured content, isError,
// _meta, 2026-07-28 input-required and task results, fields go-sdk drops
// or fills, results it refuses), the same error for HTTP failures,
// JSON-RPC errors, bodies that are not JSON or too large, with the same
// verdict for the pool; and the same request (params, _meta, headers).
// Each answer is given to two fresh sessions, one calling raw and one
// through go-sdk.
func TestRawCallIsGoSDKCall(t *testing.T) {
	t.Parallel()
	b64 := "aGVsbG8gd29ybGQ=" // "hello world"
	cases := []struct {
		name   string
		answer answerFunc
		// failure: the call fails (else it must succeed)
		failure bool
	}{
		{name: "server's own answer", answer: nil},
		{name: "text and structured", answer: jsonAnswer(`{"content":[{"type":"text","text":"5"}],"structuredContent":{"sum":5}}`)},
		{name: "isError true", answer: jsonAnswer(`{"content":[{"type":"text","text":"broken"}],"isError":true}`)},
		{name: "isError false and null fields", answer: jsonAnswer(`{"content":[{"type":"text","text":"x"}],"isError":false,"structuredContent":null,"_meta":null,"requestState":null}`)},
		{name: "no content", answer: jsonAnswer(`{"structuredContent":{"a":[1,2.5,"x",null,true]}}`)},
		{name: "content null", answer: jsonAnswer(`{"content":null}`)},
		{name: "empty object", answer: jsonAnswer(`{}`)},
		{name: "meta kept, empty meta dropped", answer: jsonAnswer(`{"content":[{"type":"text","text":"x","_meta":{}}],"_meta":{"trace":{"id":7},"big":12345678901234567890}}`)},
		{name: "falsy structured content", answer: jsonAnswer(`{"content":[],"structuredContent":false}`)},
		{name: "array structured content", answer: jsonAnswer(`{"content":[],"structuredContent":[1,{"b":{}}]}`)},
		{name: "unknown fields dropped", answer: jsonAnswer(`{"content":[{"type":"text","text":"x","extra":1,"nested":{"a":1}}],"extra":"y","task":{"taskId":"t1"}}`)},
		{name: "text without text", answer: jsonAnswer(`{"content":[{"type":"text"},{"type":"text","text":null}]}`)},
		{name: "image and audio", answer: jsonAnswer(`{"content":[{"type":"image","data":"` + b64 + `","mimeType":"image/png"},{"type":"audio","data":"AAEC","mimeType":"audio/wav","_meta":{"k":"v"}}]}`)},
		{name: "image without data or type", answer: jsonAnswer(`{"content":[{"type":"image"},{"type":"audio","data":null,"mimeType":null}]}`)},
		{name: "image data not canonical", answer: jsonAnswer(`{"content":[{"type":"image","data":"aGk=\n","mimeType":"image/png"},{"type":"image","data":"aGl=","mimeType":"image/png"}]}`)},
		{name: "image data not base64", answer: jsonAnswer(`{"content":[{"type":"image","data":"not base64!","mimeType":"image/png"}]}`), failure: true},
		{name: "annotations", answer: jsonAnswer(`{"content":[{"type":"text","text":"a","annotations":{"audience":["user","assistant"],"priority":0.5,"lastModified":"2026-01-02T03:04:05Z","extra":1}},{"type":"text","text":"b","annotations":{}},{"type":"text","text":"c","annotations":{"audience":[],"priority":0,"lastModified":""}},{"type":"text","text":"d","annotations":null}]}`)},
		{name: "resource link", answer: jsonAnswer(`{"content":[{"type":"resource_link","uri":"https://example.com/a","name":"a","title":"A","description":"d","mimeType":"text/plain","extra":true},{"type":"resource_link","uri":"","name":null}]}`)},
		{name: "resource link size and icons", answer: jsonAnswer(`{"content":[{"type":"resource_link","uri":"u","name":"n","size":1024,"icons":[{"src":"https://example.com/i.png","extra":1}]}]}`)},
		{name: "embedded resource", answer: jsonAnswer(`{"content":[{"type":"resource","resource":{"uri":"mem://a","mimeType":"text/plain","text":"hello","extra":1}},{"type":"resource","resource":{"uri":"mem://b","blob":"` + b64 + `","_meta":{"m":1}}},{"type":"resource","resource":{"text":""}},{"type":"resource"}]}`)},
		{name: "embedded resource empty blob", answer: jsonAnswer(`{"content":[{"type":"resource","resource":{"uri":"mem://a","blob":""}}]}`)},
		{name: "a key in other case", answer: jsonAnswer(`{"Content":[{"type":"text","text":"x"}],"IsError":true}`)},
		{name: "content key of another type", answer: jsonAnswer(`{"content":[{"type":"text","text":"x","uri":"u","name":"n"}]}`)},
		{name: "sampling content", answer: jsonAnswer(`{"content":[{"type":"tool_use","id":"u1","name":"t","input":{"a":1}},{"type":"tool_result","toolUseId":"u1","content":[{"type":"text","text":"r"}]}]}`)},
		{name: "input required", answer: jsonAnswer(`{"resultType":"input_required","requestState":"st-1","inputRequests":{"q1":{"method":"elicitation/create","params":{"message":"Which?","requestedSchema":{"type":"object","properties":{"a":{"type":"string"}}}}}}}`)},
		{name: "task", answer: jsonAnswer(`{"resultType":"task","task":{"taskId":"t-1","status":"working"}}`)},
		{name: "complete result type", answer: jsonAnswer(`{"resultType":"complete","content":[{"type":"text","text":"done"}]}`)},
		{name: "unknown content type", answer: jsonAnswer(`{"content":[{"type":"video","url":"x"}]}`), failure: true},
		{name: "null content block", answer: jsonAnswer(`{"content":[null]}`), failure: true},
		{name: "text of the wrong type", answer: jsonAnswer(`{"content":[{"type":"text","text":5}]}`), failure: true},
		{name: "isError of the wrong type", answer: jsonAnswer(`{"content":[],"isError":"yes"}`), failure: true},
		{name: "content not an array", answer: jsonAnswer(`{"content":"x"}`), failure: true},
		{name: "result null", answer: jsonAnswer(`null`)},
		{name: "result an array", answer: jsonAnswer(`[1]`), failure: true},
		{name: "secret plain and escaped", answer: jsonAnswer(`{"content":[{"type":"text","text":"\u0073` + rawSecret[1:] + `"}],"structuredContent":{"k":"` + rawSecret + `","j":"{\"k\":\"\\u0073` + rawSecret[1:] + `\"}"},"_meta":{"` + rawSecret + `":1}}`)},
		{name: "event stream", answer: sseAnswer(`{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"streamed"}]}}`)},
		{name: "event stream after notifications", answer: sseAnswer(
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}}`,
			`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}`,
			`{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"after notifications"}]}}`)},
		{name: "JSON-RPC error", answer: jsonAnswer(`{}`), failure: true}, // replaced below
		{name: "JSON-RPC error on a stream", answer: sseAnswer(`{"jsonrpc":"2.0","id":ID,"error":{"code":-32602,"message":"bad ` + rawSecret + `","data":{"x":1}}}`), failure: true},
		{name: "HTTP 404", answer: statusAnswer(http.StatusNotFound, "text/plain", "gone"), failure: true},
		{name: "HTTP 400", answer: statusAnswer(http.StatusBadRequest, "text/plain", "bad"), failure: true},
		{name: "HTTP 400 with a JSON-RPC error", answer: statusAnswer(http.StatusBadRequest, "application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"header mismatch"}}`), failure: true},
		{name: "HTTP 500", answer: statusAnswer(http.StatusInternalServerError, "text/plain", "oops"), failure: true},
		{name: "HTTP 503", answer: statusAnswer(http.StatusServiceUnavailable, "", ""), failure: true},
		{name: "HTTP 429", answer: statusAnswer(http.StatusTooManyRequests, "", ""), failure: true},
		{name: "HTTP 401", answer: statusAnswer(http.StatusUnauthorized, "", "", "WWW-Authenticate", `Bearer resource_metadata="https://example.com/.well-known/oauth-protected-resource"`), failure: true},
		{name: "HTTP 403 step-up", answer: statusAnswer(http.StatusForbidden, "", "", "WWW-Authenticate", `Bearer error="insufficient_scope", scope="a b"`), failure: true},
		{name: "HTTP 202", answer: statusAnswer(http.StatusAccepted, "", ""), failure: true},
		{name: "HTML", answer: statusAnswer(http.StatusOK, "text/html", "<html></html>"), failure: true},
		{name: "not JSON", answer: statusAnswer(http.StatusOK, "application/json", "{not json"), failure: true},
		{name: "body cut short", answer: func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "1000")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[`, id)
		}, failure: true},
		{name: "event stream cut short", answer: func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.(http.Flusher).Flush()
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[", id)
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, failure: true},
		{name: "an event that is not JSON before the answer", answer: sseAnswer(`{not json`, `{"jsonrpc":"2.0","id":ID,"result":{"content":[]}}`), failure: true},
		{name: "an answer with another version tag", answer: sseAnswer(`{"jsonrpc":"1.0","id":ID,"result":{"content":[]}}`), failure: true},
		{name: "a body without an id", answer: statusAnswer(http.StatusOK, "application/json", `{"jsonrpc":"2.0","result":{"content":[]}}`), failure: true},
		{name: "an empty body", answer: statusAnswer(http.StatusOK, "application/json", ""), failure: true},
		{name: "the session forgotten, in JSON-RPC with a null id", answer: statusAnswer(http.StatusNotFound, "application/json",
			// As the TypeScript SDK's servers say it.
			`{"jsonrpc":"2.0","error":{"code":-32001,"message":"Session not found"},"id":null}`), failure: true},
		{name: "an answer to another request", answer: func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
			// go-sdk drops it and waits for its own: the call times out.
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"jsonrpc":"2.0","id":424242,"result":{"content":[{"type":"text","text":"not yours"}]}}`)
		}, failure: true},
		{name: "too large", answer: jsonAnswer(`{"content":[{"type":"text","text":"` + strings.Repeat("x", 20<<10) + `"}]}`), failure: true},
		{name: "too large on a stream", answer: sseAnswer(`{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"` + strings.Repeat("x", 20<<10) + `"}]}}`), failure: true},
	}
	for i := range cases {
		if cases[i].name == "JSON-RPC error" {
			cases[i].answer = func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"unknown tool, key %s"}}`, id, rawSecret)
			}
		}
	}
	for _, version := range []string{legacyVersion, newestVersion} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					up, endpoint := newScriptedUpstream(t, version == newestVersion)
					up.script(tc.answer)
					client := newTestClient(t, Options{MaxMessageBytes: 16 << 10})
					args := map[string]any{"a": 2, "b": 3}
					got, sent := bothWays(t, up, client, rawConn(endpoint, version), ctxT(t), "add", args, func(_ int, sess *Session) {
						require.Equal(t, version, sess.ProtocolVersion())
						if version == legacyVersion {
							require.NotEmpty(t, sess.cs.ID(), "a legacy session has an id")
						}
					})
					rawOut, sdkOut := got[0], got[1]
					if tc.failure {
						require.NotNil(t, rawOut.Kind, "the raw call must fail: %v", rawOut.Result)
					} else {
						require.Nil(t, rawOut.Kind, "the raw call must succeed: %s", rawOut.Message)
						require.NotNil(t, rawOut.Result)
					}
					assert.Equal(t, sdkOut, rawOut, "raw and go-sdk calls come to the same")
					b, _ := json.Marshal(rawOut.Result)
					assert.NotContains(t, rawOut.Message+string(b), rawSecret, "redacted")
					if tc.name == "secret plain and escaped" {
						assert.NotContains(t, string(b), rawSecret[1:], "the escaped spelling too")
						assert.Contains(t, string(b), "***")
					}

					// The same request: params (the _meta with them) and the
					// headers go-sdk sets.
					assert.Equal(t, sent[1].params, sent[0].params, "params")
					for _, h := range []string{"Content-Type", "Accept", "Mcp-Protocol-Version", "Mcp-Session-Id", "Mcp-Method", "Mcp-Name", "X-Api-Key"} {
						if h == "Mcp-Session-Id" {
							// Each session has its own.
							assert.Equal(t, sent[1].header.Get(h) != "", sent[0].header.Get(h) != "", h)
							continue
						}
						assert.Equal(t, sent[1].header.Get(h), sent[0].header.Get(h), h)
					}
					if version == newestVersion {
						assert.Equal(t, "tools/call", sent[0].header.Get("Mcp-Method"))
						assert.Equal(t, "add", sent[0].header.Get("Mcp-Name"))
					}
				})
			}
		})
	}
}

// The common results are read without go-sdk (projectResult is sure of
// them); only the unusual ones are left to it.
func TestProjectResultFastPath(t *testing.T) {
	t.Parallel()
	fast := []string{
		`{"content":[{"type":"text","text":"{\"sum\":5}"}],"structuredContent":{"sum":5}}`,
		`{"content":[{"type":"text","text":"broken"}],"isError":true}`,
		`{"content":[{"type":"text","text":"x","annotations":{"audience":["user"],"priority":1}}],"_meta":{"a":1}}`,
		`{"content":[{"type":"image","data":"aGVsbG8=","mimeType":"image/png"},{"type":"audio","data":"AAEC","mimeType":"audio/wav"}]}`,
		`{"content":[{"type":"resource_link","uri":"u","name":"n"},{"type":"resource","resource":{"uri":"mem://a","text":"t"}}]}`,
		`{"resultType":"task","task":{"taskId":"t"}}`,
		`{}`,
	}
	slow := []string{
		`{"resultType":"input_required","inputRequests":{"q":{"method":"roots/list"}}}`,
		`{"content":[{"type":"tool_use","id":"1","name":"t","input":{}}]}`,
		`{"content":[{"type":"image","data":"aGk","mimeType":"image/png"}]}`,
		`{"content":[{"type":"resource_link","uri":"u","size":5}]}`,
		`{"Content":[]}`,
		`{"content":[{"type":"text","text":1}]}`,
		`null`,
	}
	for _, s := range fast {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		assert.True(t, m != nil && projectResult(m), "read without go-sdk: %s", s)
	}
	for _, s := range slow {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		assert.False(t, m != nil && projectResult(m), "left to go-sdk: %s", s)
	}
}

// A server that forgot the session (restarted) answers a raw call 404:
// the pool retries it once on a fresh session, as it does when go-sdk
// reports the session missing.
func TestRawCallRetriesForgottenSession(t *testing.T) {
	t.Parallel()
	up, endpoint := newScriptedUpstream(t, false)
	pool := NewPool(PoolOptions{Client: newTestClient(t, Options{})})
	t.Cleanup(pool.Close)
	conn := rawConn(endpoint, legacyVersion)
	conn.ID = "conn-raw"

	res, err := pool.CallTool(ctxT(t), conn, "add", map[string]any{"a": 1, "b": 2})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"sum": float64(3)}, res["structuredContent"])
	first := up.lastCall(t)
	require.True(t, wentRaw(t, first))

	up.restart()
	res, err = pool.CallTool(ctxT(t), conn, "add", map[string]any{"a": 2, "b": 2})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"sum": float64(4)}, res["structuredContent"])
	assert.Equal(t, int64(1), pool.Stats().Retries, "the call found the session forgotten and retried")
	assert.Equal(t, int64(2), pool.Stats().Handshakes)
	up.mu.Lock()
	calls := append([]seenCall(nil), up.calls...)
	up.mu.Unlock()
	require.Len(t, calls, 3, "the first call, the one refused, its retry")
	for _, c := range calls {
		assert.True(t, wentRaw(t, c))
	}
	assert.NotEqual(t, calls[1].header.Get("Mcp-Session-Id"), calls[2].header.Get("Mcp-Session-Id"), "retried on a new session")
	assert.Equal(t, first.header.Get("Mcp-Session-Id"), calls[1].header.Get("Mcp-Session-Id"))
}

// A raw call with no answer in time is a timeout, as through go-sdk, and
// the server is told the call was given up on (notifications/cancelled
// with the call's id), as go-sdk tells it.
func TestRawCallTimeout(t *testing.T) {
	t.Parallel()
	for _, version := range []string{legacyVersion, newestVersion} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			up, endpoint := newScriptedUpstream(t, version == newestVersion)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			up.script(func(w http.ResponseWriter, r *http.Request, _ json.RawMessage) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
			client := newTestClient(t, Options{})
			conn := rawConn(endpoint, version)
			conn.TimeoutMS = 300
			got, _ := bothWays(t, up, client, conn, ctxT(t), "add", map[string]any{"a": 1, "b": 1}, func(int, *Session) {
				call := up.lastCall(t)
				require.Eventually(t, func() bool {
					up.mu.Lock()
					defer up.mu.Unlock()
					for _, c := range up.cancelled {
						if id, _ := json.Marshal(c.params["requestId"]); string(id) == string(call.id) {
							return true
						}
					}
					return false
				}, 30*time.Second, 10*time.Millisecond, "the server is told of the call given up on")
			})
			require.ErrorIs(t, got[0].Kind, registry.ErrUpstreamTimeout)
			assert.Equal(t, got[1], got[0])
		})
	}
}

// An answer stream may carry the server's notifications and requests
// before the answer: they are read past (tether asks for nothing and
// relays no progress), and so is a priming event with no data.
func TestRawCallStreamWithRequestsBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	up, endpoint := newScriptedUpstream(t, false)
	up.script(func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 0\ndata:\n\n")
		io.WriteString(w, ": a comment\n\n")
		fmt.Fprintf(w, "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\r\n\r\n")
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\n")
		fmt.Fprintf(w, "data:  \"params\":{\"progressToken\":1,\"progress\":0.5}}\n\n")
		// An answer to another request is not this call's.
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"wrong\"}]}}\n\n", id)
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}}\n\n", id, strings.Repeat("long ", 3000))
	})
	sess, err := newTestClient(t, Options{}).Connect(ctxT(t), rawConn(endpoint, legacyVersion))
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	res, err := sess.CallTool(ctxT(t), "add", map[string]any{"a": 1, "b": 1})
	require.NoError(t, err)
	require.True(t, wentRaw(t, up.lastCall(t)))
	assert.Equal(t, []any{map[string]any{"type": "text", "text": strings.Repeat("long ", 3000)}}, res["content"])
}

// Raw calls from many agents at once share the session's connections:
// few TCP connections are opened for many calls.
func TestRawCallsReuseConnections(t *testing.T) {
	t.Parallel()
	up := &scriptedUpstream{server: newTestServer("reused")}
	up.restart()
	var accepts atomic.Int64
	srv := httptest.NewUnstartedServer(up)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepts.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	pool := NewPool(PoolOptions{Client: newTestClient(t, Options{})})
	t.Cleanup(pool.Close)
	conn := rawConn(srv.URL+"/mcp", legacyVersion)
	conn.ID = "conn-reused"
	_, err := pool.CallTool(ctxT(t), conn, "add", map[string]any{"a": 0, "b": 0})
	require.NoError(t, err)
	before := accepts.Load()

	const agents, calls = 16, 1000
	var wg sync.WaitGroup
	var failed atomic.Int64
	for a := range agents {
		wg.Go(func() {
			for i := a; i < calls; i += agents {
				res, err := pool.CallTool(context.Background(), conn, "add", map[string]any{"a": i, "b": 1})
				if err != nil || res["structuredContent"].(map[string]any)["sum"] != float64(i+1) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	up.mu.Lock()
	for _, c := range up.calls {
		require.True(t, wentRaw(t, c))
	}
	require.Len(t, up.calls, calls+1)
	up.mu.Unlock()
	opened := accepts.Load() - before
	t.Logf("%d raw calls on %d agents opened %d connections", calls, agents, opened)
	assert.LessOrEqual(t, opened, int64(2*agents+2), "calls reuse idle connections")
}

// An answer stream that ends before the answer, having given event ids,
// is resumed from its last event (GET with Last-Event-ID, after the delay
// it asked for), as go-sdk resumes it.
func TestRawCallResumesAStream(t *testing.T) {
	t.Parallel()
	up, endpoint := newScriptedUpstream(t, false)
	up.script(func(w http.ResponseWriter, _ *http.Request, _ json.RawMessage) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: ev-1\nretry: 20\ndata:\n\n")
	})
	var n atomic.Int64
	resumed := answerFunc(func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
		w.Header().Set("Content-Type", "text/event-stream")
		if n.Add(1)%2 == 1 {
			// Once more, with progress.
			io.WriteString(w, "id: ev-2\nretry: 20\ndata:\n\n")
			return
		}
		fmt.Fprintf(w, "id: ev-3\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"resumed\"}]}}\n\n", id)
	})
	up.resumed.Store(&resumed)
	client := newTestClient(t, Options{})
	got, _ := bothWays(t, up, client, rawConn(endpoint, legacyVersion), ctxT(t), "add", map[string]any{"a": 1, "b": 1}, func(_ int, sess *Session) {
		up.mu.Lock()
		resumes := append([]http.Header(nil), up.resumes...)
		up.resumes = nil
		up.mu.Unlock()
		require.Len(t, resumes, 2)
		assert.Equal(t, "ev-1", resumes[0].Get("Last-Event-ID"))
		assert.Equal(t, "ev-2", resumes[1].Get("Last-Event-ID"))
		assert.Equal(t, sess.cs.ID(), resumes[1].Get("Mcp-Session-Id"))
		assert.Equal(t, legacyVersion, resumes[1].Get("Mcp-Protocol-Version"))
		assert.Equal(t, rawSecret, resumes[1].Get("X-Api-Key"), "the connection's headers")
	})
	require.Nil(t, got[0].Kind, got[0].Message)
	assert.Equal(t, []any{map[string]any{"type": "text", "text": "resumed"}}, got[0].Result["content"])
	assert.Equal(t, got[1], got[0])
}

// A stream that ends before the answer without an event id cannot be
// resumed: the call fails at once, in go-sdk's words.
func TestRawCallStreamEndsWithoutAnswer(t *testing.T) {
	t.Parallel()
	up, endpoint := newScriptedUpstream(t, false)
	up.script(sseAnswer(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`))
	got, _ := bothWays(t, up, newTestClient(t, Options{}), rawConn(endpoint, legacyVersion), ctxT(t), "add", map[string]any{"a": 1, "b": 1}, nil)
	require.ErrorIs(t, got[0].Kind, registry.ErrUpstreamInvalid, got[0].Message)
	assert.Equal(t, got[1], got[0])
}

// A 2026-07-28 call carries the agent's side of the conversation (its
// capabilities, a retry's inputResponses and requestState) and the trace
// context: sent raw, the params are the ones go-sdk sends.
func TestRawCallSendsWhatGoSDKSends(t *testing.T) {
	t.Parallel()
	for _, version := range []string{legacyVersion, newestVersion} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			up, endpoint := newScriptedUpstream(t, version == newestVersion)
			up.script(jsonAnswer(`{"content":[]}`))
			client := newTestClient(t, Options{})
			ctx := registry.WithUpstreamCall(ctxT(t), &registry.UpstreamCall{
				ClientCapabilities: map[string]any{"elicitation": map[string]any{"form": map[string]any{}}},
				InputResponses:     map[string]any{"q1": map[string]any{"action": "accept", "content": map[string]any{"name": "Ada"}}},
				RequestState:       "state-1",
			})
			ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
			}))
			got, sent := bothWays(t, up, client, rawConn(endpoint, version), ctx, "add", nil, nil)
			require.Empty(t, got[0].Message, "the raw call succeeds")
			require.Empty(t, got[1].Message, "the go-sdk call succeeds")
			assert.Equal(t, sent[1].params, sent[0].params)
			assert.Equal(t, map[string]any{}, sent[0].params["arguments"], "never null")
			assert.NotEmpty(t, sent[0].header.Get("Traceparent"))
			assert.Equal(t, sent[1].header.Get("Traceparent"), sent[0].header.Get("Traceparent"))
			meta, _ := sent[0].params["_meta"].(map[string]any)
			assert.Contains(t, meta, "traceparent")
			if version == newestVersion {
				assert.Equal(t, "state-1", sent[0].params["requestState"])
				assert.Contains(t, sent[0].params, "inputResponses")
				assert.Equal(t, map[string]any{"elicitation": map[string]any{"form": map[string]any{}}}, meta[mcp.MetaKeyClientCapabilities])
			} else {
				assert.NotContains(t, sent[0].params, "requestState", "a legacy session declared its capabilities once")
			}
		})
	}
}

// A raw call given up on before the server sent anything (a go-sdk server
// sends its response headers with the answer) still tells the server,
// and the tool stops, as it does for a call through go-sdk.
func TestRawCallGivenUpOnStopsTheTool(t *testing.T) {
	t.Parallel()
	for _, raw := range []bool{true, false} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			t.Parallel()
			up, endpoint := newScriptedUpstream(t, false)
			stopped := make(chan struct{}, 1)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // before the server closes
			up.server.AddTool(&mcp.Tool{Name: "block", InputSchema: map[string]any{"type": "object"}},
				func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					select {
					case <-ctx.Done():
						stopped <- struct{}{}
					case <-release:
					}
					return &mcp.CallToolResult{}, nil
				})
			conn := rawConn(endpoint, legacyVersion)
			conn.TimeoutMS = 300
			sess, err := newTestClient(t, Options{}).Connect(ctxT(t), conn)
			require.NoError(t, err)
			t.Cleanup(func() { sess.Close() })
			_, err = sess.callToolVia(ctxT(t), "block", nil, raw)
			require.ErrorIs(t, err, registry.ErrUpstreamTimeout)
			require.Equal(t, raw, wentRaw(t, up.lastCall(t)))
			select {
			case <-stopped:
			case <-time.After(30 * time.Second):
				t.Fatal("the tool was not told the call was given up on")
			}
		})
	}
}

// A server that sends the answer, then only the start of what follows it
// (here a chunk header cut short), and nothing more: the call returns its
// answer, and does not wait on the rest, as it did not when the rest was
// read on a goroutine of its own.
func TestRawCallDoesNotWaitForARestCutShort(t *testing.T) {
	t.Parallel()
	up, endpoint := newScriptedUpstream(t, false)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up.script(func(w http.ResponseWriter, _ *http.Request, id json.RawMessage) {
		nc, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer nc.Close()
		ev := fmt.Sprintf("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}\n\n", id)
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n1", len(ev), ev)
		bw.Flush()
		<-release
	})
	conn := rawConn(endpoint, legacyVersion)
	conn.TimeoutMS = 600_000
	sess, err := newTestClient(t, Options{}).Connect(ctxT(t), conn)
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	type result struct {
		res map[string]any
		err error
	}
	got := make(chan result, 1)
	go func() {
		res, err := sess.CallTool(context.Background(), "add", map[string]any{"a": 1, "b": 1})
		got <- result{res, err}
	}()
	select {
	case r := <-got:
		require.NoError(t, r.err)
		require.Equal(t, []any{map[string]any{"type": "text", "text": "done"}}, r.res["content"])
	case <-time.After(30 * time.Second):
		t.Fatal("the call waited on the rest of its stream after its answer")
	}
	require.True(t, wentRaw(t, up.lastCall(t)))
}
