// Package telemetry sets up tether's OpenTelemetry tracing: an SDK tracer
// provider exporting spans over OTLP/HTTP, or a no-op one when tracing is
// off. cmd builds one and hands its TracerProvider down: server, gateway,
// registry, mcpclient, oauth and store take a trace.TracerProvider in their
// options (nil: no spans) and never reach for otel's global provider, so
// two tethers in one process (tests) keep their traces apart.
//
// Tracing is off unless cmd says otherwise (it does when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set).
// The SDK reads the rest of the standard OTEL_* variables itself: the
// exporter's endpoint, headers, timeout and compression
// (OTEL_EXPORTER_OTLP_*), the sampler (OTEL_TRACES_SAMPLER, default
// parentbased_always_on: an agent's sampling decision is followed), the
// batch processor's queue and delay (OTEL_BSP_*) and the resource
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
//
// Exporting never holds up a request: spans go to a batch span processor
// whose bounded queue drops spans when full, and the export runs on its own
// goroutine. An export that fails (a collector down or unreachable) is
// logged at most once a minute, with the number of spans lost meanwhile.
//
//	tr, err := telemetry.Setup(ctx, telemetry.Options{Enabled: true, Logger: log})
//	defer tr.Shutdown(ctx)
//	srv := server.New(server.Options{TracerProvider: tr.TracerProvider(), ...})
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configures [Setup].
type Options struct {
	// Enabled turns tracing on; off, Setup returns a no-op provider and
	// opens no connection.
	Enabled bool
	// EndpointURL, when set, is the full URL spans are posted to (e.g.
	// http://collector:4318/v1/traces), overriding OTEL_EXPORTER_OTLP_*.
	EndpointURL string
	// ServiceVersion is the resource's service.version.
	ServiceVersion string
	// Sampler overrides the SDK's (OTEL_TRACES_SAMPLER); nil keeps it.
	Sampler sdktrace.Sampler
	// BatchTimeout overrides how long the batch processor waits before an
	// export (OTEL_BSP_SCHEDULE_DELAY, default 5 s); 0 keeps it.
	BatchTimeout time.Duration
	// Logger hears failed exports (rate-limited); nil discards.
	Logger *slog.Logger
}

// exportRetry bounds how long one batch is retried against a failing
// collector. The SDK's default (a minute) keeps the export goroutine on a
// dead collector while new spans are dropped anyway; a short retry drops
// the old batch instead and tries the next one sooner.
var exportRetry = otlptracehttp.RetryConfig{
	Enabled:         true,
	InitialInterval: time.Second,
	MaxInterval:     5 * time.Second,
	MaxElapsedTime:  15 * time.Second,
}

// Tracing is the tracer provider tether runs with.
type Tracing struct {
	provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when off
}

// Setup builds the tracer provider for o. It makes no network call: a
// collector that is down at start only costs failed exports later.
func Setup(ctx context.Context, o Options) (*Tracing, error) {
	if !o.Enabled {
		return &Tracing{provider: noop.NewTracerProvider()}, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithRetry(exportRetry)}
	if o.EndpointURL != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(o.EndpointURL))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.version", o.ServiceVersion)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	if !hasServiceName(res) {
		res, _ = resource.Merge(res, resource.NewSchemaless(attribute.String("service.name", "tether")))
	}
	var bsp []sdktrace.BatchSpanProcessorOption
	if o.BatchTimeout > 0 {
		bsp = append(bsp, sdktrace.WithBatchTimeout(o.BatchTimeout))
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	popts := []sdktrace.TracerProviderOption{
		sdktrace.WithBatcher(&quietExporter{next: exp, log: logger, every: time.Minute}, bsp...),
		sdktrace.WithResource(res),
	}
	if o.Sampler != nil {
		popts = append(popts, sdktrace.WithSampler(o.Sampler))
	}
	tp := sdktrace.NewTracerProvider(popts...)
	return &Tracing{provider: tp, sdk: tp}, nil
}

// hasServiceName reports whether OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES named the service (the SDK's default is
// "unknown_service:<binary>").
func hasServiceName(res *resource.Resource) bool {
	v, ok := res.Set().Value("service.name")
	if !ok {
		return false
	}
	s := v.AsString()
	return s != "" && !(len(s) >= 16 && s[:16] == "unknown_service:")
}

// TracerProvider is what the packages take in their options.
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.provider }

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Shutdown exports the spans still queued, within ctx, and stops the
// exporter. Later spans are dropped.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}

// ForceFlush exports the spans queued so far, within ctx.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	return t.sdk.ForceFlush(ctx)
}

// quietExporter keeps a failing collector out of everyone's way: a failed
// export is counted and logged at most once per period, and reported to
// the batch processor as done, so nothing reaches otel's global error
// handler (which would log every failure).
type quietExporter struct {
	next  sdktrace.SpanExporter
	log   *slog.Logger
	every time.Duration

	mu       sync.Mutex
	lastLog  time.Time
	lost     int // spans lost since the last log line
	failures int // failed exports since the last log line
}

func (e *quietExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.next.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	e.mu.Lock()
	e.lost += len(spans)
	e.failures++
	now := time.Now()
	if !e.lastLog.IsZero() && now.Sub(e.lastLog) < e.every {
		e.mu.Unlock()
		return nil
	}
	lost, failures := e.lost, e.failures
	e.lastLog, e.lost, e.failures = now, 0, 0
	e.mu.Unlock()
	// The error names the collector's URL, which is the operator's own
	// configuration; span contents never appear in it.
	e.log.Warn("trace export failed; spans dropped", "spans", lost, "failed_exports", failures, "error", err.Error())
	return nil
}

func (e *quietExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }
