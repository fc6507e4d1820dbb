package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSetupOff: off, Setup builds a provider that records nothing and
// needs no shutdown.
func TestSetupOff(t *testing.T) {
	tr, err := Setup(context.Background(), Options{})
	require.NoError(t, err)
	assert.False(t, tr.Enabled())
	_, span := tr.TracerProvider().Tracer("t").Start(context.Background(), "x")
	assert.False(t, span.IsRecording())
	assert.NoError(t, tr.Shutdown(context.Background()))
}

// TestQuietExporter: exports to a collector nobody listens on fail without
// an error reaching the batch processor, and are logged once per period
// with the spans lost meanwhile.
func TestQuietExporter(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL("http://"+addr+"/v1/traces"))
	require.NoError(t, err)
	var logs bytes.Buffer
	q := &quietExporter{next: exp, log: slog.New(slog.NewTextHandler(&logs, nil)), every: time.Hour}
	spans := tracetest.SpanStubs{{Name: "a"}, {Name: "b"}}.Snapshots()

	for range 3 {
		assert.NoError(t, q.ExportSpans(context.Background(), spans))
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "trace export failed"), "%s", logs.String())
	assert.Contains(t, logs.String(), "spans=2 failed_exports=1")

	// A period later, the next failure is logged with what was lost since.
	q.mu.Lock()
	q.lastLog = q.lastLog.Add(-2 * time.Hour)
	q.mu.Unlock()
	assert.NoError(t, q.ExportSpans(context.Background(), spans))
	assert.Equal(t, 2, strings.Count(logs.String(), "trace export failed"))
	assert.Contains(t, logs.String(), "spans=6 failed_exports=3")
	require.NoError(t, q.Shutdown(context.Background()))
}
