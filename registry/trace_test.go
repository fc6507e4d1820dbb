package registry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestMonitorRoundSpans: a monitor round is a span, with one probe span
// per connection under it naming the connection and the outcome.
func TestMonitorRoundSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := newFixture(t, func(o *registry.Options) { o.TracerProvider = tp })
	a := f.create(t, registry.NewConnection{Name: "a"})
	b := f.create(t, registry.NewConnection{Name: "b"})

	require.Equal(t, 2, f.svc.ProbeAll(context.Background(), 0, nil))

	var round sdktrace.ReadOnlySpan
	probes := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "monitor round":
			round = s
		case "probe":
			for _, kv := range s.Attributes() {
				if kv.Key == "tether.connection_id" {
					probes[kv.Value.AsString()] = s
				}
			}
		}
	}
	require.NotNil(t, round)
	require.Len(t, probes, 2)
	for _, id := range []string{a.ID, b.ID} {
		p := probes[id]
		require.NotNil(t, p, "no probe span for %s", id)
		assert.Equal(t, round.SpanContext().SpanID(), p.Parent().SpanID())
		attrs := map[string]string{}
		for _, kv := range p.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		assert.Equal(t, "ok", attrs["tether.outcome"])
		assert.Equal(t, f.acme, attrs["tether.tenant_id"])
	}
	for _, kv := range round.Attributes() {
		if kv.Key == "tether.probes" {
			assert.Equal(t, int64(2), kv.Value.AsInt64())
		}
	}
}
