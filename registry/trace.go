package registry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: a probe (a test, a tool sync, the monitor's) is one span, with
// the prober's upstream span and the store's slow transactions under it; a
// monitor round is one span with its probes under it. Tool calls get no
// span of their own here: the gateway's (or the API request's) span is
// the call, and mcpclient's span is the upstream conversation.
//
// The Service takes a trace.TracerProvider in its Options rather than
// using otel's global one, so that two services in one process (tests)
// keep their traces apart; nil records nothing.

// Span attribute keys.
const (
	attrConnectionID = attribute.Key("tether.connection_id")
	attrTenantID     = attribute.Key("tether.tenant_id")
	attrOutcome      = attribute.Key("tether.outcome")
	attrErrorType    = attribute.Key("error.type")
	attrProbes       = attribute.Key("tether.probes")
)

// startSpan starts the span of an operation on connection c.
func (s *Service) startSpan(ctx context.Context, name string, c *Connection) (context.Context, trace.Span) {
	ctx, span := s.tracer.Start(ctx, name)
	if span.IsRecording() {
		span.SetAttributes(attrConnectionID.String(c.ID), attrTenantID.String(c.TenantID))
	}
	return ctx, span
}

// endSpan records outcome (as [Outcome] names it) and ends span.
func endSpan(span trace.Span, outcome string) {
	if span.IsRecording() && outcome != "" {
		span.SetAttributes(attrOutcome.String(outcome))
		if outcome != "ok" {
			span.SetAttributes(attrErrorType.String(outcome))
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
}
