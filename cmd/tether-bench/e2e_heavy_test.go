//go:build heavy

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary serve as the child processes runE2E
// starts (`tether-bench upstreams`, `tether-bench proxy`).
func TestMain(m *testing.M) {
	if serveChild(os.Args[1:]) {
		return
	}
	os.Exit(m.Run())
}

// TestHeavyE2EHarness: a short end-to-end run against a freshly built
// binary completes, with calls on both paths and tether's CPU read. It
// checks the harness, not the figures.
func TestHeavyE2EHarness(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tether")
	out, err := exec.Command("go", "build", "-o", bin, "../tether").CombinedOutput()
	require.NoError(t, err, "%s", out)
	self, err := os.Executable()
	require.NoError(t, err)

	r, err := runE2E(e2eOptions{bin: bin, self: self, upstreams: 3, calls: 50,
		duration: 400 * time.Millisecond, rounds: 2, concurrency: 4})
	require.NoError(t, err)
	assert.Len(t, r.seqDirect, 50)
	assert.Len(t, r.seqTether, 50)
	assert.Len(t, r.seqProxy, 50)
	assert.Positive(t, r.loadDirect)
	assert.Positive(t, r.loadTether)
	assert.GreaterOrEqual(t, r.loadCalls, r.loadTether)
	assert.FileExists(t, filepath.Join(dir, "bench-e2e-tether.log"))

	var b strings.Builder
	r.print(&b, 4)
	assert.Contains(t, b.String(), "tether /mcp")
	assert.Contains(t, b.String(), "4 sessions per path")
}
