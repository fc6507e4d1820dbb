package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: discovery, registration, code exchange, refresh and revocation
// are one client span each ("oauth refresh"), naming the endpoint's host
// and the outcome, never a URL's path or query, a token, a code or a
// client secret. Every request carries the span's W3C traceparent, so an
// authorization server that traces sees tether's call in the same trace.

// propagator writes W3C trace context; baggage is not passed on.
var propagator = propagation.TraceContext{}

// Span attribute keys.
const (
	attrServerAddr = attribute.Key("server.address")
	attrOutcome    = attribute.Key("tether.outcome")
	attrErrorType  = attribute.Key("error.type")
)

// startSpan starts the span of one OAuth operation against endpoint.
func (c *Client) startSpan(ctx context.Context, op, endpoint string) (context.Context, trace.Span) {
	ctx, span := c.tracer.Start(ctx, "oauth "+op, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		if u, err := url.Parse(endpoint); err == nil && u.Hostname() != "" {
			span.SetAttributes(attrServerAddr.String(u.Hostname()))
		}
	}
	return ctx, span
}

// endSpan records the outcome (ok, or the error's class) and ends span.
func endSpan(span trace.Span, err error) {
	if span.IsRecording() {
		outcome := outcomeOf(err)
		span.SetAttributes(attrOutcome.String(outcome))
		if err != nil {
			span.SetAttributes(attrErrorType.String(outcome))
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
}

// outcomeOf classifies an OAuth error by this package's sentinels.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrInvalidGrant):
		return "invalid_grant"
	case errors.Is(err, ErrTokenEndpoint):
		return "token_endpoint_error"
	case errors.Is(err, ErrRegistration):
		return "registration_error"
	case errors.Is(err, ErrNoOAuth):
		return "no_oauth"
	case errors.Is(err, ErrNoPKCE), errors.Is(err, ErrIssuerMismatch), errors.Is(err, ErrInvalidMetadata):
		return "invalid_metadata"
	case errors.Is(err, ErrNoClient):
		return "no_client"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}

// traced passes the request context's trace context on as headers.
type traced struct{ base http.RoundTripper }

func (t traced) RoundTrip(req *http.Request) (*http.Response, error) {
	if trace.SpanContextFromContext(req.Context()).IsValid() {
		// A RoundTripper must not modify the caller's request.
		req = req.Clone(req.Context())
		propagator.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
	}
	return t.base.RoundTrip(req)
}
