package server_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/server"
)

// recordingHandler keeps the "request" log records at or above its level.
type recordingHandler struct {
	level slog.Level
	mu    sync.Mutex
	lines []map[string]any // attributes, with "level"
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	line := map[string]any{"level": r.Level}
	r.Attrs(func(a slog.Attr) bool {
		line[a.Key] = a.Value.Any()
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	return nil
}

func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// statuses returns the status of every request logged so far.
func (h *recordingHandler) statuses() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int64
	for _, l := range h.lines {
		out = append(out, l["status"].(int64))
	}
	return out
}

// TestRequestLogging: at info, routine successful requests write no log
// line (on the agent path there is one per tool call), client errors do;
// at debug, every request does.
func TestRequestLogging(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		level slog.Level
		want  []int64
	}{
		{name: "info", level: slog.LevelInfo, want: []int64{http.StatusNotFound, http.StatusUnauthorized}},
		{name: "debug", level: slog.LevelDebug, want: []int64{http.StatusOK, http.StatusOK, http.StatusNotFound, http.StatusUnauthorized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := &recordingHandler{level: tt.level}
			ts := newTestServer(t, withServer(func(o *server.Options) { o.Logger = slog.New(h) }))
			require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodGet, path: ferniBase}).status)
			require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodGet, path: featherBase}).status)
			require.Equal(t, http.StatusNotFound, ts.do(req{method: http.MethodGet, path: ferniBase + "/nope"}).status)
			require.Equal(t, http.StatusUnauthorized, ts.do(req{method: http.MethodGet, path: featherBase, noKey: true}).status)
			require.Eventually(t, func() bool { return len(h.statuses()) >= len(tt.want) }, 10*time.Second, 10*time.Millisecond)
			assert.Equal(t, tt.want, h.statuses())
			h.mu.Lock()
			defer h.mu.Unlock()
			for _, l := range h.lines {
				assert.NotEmpty(t, l["route"])
				assert.Contains(t, l, "duration_ms")
				if l["status"].(int64) >= 400 {
					assert.Equal(t, slog.LevelInfo, l["level"])
				} else {
					assert.Equal(t, slog.LevelDebug, l["level"])
				}
			}
		})
	}
}
