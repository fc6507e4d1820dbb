package logctx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/logctx"
	"go.opentelemetry.io/otel/trace"
)

func TestWrap(t *testing.T) {
	var buf bytes.Buffer
	log := logctx.Wrap(slog.New(slog.NewJSONHandler(&buf, nil)))
	assert.Same(t, log, logctx.Wrap(log), "wrapping twice adds nothing")

	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	ctx = logctx.WithRequestID(ctx, "req-1")

	log.With("component", "x").WithGroup("g").InfoContext(ctx, "with", "k", "v")
	log.Info("without")
	log.InfoContext(logctx.WithRequestID(ctx, ""), "cleared")
	log.InfoContext(logctx.WithRequestID(context.Background(), strings.Repeat("a", 500)), "long")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 4)
	var with, without, cleared, long map[string]any
	for i, p := range []*map[string]any{&with, &without, &cleared, &long} {
		require.NoError(t, json.Unmarshal([]byte(lines[i]), p))
	}
	g := with["g"].(map[string]any)
	assert.Equal(t, "req-1", g["request_id"])
	assert.Equal(t, tid.String(), g["trace_id"])
	assert.Equal(t, sid.String(), g["span_id"])
	assert.Equal(t, "x", with["component"])
	assert.NotContains(t, without, "request_id")
	assert.NotContains(t, without, "trace_id")
	assert.NotContains(t, cleared, "request_id", "an empty id clears the one ctx carried")
	assert.Equal(t, tid.String(), cleared["trace_id"])
	assert.Len(t, long["request_id"], 128, "a client's request id is bounded")
}
