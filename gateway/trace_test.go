package gateway_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestTraceParentFromMeta: an agent's trace context reaches the tools/call
// span from the HTTP header, or from the call's _meta (SEP-414) when that
// names another trace (then the HTTP request's span is linked); either
// way the upstream span is the call span's child, and the upstream gets
// the call's trace in its _meta.
func TestTraceParentFromMeta(t *testing.T) {
	const (
		httpTrace = "0af7651916cd43dd8448eb211c80319c"
		httpSpan  = "b7ad6b7169203331"
		metaTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		metaSpan  = "00f067aa0ba902b7"
	)
	tests := []struct {
		name       string
		meta       string // _meta.traceparent, "" for none
		wantTrace  string
		wantParent string
		wantLink   string
	}{
		{name: "header only", wantTrace: httpTrace, wantParent: httpSpan},
		{name: "meta of another trace wins", meta: "00-" + metaTrace + "-" + metaSpan + "-01",
			wantTrace: metaTrace, wantParent: metaSpan, wantLink: httpSpan},
		{name: "meta of the same trace", meta: "00-" + httpTrace + "-" + metaSpan + "-01",
			wantTrace: httpTrace, wantParent: httpSpan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			e := newEnv(t, envOptions{tracer: tp})
			up := newUpstream(t, "calc", false)
			var gotMeta atomic.Value
			up.Server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
				return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
					if r, ok := req.(*mcp.CallToolRequest); ok {
						tp, _ := r.Params.Meta["traceparent"].(string)
						gotMeta.Store(tp)
					}
					return next(ctx, method, req)
				}
			})
			e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
			cs := e.agent(agentOptions{tenant: "acme", header: http.Header{"Traceparent": {"00-" + httpTrace + "-" + httpSpan + "-01"}}})
			params := &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 1, "b": 2}}
			if tt.meta != "" {
				params.Meta = mcp.Meta{"traceparent": tt.meta}
			}
			res, err := cs.CallTool(t.Context(), params)
			require.NoError(t, err)
			require.False(t, res.IsError)

			var call, upstream sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				switch s.Name() {
				case "tools/call calc_add":
					call = s
				case "tools/call add":
					upstream = s
				}
			}
			require.NotNil(t, call, "no tools/call span")
			require.NotNil(t, upstream, "no upstream span")
			assert.Equal(t, tt.wantTrace, call.SpanContext().TraceID().String())
			assert.Equal(t, tt.wantParent, call.Parent().SpanID().String())
			assert.True(t, call.Parent().IsRemote())
			var links []string
			for _, l := range call.Links() {
				links = append(links, l.SpanContext.SpanID().String())
			}
			if tt.wantLink != "" {
				assert.Equal(t, []string{tt.wantLink}, links)
			} else {
				assert.Empty(t, links)
			}
			assert.Equal(t, call.SpanContext().SpanID(), upstream.Parent().SpanID())
			assert.Equal(t, trace.SpanKindClient, upstream.SpanKind())
			assert.Equal(t, "00-"+tt.wantTrace+"-"+upstream.SpanContext().SpanID().String()+"-01", gotMeta.Load())
		})
	}
}
