package mcpclient

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactingHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log := sdkLogger(base, newRedactor("tok-123456", "ab"))

	log.With("url", "https://x/?key=tok-123456").WithGroup("g").Error("failed for tok-123456",
		"error", errors.New(`Post "https://x/?key=tok-123456": EOF`),
		slog.Group("req", "q", "tok-123456"),
		"n", 3,
		"short", "ab",
		"v", struct{ S string }{"tok-123456"},
	)
	out := buf.String()
	assert.NotContains(t, out, "tok-123456")
	assert.Contains(t, out, "failed for ***")
	assert.Contains(t, out, "component=go-sdk")
	assert.Contains(t, out, "g.n=3")
	assert.Contains(t, out, "g.short=ab", "values shorter than minRedactLen are left alone")
}
