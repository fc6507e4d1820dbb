package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/mcpheader"
	"github.com/tether-dev/tether/registry"
)

// tools/call at wire speed. Over streamable HTTP a tool call is one POST
// and its answer, so tether sends it as raw JSON-RPC through the session's
// own guarded HTTP client (the connection's headers, the body caps, the
// redirect policy, the tracker), beside the go-sdk session that made the
// handshake and keeps the standalone stream. go-sdk decodes every message
// with a JSON decoder that allocates a 32 KiB buffer per Unmarshal, several
// times per call, then the result is encoded and decoded once more into the
// JSON object this package returns; here the answer is decoded once, by
// encoding/json, straight into that object.
//
// What an agent sees stays what go-sdk's client gives: the request is the
// one go-sdk would send (params, _meta, headers), HTTP failures and
// JSON-RPC errors go through classify as go-sdk's errors would, and the
// result is the object go-sdk's CallToolResult encodes to (projectResult
// checks each field against go-sdk's decoding, and any result it is not
// sure of is decoded by go-sdk itself). Stdio, websocket and legacy SSE
// stay on go-sdk.

// rawIDBase offsets the ids of raw requests: on a session with an id the
// server sees go-sdk's requests (numbered from 1) and these on the same
// session, and must not see one id twice.
const rawIDBase = 1 << 40

// rawRequestKey marks the context of a raw request: its JSON body need not
// be kept by the body limiter for the go-sdk's sake (see bodyLimiter), as
// callTool reports a body that is not JSON itself.
type rawRequestKey struct{}

func isRawRequest(ctx context.Context) bool { return ctx.Value(rawRequestKey{}) != nil }

// rawRequest is a JSON-RPC request as go-sdk writes it.
type rawRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// clientCapsV2 is what go-sdk puts in a 2026-07-28 request's _meta as the
// client's capabilities when the caller declared none: tether's own (none,
// see Client.attempt), which encode as an empty object.
var clientCapsV2 = json.RawMessage(`{}`)

// callTool sends params as tools/call and returns the result as go-sdk's
// path would (see above), not yet redacted. ctx is the operation's context
// (opContext), mark the tracker's position before it.
func (s *Session) callTool(ctx context.Context, mark uint64, params *mcp.CallToolParams) (map[string]any, error) {
	version := s.protocolVersion()
	if version >= newProtocol {
		params.Meta = s.requestMeta(params.Meta, version)
	}
	id := rawIDBase + s.raw.nextID.Add(1)
	body, err := json.Marshal(rawRequest{JSONRPC: "2.0", ID: id, Method: "tools/call", Params: params})
	if err != nil {
		// go-sdk fails the same way, before sending.
		return nil, classify(ctx, fmt.Errorf("sending %q: %v", "tools/call", err), s.tr, mark, s.transport, s.red)
	}
	var hdrs map[string]string
	if up := registry.UpstreamCallOf(ctx); up != nil && version >= newProtocol {
		args, _ := params.Arguments.(map[string]any)
		hdrs = paramHeaders(up.InputSchema, args)
	}
	a, err := s.exchange(ctx, mark, "tools/call", params.Name, version, id, body, hdrs)
	if err != nil {
		return nil, err
	}
	if a.Error != nil {
		return nil, classify(ctx, fmt.Errorf("calling %q: %w", "tools/call", a.Error), s.tr, mark, s.transport, s.red)
	}
	res, err := toolResult(a.Result)
	if err != nil {
		return nil, classify(ctx, fmt.Errorf("calling %q: %w", "tools/call", err), s.tr, mark, s.transport, s.red)
	}
	return res, nil
}

// requestMeta is meta with what go-sdk's ClientSession adds to a request
// of a 2026-07-28 session (injectRequestMeta), in a new map: the keys the
// caller set stay.
func (s *Session) requestMeta(m mcp.Meta, version string) mcp.Meta {
	meta := make(mcp.Meta, len(m)+3)
	for k, v := range m {
		meta[k] = v
	}
	if _, ok := meta[mcp.MetaKeyProtocolVersion]; !ok {
		meta[mcp.MetaKeyProtocolVersion] = version
	}
	if _, ok := meta[mcp.MetaKeyClientInfo]; !ok && s.impl != nil {
		meta[mcp.MetaKeyClientInfo] = s.impl
	}
	if _, ok := meta[mcp.MetaKeyClientCapabilities]; !ok {
		meta[mcp.MetaKeyClientCapabilities] = clientCapsV2
	}
	return meta
}

// protocolVersion is the negotiated version as the server said it (not
// redacted: it goes back to the server).
func (s *Session) protocolVersion() string {
	if res := s.initResult(); res != nil {
		return res.ProtocolVersion
	}
	return ""
}

// exchange posts one JSON-RPC request (body, whose id is id) and reads its
// answer, with go-sdk's streamable client's headers and its reading of the
// HTTP status; every failure is an *Error from classify.
func (s *Session) exchange(ctx context.Context, mark uint64, method, name, version string, id int64, body []byte, paramHeaders map[string]string) (*answer, error) {
	fail := func(err error) (*answer, error) {
		if ctx.Err() == nil {
			// go-sdk's call wraps what its transport returned so.
			err = fmt.Errorf("calling %q: %w", method, err)
		} else if method != "initialize" {
			// A call given up on (its deadline, or its caller gone), be it
			// waiting for the answer or for the response headers (a server
			// may send none before the answer): go-sdk tells the server,
			// best effort, off the caller's path, and so the tool stops.
			// (An initialize is never cancelled: the lifecycle forbids it.)
			go s.cancelled(context.WithoutCancel(ctx), version, id, ctx.Err())
		}
		return nil, classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	summary := "sending " + strconv.Quote(method)
	req, err := http.NewRequestWithContext(context.WithValue(ctx, rawRequestKey{}, true), http.MethodPost, s.raw.endpoint, bytes.NewReader(body))
	if err != nil {
		return fail(err)
	}
	s.rawHeaders(req.Header, version, method, name)
	for k, v := range paramHeaders {
		req.Header.Set(k, v)
	}
	resp, err := s.raw.hc.Do(req)
	if err != nil {
		return fail(fmt.Errorf("%s: %w: %w", summary, errRejected, err))
	}
	if err := s.checkResponse(summary, resp); err != nil {
		resp.Body.Close()
		return fail(err)
	}
	if err := s.noteSessionID(resp); err != nil {
		resp.Body.Close()
		return fail(err)
	}
	// Read on this goroutine (a hand-off to another would wake a thread on
	// every call); the call still ends at its deadline, which go-sdk meets
	// by reading on a goroutine: the body is closed under the reader. The
	// request was detached from ctx (drain.go) so that the rest of the
	// stream can be read after the answer and the connection reused; the
	// detached request still ends drainGrace after ctx.
	closeOnDone := context.AfterFunc(ctx, func() { resp.Body.Close() })
	a, rest, err := s.readCall(ctx, resp, id, version, summary)
	closeOnDone()
	switch {
	case rest == nil:
	case s.hand != nil:
		finishBodyNow(rest) // a raw probe's next request follows at once
	default:
		finishBody(rest)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if err == errNoAnswer {
			return fail(err)
		}
		return fail(fmt.Errorf("%s: %w", summary, err))
	}
	return a, nil
}

// maxResumes is how many times a stream that ended without the answer is
// resumed without progress (go-sdk's default MaxRetries), and how many
// times one resumption is tried.
const maxResumes = 5

// readCall reads the answer to request id from resp, and returns the body
// still to be read to its end and closed (the rest of the stream, which
// the server ends after the answer) unless it failed. An event stream that
// ends without the answer is resumed from its last event, as go-sdk does
// (GET with Last-Event-ID, after the delay the server asked for).
func (s *Session) readCall(ctx context.Context, resp *http.Response, id int64, version, summary string) (*answer, io.ReadCloser, error) {
	if mediaType(resp.Header.Get("Content-Type")) != "text/event-stream" {
		// Read whole first, as go-sdk does: a body cut short is the
		// connection's failure, a body that is not JSON the server's.
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			// In go-sdk's words, and as text: it is classified as an
			// invalid answer, not as the connection's failure.
			return nil, resp.Body, fmt.Errorf("failed to read body: %v", err)
		}
		if err := checkDepth(b, sdkMaxDepth); err != nil {
			// go-sdk refuses the message before decoding it.
			return nil, resp.Body, fmt.Errorf("failed to decode response: unmarshaling jsonrpc message: %v", err)
		}
		var a answer
		if err := json.Unmarshal(b, &a); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) && len(bytes.TrimSpace(b)) > 0 {
				// What the body limiter records for go-sdk's requests;
				// go-sdk then closes the session.
				s.tr.fail(errNotJSON)
			}
			return nil, resp.Body, fmt.Errorf("failed to decode response: %v", sdkDecodeError(b, err))
		}
		var idBuf [20]byte
		mine := bytes.Equal(a.ID, strconv.AppendInt(idBuf[:0], id, 10))
		if !mine || a.JSONRPC != "2.0" {
			// A message go-sdk cannot decode (no id, another version
			// tag) fails its session.
			if _, err := jsonrpc.DecodeMessage(b); err != nil {
				return nil, resp.Body, fmt.Errorf("failed to decode response: %v", err)
			}
		}
		if !mine {
			// Not the answer to this request (a notification, an answer
			// to another): go-sdk's client routes it elsewhere or drops
			// it, and the call, with nothing more to come on this POST,
			// waits until its deadline.
			<-ctx.Done()
			return nil, resp.Body, ctx.Err()
		}
		return &a, resp.Body, nil
	}
	body := resp.Body
	prev, misses := "", 0
	for {
		a, end, err := readEvents(body, id)
		if err != errNoAnswer || end.lastID == "" {
			return a, body, err
		}
		body.Close()
		if end.lastID != prev {
			prev, misses = end.lastID, 0
		} else if misses++; misses > maxResumes {
			return nil, nil, fmt.Errorf("exceeded %d retries without progress (session ID: %v)", maxResumes, s.sessionID())
		}
		resp, err := s.resume(ctx, version, end)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to reconnect (session ID: %v): %v", s.sessionID(), err)
		}
		if err := s.checkResponse(summary, resp); err != nil {
			resp.Body.Close()
			return nil, nil, err
		}
		body = resp.Body
	}
}

// resume asks for a stream again from its last event: go-sdk's
// connectSSE, tried maxResumes times, first after the delay the stream
// asked for (or a second or so), then backing off.
func (s *Session) resume(ctx context.Context, version string, end streamEnd) (*http.Response, error) {
	delay := end.retry
	if delay <= 0 {
		delay = reconnectDelay(1)
	}
	var last error
	for attempt := 1; attempt <= maxResumes; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.raw.endpoint, nil)
		if err != nil {
			return nil, err
		}
		if version != "" {
			// None while the handshake is made (initialize's stream
			// resumed), as go-sdk: not an empty one.
			req.Header.Set("Mcp-Protocol-Version", version)
		}
		if id := s.sessionID(); id != "" {
			req.Header.Set("Mcp-Session-Id", id)
		}
		req.Header.Set("Last-Event-ID", end.lastID)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := s.raw.hc.Do(req)
		if err == nil {
			return resp, nil
		}
		last = err
		delay = reconnectDelay(attempt + 1)
	}
	return nil, fmt.Errorf("connection failed after %d attempts: %w", maxResumes, last)
}

// reconnectDelay is go-sdk's backoff: a second, growing by half each
// attempt up to 30 s, plus as much again at random.
func reconnectDelay(attempt int) time.Duration {
	d := time.Duration(float64(time.Second) * math.Pow(1.5, float64(attempt-1)))
	d = min(d, 30*time.Second)
	return d + rand.N(d)
}

// rawHeaders sets what go-sdk's streamable client sends with a request:
// the body's types, the protocol version, the session id (none on a
// 2026-07-28 session) and, from 2026-07-28, the routing headers (SEP-2243)
// computed from what is sent. The connection's headers and the trace
// context are the roundTripper's.
func (s *Session) rawHeaders(h http.Header, version, method, name string) {
	// Canonical names, and shared values for the constant ones: nothing
	// modifies a request's header values once it is built.
	h["Content-Type"] = hdrJSON
	h["Accept"] = hdrAccept
	if version != "" {
		h["Mcp-Protocol-Version"] = []string{version}
	}
	if id := s.sessionID(); id != "" {
		h["Mcp-Session-Id"] = []string{id}
	}
	if version >= newProtocol {
		if method == "tools/call" {
			h["Mcp-Method"] = hdrToolsCall
		} else {
			h["Mcp-Method"] = []string{method}
		}
		if name != "" {
			h["Mcp-Name"] = []string{mcpheader.Encode(name)}
		}
	}
}

var (
	hdrJSON      = []string{"application/json"}
	hdrAccept    = []string{"application/json, text/event-stream"}
	hdrToolsCall = []string{"tools/call"}
)

// checkResponse reads the HTTP status as go-sdk's streamable client does
// (streamableClientConn.checkResponse): the errors are go-sdk's, and the
// roundTripper has recorded the failure on the tracker, so classify makes
// of them what it makes of go-sdk's (a 401 or 403 with its challenge is
// ErrUpstreamAuth, a 404 on a session is the session missing, which the
// pool retries on a fresh one).
func (s *Session) checkResponse(summary string, resp *http.Response) error {
	if err := s.checkStatus(summary, resp); err != nil {
		return err
	}
	if ct := mediaType(resp.Header.Get("Content-Type")); ct != "application/json" && ct != "text/event-stream" {
		return fmt.Errorf("%s: unsupported content type %q", summary, ct)
	}
	return nil
}

// checkStatus is the part of checkResponse that every POST gets, a
// notification's too.
func (s *Session) checkStatus(summary string, resp *http.Response) error {
	code := resp.StatusCode
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %v", errRejected, summary, http.StatusText(code))
	}
	if code < 200 || code >= 300 {
		// A JSON-RPC error explains the status (the body is capped), if
		// go-sdk's decoder takes it for an answer: one with a null id (as
		// the TypeScript SDK's servers say "Session not found") it does
		// not, and a 404 is then the session missing.
		b, _ := io.ReadAll(resp.Body)
		if msg, _ := jsonrpc.DecodeMessage(b); msg != nil {
			if r, ok := msg.(*jsonrpc.Response); ok && r.Error != nil {
				return fmt.Errorf("%s: %w: %w: %v", summary, r.Error, errRejected, http.StatusText(code))
			}
		}
		if id := s.sessionID(); code == http.StatusNotFound && id != "" {
			if s.hand != nil {
				s.hand.missing = true
			}
			return fmt.Errorf("%s: failed to connect (session ID: %v): %w", summary, id, mcp.ErrSessionMissing)
		}
		return fmt.Errorf("%s: %v", summary, http.StatusText(code))
	}
	return nil
}

// cancelTimeout bounds the notification of a call given up on (go-sdk's
// notifyCancellationTimeout).
const cancelTimeout = 5 * time.Second

// cancelled tells the server that request id was given up on, as go-sdk
// does: notifications/cancelled, best effort.
func (s *Session) cancelled(ctx context.Context, version string, id int64, why error) {
	ctx, cancel := context.WithTimeout(ctx, cancelTimeout)
	defer cancel()
	body, err := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"method":  "notifications/cancelled",
		"params":  map[string]any{"requestId": id, "reason": why.Error()},
	})
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.raw.endpoint, bytes.NewReader(body))
	if err != nil {
		return
	}
	s.rawHeaders(req.Header, version, "notifications/cancelled", "")
	resp, err := s.raw.hc.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// errRejected is go-sdk's marker of a request its transport did not get
// through (jsonrpc2.ErrRejected), which its errors carry: classify knows
// it for what it is (sdkMarkers).
var errRejected = &jsonrpc.Error{Code: -32005, Message: "rejected by transport"}

// wireError is the JSON-RPC error of an answer; it is go-sdk's own type,
// so that errors carry a *jsonrpc.Error as go-sdk's do (see Error).
type wireError = jsonrpc.Error
