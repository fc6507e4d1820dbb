package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/mcpheader"
	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The tools/call fast path. A tool call is the request agents make on
// every step, and through the SDK it costs the most of all: go-sdk v1.8.0
// decodes each message several times with a decoder that allocates a
// fresh 32 KiB buffer per value, and builds a temporary session for each
// 2026-07-28 request. A tools/call that is plainly well-formed (one
// request, the media types the transport requires, a session this process
// holds or a replica's, or a 2026-07-28 request whose routing headers and
// _meta agree) is served here, in front of the SDK, with the standard
// library's decoder. Anything else, including every malformed request,
// goes to the SDK, which answers it (and refuses what it must) as before:
// the fast path never has to reproduce an SDK refusal.
//
// What the call does is the same either way: tenant, persona and API key
// from the request's credentials, the registry's InvokeAgentTool (pins,
// defaults, integrity checks, recording), the result within the size cap,
// the message's span. A call needs nothing from the view (the registry has
// the last word on every tool, listed or not: unknownTools), so none is
// built for it.

// intercept serves, in front of the SDK, the POSTs that are served raw:
// tasks requests (tasks.go) and tool calls. It reports whether it served
// r; otherwise r's body is left for the SDK to read.
func (h *Handler) intercept(w http.ResponseWriter, r *http.Request, tenantID, persona, sid string) bool {
	stateless := isStateless(r)
	if r.Method != http.MethodPost || r.Body == nil || (!stateless && sid == "") {
		return false // a POST that may open a session is the SDK's
	}
	body, ok := peekBody(r)
	if !ok {
		return false
	}
	req, ok := decodeRequest(body)
	if !ok {
		return false
	}
	if stateless && h.interceptTasks(w, r, req, tenantID, persona) {
		return true
	}
	return h.fastCall(w, r, req, tenantID, persona, sid, stateless)
}

// peekBody reads r's body (up to maxInterceptBody), leaving it for the
// next reader; ok is false for a larger or unreadable one.
func peekBody(r *http.Request) (body []byte, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxInterceptBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	return body, err == nil && len(body) <= maxInterceptBody
}

// fastCall serves r if it is a tools/call or tools/list the fast path
// takes.
func (h *Handler) fastCall(w http.ResponseWriter, r *http.Request, req *rpcRequest, tenantID, persona, sid string, stateless bool) bool {
	if !plainPOST(r) || !fastRequest(req) || h.life.Closed() {
		return false // the SDK's (a closed handler answers 503 there)
	}
	id, method, params := req.ID, req.Method, req.Params
	if params == nil {
		params = map[string]any{} // a tools/list without params
	}
	name, _ := params["name"].(string)
	meta, _ := params["_meta"].(map[string]any)
	version, _ := meta[mcp.MetaKeyProtocolVersion].(string)
	if stateless {
		// The checks of SEP-2575 and SEP-2243, passed; the SDK answers
		// whatever fails one.
		header := r.Header.Get("Mcp-Protocol-Version")
		if header != statelessVersion || version != header || r.Header.Get("Mcp-Method") != method {
			return false
		}
		if mname := r.Header.Get("Mcp-Name"); method == "tools/call" && mname != name && mname != mcpheader.Encode(name) {
			return false
		}
		if !validRequestMeta(meta) {
			return false // the SDK refuses it (-32602)
		}
		if method == "tools/call" && !h.headerFree(tenantID, persona, name) {
			// Its Mcp-Param-* headers are checked against the body by
			// the SDK (SEP-2243), which knows the tool's schema.
			return false
		}
	} else {
		if version != "" || !sessionVersions[r.Header.Get("Mcp-Protocol-Version")] {
			// A 2026-07-28 request on a session, or a version the SDK
			// does not speak: the SDK refuses it.
			return false
		}
		if !h.isForeign(sid) {
			s := h.beginPOST(sid)
			if s == nil {
				return false // closed, or never ours: the SDK answers 404
			}
			// The session is busy, so not idle (sweepIdleSessions).
			defer h.endPOST(s)
		}
	}
	if method == "tools/list" {
		return h.fastList(w, r, id, tenantID, persona, sid, stateless)
	}
	r.Body = http.NoBody
	h.fastRequests.Add(1)
	if sid != "" {
		w.Header().Set("Mcp-Session-Id", sid)
	}

	// The message's span, as traceMessages starts it for the SDK's.
	ctx, span := h.startMessage(r.Context(), requestParent(r), tenantID, "tools/call", name, meta)
	defer span.End()
	res, toolErr, rpcErr := h.invoke(ctx, r, tenantID, persona, params, stateless)
	endMessage(span, toolErr, rpcErr != nil)
	writeAnswer(w, id, res, rpcErr)
	return true
}

// fastList serves a tools/list of the first (and only) page from the
// view's encoded listing; a listing the SDK would page is left to it.
func (h *Handler) fastList(w http.ResponseWriter, r *http.Request, id json.RawMessage, tenantID, persona, sid string, stateless bool) bool {
	v, ok := h.acquire(w, r, tenantID, persona, false)
	if !ok {
		return true // answered
	}
	defer h.releaseView(v, false)
	if stateless {
		v.keepUntil.Store(time.Now().Add(statelessIdle).UnixNano())
	}
	l := v.listing.Load()
	if l == nil || l.count > listPageSize {
		return false
	}
	r.Body = http.NoBody
	if sid != "" {
		w.Header().Set("Mcp-Session-Id", sid)
	}
	h.fastRequests.Add(1)
	_, span := h.startMessage(r.Context(), requestParent(r), tenantID, "tools/list", "", nil)
	defer span.End()
	res := make([]byte, 0, len(l.tools)+160)
	res = append(res, '{')
	if stateless {
		info, _ := json.Marshal(map[string]any{mcp.MetaKeyServerInfo: &h.impl})
		res = append(res, `"resultType":"`+registry.ResultComplete+`","_meta":`...)
		res = append(append(res, info...), ',')
	}
	res = append(res, `"ttlMs":`+strconv.Itoa(int(ToolsTTL/time.Millisecond))+`,"cacheScope":"private","tools":`...)
	res = append(append(res, l.tools...), '}')
	writeAnswer(w, id, res, nil)
	return true
}

// requestParent is the trace context of the POST itself: its span, or
// the agent's traceparent when nothing in front of the handler read it.
func requestParent(r *http.Request) trace.SpanContext {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		return sc
	}
	return trace.SpanContextFromContext(propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
}

// validRequestMeta reports a 2026-07-28 request's _meta as the SDK takes
// it (validateRequestMeta): clientCapabilities an object, and clientInfo,
// if present, an implementation.
func validRequestMeta(meta map[string]any) bool {
	if _, ok := meta[mcp.MetaKeyClientCapabilities].(map[string]any); !ok {
		return false
	}
	info, present := meta[mcp.MetaKeyClientInfo]
	if !present {
		return true
	}
	if _, ok := info.(map[string]any); !ok {
		return false
	}
	b, err := json.Marshal(info)
	var impl mcp.Implementation
	return err == nil && json.Unmarshal(b, &impl) == nil
}

// headerFree reports that the tool slug of (tenantID, persona) takes no
// parameter headers the SDK would check: the view is built, and the tool
// is not one it lists with x-mcp-header marks (an unlisted tool's headers
// the SDK does not check either). Without a view it cannot tell: the SDK
// serves the call and builds the view. A view found is kept for the
// stateless requests to come, as serveStateless keeps it.
func (h *Handler) headerFree(tenantID, persona, slug string) bool {
	h.mu.Lock()
	v := h.views[tenantID][persona]
	h.mu.Unlock()
	if v == nil {
		return false
	}
	v.keepUntil.Store(time.Now().Add(statelessIdle).UnixNano())
	v.namesMu.RLock()
	defer v.namesMu.RUnlock()
	return !v.paramHeaders[slug]
}

// sessionVersions are the revisions with sessions that go-sdk serves
// ("": the header is optional, and the SDK then assumes 2025-03-26).
var sessionVersions = func() map[string]bool {
	m := map[string]bool{"": true}
	for _, v := range mcp.SupportedProtocolVersions() {
		if v < statelessVersion {
			m[v] = true
		}
	}
	return m
}()

// plainPOST reports a POST with the media types the streamable HTTP
// transport requires.
func plainPOST(r *http.Request) bool {
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return false
	}
	if r.Header.Get("Last-Event-ID") != "" {
		return false
	}
	// Both media types named (their parameters aside); wildcards, which
	// the SDK also takes, are left to it.
	var jsonOK, streamOK bool
	for _, value := range r.Header.Values("Accept") {
		for token := range strings.SplitSeq(value, ",") {
			base, _, _ := strings.Cut(token, ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json":
				jsonOK = true
			case "text/event-stream":
				streamOK = true
			}
		}
	}
	return jsonOK && streamOK
}

// decodeRequest reads a JSON-RPC request, one decode of its body; ok is
// false for anything else (a batch, a notification, a response, an id
// that is neither a string nor a number, not JSON): those are the SDK's.
// Keys are matched exactly, as the SDK matches them (encoding/json's
// struct fields would take "Method" for "method").
func decodeRequest(body []byte) (*rpcRequest, bool) {
	var msg map[string]json.RawMessage
	if json.Unmarshal(body, &msg) != nil {
		return nil, false
	}
	req := &rpcRequest{ID: msg["id"]}
	id := req.ID
	if len(id) == 0 || (id[0] != '"' && id[0] != '-' && (id[0] < '0' || id[0] > '9')) {
		return nil, false
	}
	if json.Unmarshal(msg["method"], &req.Method) != nil {
		return nil, false
	}
	if v, ok := msg["jsonrpc"]; ok && json.Unmarshal(v, &req.JSONRPC) != nil {
		return nil, false
	}
	if raw, ok := msg["params"]; ok && json.Unmarshal(raw, &req.Params) != nil {
		return nil, false // not an object
	}
	return req, true
}

// fastRequest reports a tools/call or tools/list the fast path takes: a
// tools/call names its tool, and a paged tools/list (a cursor) is left to
// the SDK's cursors.
func fastRequest(req *rpcRequest) bool {
	if req.JSONRPC != "2.0" {
		return false
	}
	switch req.Method {
	case "tools/call":
		name, _ := req.Params["name"].(string)
		return name != ""
	case "tools/list":
		_, paged := req.Params["cursor"]
		return !paged
	}
	return false
}

// invoke runs one tools/call of (tenantID, persona) from its params, as
// call does for the SDK's: current is a 2026-07-28 request (whose _meta
// declares the agent's capabilities and whose retry carries its input
// responses and request state). result is the JSON of the result;
// toolError reports an isError result; rpcErr is a JSON-RPC error (a
// request state tether did not issue, a malformed retry).
func (h *Handler) invoke(ctx context.Context, r *http.Request, tenantID, persona string, params map[string]any, current bool) (result []byte, toolError bool, rpcErr *jsonrpc.Error) {
	span := trace.SpanFromContext(ctx)
	fail := func(msg string) ([]byte, bool, *jsonrpc.Error) {
		return h.encodeResult(errorResult(msg), current), true, nil
	}
	slug, _ := params["name"].(string)
	args, _ := params["arguments"].(map[string]any)
	if raw, ok := params["arguments"]; ok && raw != nil && args == nil {
		span.SetAttributes(attrErrorType.String("invalid_arguments"))
		return fail("invalid arguments: arguments must be a JSON object")
	}
	if args == nil {
		args = map[string]any{}
	}
	opts := registry.CallOptions{KeyID: h.keyID(r)}
	if current {
		meta, _ := params["_meta"].(map[string]any)
		caps, _ := meta[mcp.MetaKeyClientCapabilities].(map[string]any)
		if caps == nil {
			caps = map[string]any{}
		}
		opts.ClientCapabilities = caps
		var ok bool
		if opts.RequestState, ok = params["requestState"].(string); !ok && params["requestState"] != nil {
			return nil, false, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid requestState: not a string"}
		}
		if opts.InputResponses, ok = params["inputResponses"].(map[string]any); !ok && params["inputResponses"] != nil {
			return nil, false, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "invalid inputResponses: not an object"}
		}
	}
	res, failure, callErr := h.invokeTool(ctx, tenantID, persona, slug, args, opts)
	if callErr != nil {
		return nil, false, callErr
	}
	if failure != "" {
		return fail(failure)
	}
	switch res["resultType"] {
	case registry.ResultInputRequired:
		if !current || !registry.DeclaresTasks(opts.ClientCapabilities) {
			// As the SDK's path answers it (call): the input requests,
			// checked, and the sealed state, or for an older agent an
			// isError result naming what the tool asked for.
			out := inputRequired(res, current)
			if out.IsError || !current {
				return h.encodeResult(out, current), out.IsError, nil
			}
			out.Meta = h.serverInfoMeta(out.Meta)
			b, err := json.Marshal(out)
			if err != nil {
				return fail("invalid upstream response: " + err.Error())
			}
			return withResultType(b, registry.ResultInputRequired), false, nil
		}
		fallthrough
	case registry.ResultTask:
		// Passed through with tether's sealed state or handle, to an
		// agent that declared the tasks extension (tasks.go); a task
		// comes only to such an agent.
		meta, _ := res["_meta"].(map[string]any)
		res["_meta"] = h.serverInfoMeta(meta)
		b, err := json.Marshal(res)
		if err != nil {
			return fail("invalid upstream response: " + err.Error())
		}
		return b, false, nil
	}
	out, err := toResult(res, h.maxResult)
	if err != nil {
		return fail("invalid upstream response: " + err.Error())
	}
	return h.encodeResult(ownMeta(out), current), out.IsError, nil
}

// encodeResult is the JSON of a complete result. A 2026-07-28 one says so
// (resultType, which the SDK's encoding leaves to its own middleware) and
// names tether in its _meta, as the SDK does (SEP-2575).
func (h *Handler) encodeResult(res *mcp.CallToolResult, current bool) []byte {
	if current {
		res.Meta = h.serverInfoMeta(res.Meta)
	}
	b, err := json.Marshal(res)
	if err != nil {
		// Only an unencodable structuredContent could fail, and it came
		// decoded from JSON.
		b, _ = json.Marshal(errorResult("invalid upstream response: " + err.Error()))
	}
	if current {
		b = withResultType(b, registry.ResultComplete)
	}
	return b
}

// withResultType is the JSON object b with a resultType member first.
func withResultType(b []byte, resultType string) []byte {
	if len(b) < 2 || b[0] != '{' {
		return b
	}
	sep := ","
	if b[1] == '}' {
		sep = ""
	}
	return append([]byte(`{"resultType":"`+resultType+`"`+sep), b[1:]...)
}

// serverInfoMeta is meta (not modified) with tether's serverInfo. It
// replaces an upstream's: the agent's server is tether.
func (h *Handler) serverInfoMeta(meta map[string]any) map[string]any {
	out := make(map[string]any, len(meta)+1)
	for k, v := range meta {
		out[k] = v
	}
	out[mcp.MetaKeyServerInfo] = &h.impl
	return out
}

// writeAnswer writes one JSON-RPC answer: result (JSON) or rpcErr.
func writeAnswer(w http.ResponseWriter, id json.RawMessage, result []byte, rpcErr *jsonrpc.Error) {
	buf := make([]byte, 0, len(result)+64)
	buf = append(buf, `{"jsonrpc":"2.0","id":`...)
	buf = append(buf, id...)
	if rpcErr != nil {
		e, _ := json.Marshal(rpcErr)
		buf = append(append(buf, `,"error":`...), e...)
	} else {
		buf = append(append(buf, `,"result":`...), result...)
	}
	buf = append(buf, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-transform") // as the SDK answers
	// The length up front: a result over net/http's 2 KB buffer would
	// otherwise go out chunked, in several writes.
	w.Header().Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}
