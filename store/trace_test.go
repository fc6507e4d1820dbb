package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestSlowTransactionSpans: a write transaction at or over the threshold
// is a span under the caller's, spanning the transaction; a faster one
// is none.
func TestSlowTransactionSpans(t *testing.T) {
	forEachBackendFresh(t, func(t *testing.T, fresh func(*testing.T) string) {
		tests := []struct {
			name      string
			threshold time.Duration
			want      int
		}{
			{name: "every transaction is slow", threshold: time.Nanosecond, want: 1},
			{name: "none is", threshold: time.Hour, want: 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := tracetest.NewSpanRecorder()
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
				key, err := secrets.NewKey("test", make([]byte, 32))
				require.NoError(t, err)
				ring, err := secrets.NewKeyring([]secrets.Key{key})
				require.NoError(t, err)
				st, err := Open(context.Background(), fresh(t), Options{Cipher: ring, TracerProvider: tp, SlowTx: tt.threshold})
				require.NoError(t, err)
				t.Cleanup(func() { _ = st.Close() })

				ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
				before := time.Now()
				_, err = st.EnsureTenant(ctx, &registry.Tenant{ID: "t-1", Name: "acme"})
				require.NoError(t, err)
				parent.End()

				var txs []sdktrace.ReadOnlySpan
				for _, s := range rec.Ended() {
					if strings.HasSuffix(s.Name(), " write transaction") {
						txs = append(txs, s)
					}
				}
				require.Len(t, txs, tt.want)
				for _, s := range txs {
					assert.Equal(t, parent.SpanContext().SpanID(), s.Parent().SpanID())
					assert.False(t, s.StartTime().Before(before))
					assert.False(t, s.EndTime().Before(s.StartTime()))
				}
			})
		}
	})
}
