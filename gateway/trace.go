package gateway

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/logctx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of /mcp. Each JSON-RPC message an agent sends gets a server span
// ("tools/call crm_add_contact"), a child of the HTTP request's span (the
// server package's, or the agent's own traceparent when tether records
// none), or of the trace context the agent put in the call's _meta
// (SEP-414: _meta.traceparent and _meta.tracestate) when that names
// another trace. The registry's call and mcpclient's upstream span run
// under it, and mcpclient hands the context on upstream.
//
// The SDK handles a message on its session's context, which it took from
// the request that opened the session (initialize), not from the POST
// that carries the message. So ServeHTTP writes the POST's own trace
// context and request id into the request headers the SDK passes along
// (RequestExtra.Header), and the middleware below rebuilds the context
// from them: a tools/call's logs and spans belong to its own request.

// propagator reads and writes W3C trace context. Baggage is not passed on.
var propagator = propagation.TraceContext{}

// requestIDHeader carries the request id from ServeHTTP to the middleware.
const requestIDHeader = "X-Request-Id"

// Span attribute keys (OpenTelemetry's MCP and GenAI conventions, and
// tether's own).
const (
	attrMethod    = attribute.Key("mcp.method.name")
	attrToolName  = attribute.Key("gen_ai.tool.name")
	attrOperation = attribute.Key("gen_ai.operation.name")
	attrTenantID  = attribute.Key("tether.tenant_id")
	attrErrorType = attribute.Key("error.type")
)

// stamp writes r's trace context and request id into a copy of its
// headers, for the middleware (see above). r is the handler's own shallow
// copy.
func stamp(r *http.Request) {
	ctx := r.Context()
	hdr := r.Header.Clone()
	if trace.SpanContextFromContext(ctx).IsValid() {
		hdr.Del("Traceparent")
		hdr.Del("Tracestate")
		propagator.Inject(ctx, propagation.HeaderCarrier(hdr))
	}
	// else: nothing in front of the handler read the agent's trace
	// context; its headers, as they came, are the parent.
	hdr.Set(requestIDHeader, logctx.RequestID(ctx))
	r.Header = hdr
}

// traceMessages is the view's outermost receiving middleware.
func (h *Handler) traceMessages(v *view) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			var hdr http.Header
			if extra := req.GetExtra(); extra != nil {
				hdr = extra.Header
			}
			var parent trace.SpanContext
			if hdr != nil {
				parent = trace.SpanContextFromContext(propagator.Extract(context.Background(), propagation.HeaderCarrier(hdr)))
			}
			ctx = logctx.WithRequestID(ctx, hdr.Get(requestIDHeader))
			var tool string
			var meta mcp.Meta
			if r, ok := req.(*mcp.CallToolRequest); ok && r.Params != nil {
				tool, meta = r.Params.Name, r.Params.Meta
			}
			ctx, span := h.startMessage(ctx, parent, v.tenantID, method, tool, meta)
			defer span.End()
			res, err := next(ctx, method, req)
			endMessage(span, isToolError(res), err != nil)
			return res, err
		}
	}
}

// startMessage starts the span of one message an agent sent: a child of
// parent (the POST's trace context), or of the trace context in the
// message's _meta when that names another trace, linked to the POST's.
// tool is the tools/call's tool name ("" for other methods).
func (h *Handler) startMessage(ctx context.Context, parent trace.SpanContext, tenantID, method, tool string, meta map[string]any) (context.Context, trace.Span) {
	var link trace.SpanContext
	if meta != nil {
		if m := metaContext(meta); m.IsValid() && m.TraceID() != parent.TraceID() {
			parent, link = m, parent
		}
	}
	ctx = trace.ContextWithSpanContext(ctx, parent)
	name := method
	attrs := []attribute.KeyValue{attrMethod.String(method), attrTenantID.String(tenantID)}
	if method == "tools/call" {
		name += " " + tool
		attrs = append(attrs, attrToolName.String(tool), attrOperation.String("execute_tool"))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...)}
	if link.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: link}))
	}
	return h.tracer.Start(ctx, name, opts...)
}

// endMessage records how a message's handling ended on its span.
func endMessage(span trace.Span, toolError, rpcError bool) {
	switch {
	case rpcError:
		// The message may quote the agent's input; the kind is enough.
		span.SetAttributes(attrErrorType.String("jsonrpc_error"))
		span.SetStatus(codes.Error, "JSON-RPC error")
	case toolError:
		// call set error.type.
		span.SetStatus(codes.Error, "tool call failed")
	}
}

// metaContext reads the SEP-414 trace context from a request's _meta.
func metaContext(meta map[string]any) trace.SpanContext {
	tp, _ := meta["traceparent"].(string)
	if tp == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": tp}
	if ts, ok := meta["tracestate"].(string); ok {
		carrier["tracestate"] = ts
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), carrier))
}

// isToolError reports a tools/call result with isError set.
func isToolError(res mcp.Result) bool {
	r, ok := res.(*mcp.CallToolResult)
	return ok && r != nil && r.IsError
}
