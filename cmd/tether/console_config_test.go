package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsoleFrameAncestorsFlag: --console-frame-ancestors (default
// 'none', env TETHER_CONSOLE_FRAME_ANCESTORS) becomes the console's CSP
// frame-ancestors; a value that is not a source list refuses to start.
func TestConsoleFrameAncestorsFlag(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "'none'", cfg.ConsoleFrameAncestors)
	t.Setenv("TETHER_CONSOLE_FRAME_ANCESTORS", "'self' https://app.example.com")
	cfg, err = parseServeFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "'self' https://app.example.com", cfg.ConsoleFrameAncestors)

	h := startTether(t, func(c *Config) { c.ConsoleFrameAncestors = cfg.ConsoleFrameAncestors })
	res, err := http.Get(h.base + "/console/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, strings.Split(res.Header.Get("Content-Security-Policy"), "; "), "frame-ancestors 'self' https://app.example.com")

	m := &Main{Config: Config{Addr: "127.0.0.1:0", DB: filepath.Join(t.TempDir(), "t.db"), ConsoleFrameAncestors: "'self'; script-src *"}}
	err = m.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--console-frame-ancestors")
}
