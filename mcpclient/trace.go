package mcpclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of upstream conversations. Each probe and tool call is a client
// span under the caller's (the agent's tools/call, a test, a monitor
// round), naming the connection, the transport that worked, the protocol
// version, the outcome and the upstream's last HTTP status. Its trace
// context goes upstream twice: as the W3C traceparent header on every HTTP
// request of the conversation (roundTripper), and in the _meta of
// tools/call and tools/list (SEP-414), which stdio and websocket servers
// see too. Only tether's span ids and the agent's trace id travel; header
// values, secrets and arguments never enter a span.
//
// With no tracer provider the spans are no-ops, and what goes upstream is
// the caller's own trace context, when it has one: tether then stays out
// of the trace but does not break it.

// propagator writes W3C trace context; baggage is not passed on.
var propagator = propagation.TraceContext{}

// Span attribute keys.
const (
	attrConnectionID = attribute.Key("tether.connection_id")
	attrTransport    = attribute.Key("tether.transport")
	attrOutcome      = attribute.Key("tether.outcome")
	attrErrorType    = attribute.Key("error.type")
	attrProtocol     = attribute.Key("mcp.protocol.version")
	attrMethod       = attribute.Key("mcp.method.name")
	attrToolName     = attribute.Key("gen_ai.tool.name")
	attrServerAddr   = attribute.Key("server.address")
	attrHTTPStatus   = attribute.Key("http.response.status_code")
	attrToolCount    = attribute.Key("tether.tool_count")
)

// startSpan starts the span of one conversation with conn's server.
func (c *Client) startSpan(ctx context.Context, name, method string, conn *registry.Connection, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	ctx, span := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient))
	if !span.IsRecording() {
		return ctx, span
	}
	attrs = append(attrs, attrConnectionID.String(conn.ID), attrTransport.String(string(conn.Transport)))
	if method != "" {
		attrs = append(attrs, attrMethod.String(method))
	}
	if host := endpointHost(conn); host != "" {
		attrs = append(attrs, attrServerAddr.String(host))
	}
	span.SetAttributes(attrs...)
	return ctx, span
}

// endpointHost is the host of conn's endpoint: its name alone, no user
// info, port, path or query.
func endpointHost(conn *registry.Connection) string {
	if conn.Transport == registry.TransportStdio {
		return ""
	}
	u, err := url.Parse(conn.Endpoint)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// noteSession records what the conversation ran over.
func noteSession(ctx context.Context, s *Session) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() || s == nil {
		return
	}
	span.SetAttributes(attrTransport.String(string(s.transport)), attrProtocol.String(s.ProtocolVersion()))
}

// endSpan records the outcome and ends span. The error's text stays out:
// it may quote what the upstream said, and the outcome is what a trace
// needs.
func endSpan(span trace.Span, res map[string]any, err error) {
	if span.IsRecording() {
		outcome := registry.Outcome(res, err)
		span.SetAttributes(attrOutcome.String(outcome))
		if outcome != "ok" {
			span.SetAttributes(attrErrorType.String(outcome))
		}
		if err != nil {
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
}

// injectHeader adds the trace context of req's context to req's headers
// (req is the round tripper's own clone).
func injectHeader(req *http.Request) {
	propagator.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
}

// noteStatus records the upstream's HTTP status on the conversation's span.
func noteStatus(ctx context.Context, status int) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attrHTTPStatus.Int(status))
	}
}

// traceMeta is the SEP-414 _meta of a request made under ctx: traceparent
// and tracestate, or nil when ctx has no trace context.
func traceMeta(ctx context.Context) mcp.Meta {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	propagator.Inject(ctx, carrier)
	meta := make(mcp.Meta, len(carrier))
	for k, v := range carrier {
		meta[k] = v
	}
	return meta
}
