package store

import (
	"path/filepath"
	"testing"

	"github.com/tether-dev/tether/internal/pgtest"
)

// The cluster behind the PostgreSQL backend stops when the tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// backends is every backend the store's tests run on: db returns a fresh,
// empty database for one test (a SQLite file, a PostgreSQL URL).
var backends = []struct {
	name string
	db   func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "t.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.URL(t) }},
}

// forEachBackend runs fn as a subtest on each backend, on a fresh
// database.
func forEachBackend(t *testing.T, fn func(t *testing.T, db string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.db(t)) })
	}
}

// forEachBenchBackend runs fn as a sub-benchmark on each backend, on a
// fresh database.
func forEachBenchBackend(b *testing.B, fn func(b *testing.B, db string)) {
	b.Helper()
	dbs := map[string]func(b *testing.B) string{
		"sqlite":   func(b *testing.B) string { return filepath.Join(b.TempDir(), "t.db") },
		"postgres": func(b *testing.B) string { return pgtest.URL(b) },
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { fn(b, dbs[be.name](b)) })
	}
}

// forEachBackendFresh runs fn as a subtest on each backend, with a
// function that makes a fresh database on it (for tables of subtests).
func forEachBackendFresh(t *testing.T, fn func(t *testing.T, fresh func(*testing.T) string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.db) })
	}
}
