package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/tether-dev/tether/internal/logctx"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing of API requests. With a tracer provider, otelhttp wraps the
// listener: one server span per request, a child of the caller's W3C
// traceparent when it sends one. Echo only knows the route once it has
// routed, so the span is named "METHOD /route/:param" afterwards, and
// gets the route and the tenant's id as attributes: never the path's
// values, the query string, a header or the key.
//
// Without one (tracing off), tether still takes the caller's traceparent
// and hands it on unchanged: upstream servers see the agent's trace, and
// tether adds no span and no trace of its own.

// propagator reads and writes W3C trace context (traceparent, tracestate).
// Baggage is neither taken nor passed on: it is the caller's free-form
// data, and an upstream is another party.
var propagator = propagation.TraceContext{}

// Span attribute keys of tether's own.
const attrTenantID = attribute.Key("tether.tenant_id")

// traceHandler wraps e for tracing.
func (s *Server) traceHandler(e http.Handler) http.Handler {
	if s.tracer == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Traceparent") != "" {
				r = r.WithContext(propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header)))
			}
			e.ServeHTTP(w, r)
		})
	}
	return otelhttp.NewHandler(e, "http",
		otelhttp.WithTracerProvider(s.tracer),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		// The path may hold ids; the route is set once known.
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
		// Probes of liveness and scrapes are not worth a trace each.
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}

// traceRequests puts the request id into the request's context (for every
// log line of the request), answers with the request's traceparent beside
// X-Request-Id (error responses included: the headers are set before the
// handler runs), and names the span after the route once routed.
func (s *Server) traceRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		ctx := logctx.WithRequestID(r.Context(), requestID(c))
		c.SetRequest(r.WithContext(ctx))
		span := trace.SpanFromContext(ctx)
		if sc := span.SpanContext(); sc.IsValid() {
			c.Response().Header().Set("Traceparent", traceparent(sc))
		}
		err := next(c)
		if span.IsRecording() {
			route := s.labels.route(c.Path())
			span.SetName(s.labels.method(r.Method) + " " + route)
			attrs := []attribute.KeyValue{attribute.String("http.route", route)}
			if t := tenantFrom(c.Request().Context()); t != nil {
				attrs = append(attrs, attrTenantID.String(t.ID))
			}
			span.SetAttributes(attrs...)
		}
		return err
	}
}

// traceparent formats sc as a W3C traceparent value.
func traceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}
