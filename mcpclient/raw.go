package mcpclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/mcpheader"
	"github.com/tether-dev/tether/registry"
)

// The tasks extension (SEP-2663) is an MCP conversation go-sdk cannot hold
// at all: v1.8.0 knows no tasks/* method and its CallTool drops a task
// result (resultType "task"). (tools/call, rawcall.go, and a probe's
// handshake, rawprobe.go, are raw for speed, held equal to go-sdk's by
// tests.) Over a 2026-07-28 streamable HTTP
// session, which needs no session id, a request is one POST; these are
// sent as raw JSON-RPC through the session's own guarded HTTP client (the
// connection's headers, the body caps, the redirect policy).

// newProtocol is the first revision whose requests stand alone.
const newProtocol = "2026-07-28"

// rawHTTP posts raw JSON-RPC requests to a streamable HTTP endpoint.
type rawHTTP struct {
	hc       *http.Client
	endpoint string
	nextID   atomic.Int64
}

// rawCapable reports whether s can carry raw requests of the tasks
// extension: a 2026-07-28 streamable HTTP session whose server declared
// the extension.
func (s *Session) rawCapable() bool {
	if s.raw == nil || s.ProtocolVersion() < newProtocol {
		return false
	}
	res := s.initResult()
	if res == nil || res.Capabilities == nil {
		return false
	}
	_, ok := res.Capabilities.Extensions[registry.TasksExtension]
	return ok
}

// rawCall sends one request (params carry the 2026-07-28 _meta, added
// here) and returns its result object, redacted of the connection's
// secrets. A JSON-RPC error is an ErrUpstreamError.
func (s *Session) rawCall(ctx context.Context, method, name string, params map[string]any, caps map[string]any) (map[string]any, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	mark := s.tr.mark()
	params = withRequestMeta(ctx, params, s.ProtocolVersion(), caps)
	id := rawIDBase + s.raw.nextID.Add(1)
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, newError(registry.ErrUpstreamInvalid, err, "encode %s: %s", method, err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.raw.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, newError(registry.ErrUpstreamConnection, err, "%s", err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", s.ProtocolVersion())
	// Routing headers (SEP-2243) from what is sent.
	req.Header.Set("Mcp-Method", method)
	if name != "" {
		req.Header.Set("Mcp-Name", mcpheader.Encode(name))
	}
	resp, err := s.raw.hc.Do(req)
	if err != nil {
		return nil, classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, newError(registry.ErrUpstreamError, nil, "%s: HTTP %d", method, resp.StatusCode)
	}
	msg, err := readAnswer(resp, id)
	if err != nil {
		return nil, classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	if msg.Error != nil {
		// The server's error in the chain, as for every ErrUpstreamError
		// (its code tells a task the server does not know), redacted and
		// without its data.
		rpcErr := &jsonrpc.Error{Code: msg.Error.Code, Message: s.red.redact(msg.Error.Message)}
		return nil, newError(registry.ErrUpstreamError, rpcErr, "%s", s.red.redact(fmt.Sprintf("%s: %s (%d)", method, msg.Error.Message, msg.Error.Code)))
	}
	var out map[string]any
	if err := json.Unmarshal(msg.Result, &out); err != nil || out == nil {
		return nil, newError(registry.ErrUpstreamInvalid, err, "%s: the result is not a JSON object", method)
	}
	return s.red.object(out), nil
}

// eventReader is what an event stream is read with: a line buffer, and
// the data of the event being read.
type eventReader struct {
	r    *bufio.Reader
	data []byte
}

// eventReaders are pooled: reading an answer costs no buffer.
var eventReaders = sync.Pool{New: func() any { return &eventReader{r: bufio.NewReaderSize(nil, 4<<10)} }}

// answer is a JSON-RPC response.
type answer struct {
	// JSONRPC and Method tell what go-sdk would refuse to decode (see
	// answerOf).
	JSONRPC string          `json:"jsonrpc"`
	Method  json.RawMessage `json:"method"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *wireError      `json:"error"`
}

// readAnswer reads the response to request id: the JSON body, or the
// first answer with that id on an event stream (notifications and
// requests before it are skipped: tether asks for none, and go-sdk's
// client, which would answer a request, declares no capability a server
// could ask for on a tool call).
func readAnswer(resp *http.Response, id int64) (*answer, error) {
	if mediaType(resp.Header.Get("Content-Type")) != "text/event-stream" {
		var a answer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
			return nil, fmt.Errorf("decode the response: %w", err)
		}
		return &a, nil
	}
	a, _, err := readEvents(resp.Body, id)
	return a, err
}

// errNoAnswer is an event stream that ended without the answer (go-sdk's
// words for it).
var errNoAnswer = errors.New("request terminated without response")

// streamEnd is what an event stream that ended without the answer said
// about resuming it: the id of its last event and the delay it asked for
// (SSE "retry").
type streamEnd struct {
	lastID string
	retry  time.Duration
}

// readEvents reads an event stream up to the answer to request id, as
// go-sdk's client does: events named other than "message" and events
// without data (priming events, SEP-1699) are skipped, and so are
// notifications, requests and answers to other requests. Without the
// answer (the stream ended, or broke) the error is errNoAnswer, and end
// tells how to resume; an event over the size cap is the tracker's fatal
// error.
func readEvents(body io.Reader, id int64) (*answer, streamEnd, error) {
	var end streamEnd
	want := strconv.AppendInt(nil, id, 10)
	// The body reader caps each event (framedReader); lines are read
	// through a small pooled buffer, so an answer costs no large one.
	er := eventReaders.Get().(*eventReader)
	r, data := er.r, er.data[:0]
	r.Reset(body)
	defer func() {
		r.Reset(nil)
		if cap(data) <= 1<<20 {
			// Decoding copies what it keeps (json.RawMessage), so the
			// buffer can be reused; a large one is left to the GC.
			er.data = data[:0]
		} else {
			er.data = nil
		}
		eventReaders.Put(er)
	}()
	var line []byte
	var named bool // the event has a name other than "message"
	for {
		chunk, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			line = append(line, chunk...)
			continue
		}
		if len(line) > 0 {
			chunk = append(line, chunk...)
			line = line[:0]
		}
		if err != nil && err != io.EOF {
			var tooLarge *tooLargeError
			if errors.As(err, &tooLarge) {
				return nil, end, err
			}
			// go-sdk takes a stream that breaks for one that ended
			// (and resumes it if it can).
			return nil, end, errNoAnswer
		}
		chunk = bytes.TrimRight(chunk, "\r\n")
		field, value, _ := bytes.Cut(chunk, []byte(":"))
		// As go-sdk reads a field (scanEvents): its value without the
		// white space around it.
		value = bytes.TrimSpace(value)
		if len(chunk) == 0 && err == nil {
			// The end of an event.
			if a, err := answerOf(data, named, want); a != nil || err != nil {
				return a, end, err
			}
			data, named = data[:0], false
			continue
		}
		switch string(field) {
		case "data":
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		case "event":
			named = string(value) != "message"
		case "id":
			end.lastID = string(value)
		case "retry":
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil {
				end.retry = time.Duration(n) * time.Millisecond
			}
		}
		if err == io.EOF {
			// A stream may end right after its last event's data, with
			// no blank line: go-sdk takes that event too.
			if a, err := answerOf(data, named, want); a != nil || err != nil {
				return a, end, err
			}
			return nil, end, errNoAnswer
		}
	}
}

// answerOf is the event's answer to the request whose id is want, or nil:
// an unnamed (or "message") event whose data is that answer.
// An event nested deeper than go-sdk decodes is an error, as go-sdk's
// stream fails on it.
func answerOf(data []byte, named bool, want []byte) (*answer, error) {
	if len(data) == 0 || named {
		return nil, nil
	}
	if err := checkDepth(data, sdkMaxDepth); err != nil {
		return nil, fmt.Errorf("failed to decode event: unmarshaling jsonrpc message: %v", err)
	}
	var a answer
	err := json.Unmarshal(data, &a)
	if err == nil && a.JSONRPC == "2.0" && bytes.Equal(a.ID, want) && (a.Result != nil || a.Error != nil) {
		return &a, nil
	}
	if err != nil || a.JSONRPC != "2.0" || a.Method == nil {
		// go-sdk decodes every event, and one it cannot decode (not
		// JSON, another version tag, an answer without an id) fails its
		// stream, and the request, even if the answer follows. The
		// requests and notifications a server sends on the way, most
		// events, are spared the check.
		if err := sdkDecodeError(data, err); err != nil {
			return nil, fmt.Errorf("failed to decode event: %v", err)
		}
	}
	return nil, nil
}

// sdkDecodeError is go-sdk's error for a message (err: encoding/json's,
// or nil): its decoder's words, or err if it decodes it.
func sdkDecodeError(data []byte, err error) error {
	if _, derr := jsonrpc.DecodeMessage(data); derr != nil {
		return derr
	}
	return err
}

// withRequestMeta returns params (copied) with the 2026-07-28 _meta: the
// protocol version, tether's clientInfo, the capabilities declared for
// this request, and the trace context.
func withRequestMeta(ctx context.Context, params map[string]any, version string, caps map[string]any) map[string]any {
	out := make(map[string]any, len(params)+1)
	for k, v := range params {
		out[k] = v
	}
	meta := map[string]any{}
	if m, ok := params["_meta"].(map[string]any); ok {
		for k, v := range m {
			meta[k] = v
		}
	}
	for k, v := range traceMeta(ctx) {
		meta[k] = v
	}
	if caps == nil {
		caps = map[string]any{}
	}
	meta[mcp.MetaKeyProtocolVersion] = version
	meta[mcp.MetaKeyClientCapabilities] = caps
	out["_meta"] = meta
	return out
}

// rawToolCall is tools/call sent raw, so that a task result survives.
func (s *Session) rawToolCall(ctx context.Context, name string, args map[string]any, up *registry.UpstreamCall) (map[string]any, error) {
	params := map[string]any{"name": name, "arguments": args}
	if len(up.InputResponses) > 0 {
		params["inputResponses"] = up.InputResponses
	}
	if up.RequestState != "" {
		params["requestState"] = up.RequestState
	}
	return s.rawCall(ctx, "tools/call", name, params, up.ClientCapabilities)
}

// TaskRequest implements [registry.TaskProber] over the connection's warm
// session: tasks/get, tasks/update or tasks/cancel, sent raw (the SDK knows
// none of them), declaring the tasks extension.
func (p *Pool) TaskRequest(ctx context.Context, c *registry.Connection, method string, params map[string]any) (res map[string]any, err error) {
	ctx, span := p.client.startSpan(ctx, method, method, c)
	defer func() { endSpan(span, res, err) }()
	budget := callBudget(ctx, c)
	e, _, err := p.acquire(ctx, c)
	if err != nil {
		return nil, upstream(describeTimeout(err, budget))
	}
	if !e.sess.rawCapable() {
		p.release(e, verdictKeep)
		return nil, newError(registry.ErrUpstreamError, nil, "the server no longer offers the tasks extension")
	}
	taskID, _ := params["taskId"].(string)
	caps := map[string]any{"extensions": map[string]any{registry.TasksExtension: map[string]any{}}}
	res, err = e.sess.rawCall(ctx, method, taskID, params, caps)
	p.release(e, judge(ctx, err))
	if err != nil {
		return nil, upstream(describeTimeout(err, budget))
	}
	return res, nil
}

var _ registry.TaskProber = (*Pool)(nil)
