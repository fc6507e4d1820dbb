package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReportSections: report keeps the analysis above the marker and
// writes the API figures, the end-to-end figures when given, and the Go
// benchmarks labelled as in-process.
func TestReportSections(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	api := write("api.txt", "API FIGURES\n")
	goOut := write("go.txt", "BenchmarkCall/direct-2   100   500000 ns/op   400000 p50-ns\n")
	e2e := write("e2e.txt", "E2E FIGURES\n")
	pg := write("pg.txt", "PG FIGURES\n")
	out := write("BENCHMARKS.md", "# Analysis\n\nkept\n\n"+marker+"\n\nold run\n")

	require.NoError(t, report(api, goOut, e2e, pg, out))
	doc, err := os.ReadFile(out)
	require.NoError(t, err)
	s := string(doc)
	assert.True(t, strings.HasPrefix(s, "# Analysis\n\nkept\n\n"+marker))
	assert.NotContains(t, s, "old run")
	assert.Contains(t, s, "API FIGURES")
	assert.Contains(t, s, "E2E FIGURES")
	assert.Contains(t, s, "Go benchmarks (in-process")
	assert.Contains(t, s, "PG FIGURES")
	assert.Less(t, strings.Index(s, "E2E FIGURES"), strings.Index(s, "| Call/direct"))

	require.NoError(t, report(api, goOut, "", "", out))
	doc, err = os.ReadFile(out)
	require.NoError(t, err)
	assert.NotContains(t, string(doc), "E2E FIGURES")
	assert.NotContains(t, string(doc), "PG FIGURES")
	assert.Contains(t, string(doc), "API FIGURES")
}
