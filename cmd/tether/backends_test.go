package main

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/secrets"
)

// The PostgreSQL cluster of the tests that run on it stops when they end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// backends is every database an end-to-end test can run tether on: use
// returns the Config change that puts one harness on a fresh database of
// that kind (nothing for SQLite: the harness's default).
var backends = []struct {
	name string
	use  func(t *testing.T) func(*Config)
}{
	{"sqlite", func(*testing.T) func(*Config) { return func(*Config) {} }},
	{"postgres", onPostgres},
}

// forEachBackend runs fn as a subtest on each backend; fn passes on to
// startTether (or startOAuthTether) first among its mods.
func forEachBackend(t *testing.T, fn func(t *testing.T, on func(*Config))) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.use(t)) })
	}
}

// onPostgres puts tether on a fresh PostgreSQL database, with a keys file
// of its own (a fleet never generates one).
func onPostgres(t *testing.T) func(*Config) {
	t.Helper()
	url := pgtest.URL(t)
	key, err := secrets.GenerateKey("k1")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "fleet.keys")
	require.NoError(t, secrets.WriteKeysFile(file, []secrets.Key{key}))
	return func(c *Config) {
		c.DB = url
		c.EncryptionKeysFile = file
		c.DBMaxConns = 8
	}
}

// postgresText is every row of every table of a PostgreSQL database as
// text, bytea columns included in hex: what "at rest" holds there.
func postgresText(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var b strings.Builder
	for _, table := range tables {
		rows, err := conn.Query(ctx, "SELECT t::text FROM "+pgx.Identifier{table}.Sanitize()+" t")
		require.NoError(t, err)
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		for _, s := range texts {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// notAtRestPostgres checks that no value is stored in plaintext, as text
// or as the hex of a bytea column.
func notAtRestPostgres(t *testing.T, url string, values []string) {
	t.Helper()
	dump := postgresText(t, url)
	for _, v := range values {
		require.NotContains(t, dump, v, "found in plaintext in the database")
		require.NotContains(t, dump, hex.EncodeToString([]byte(v)), "found in plaintext in a bytea column")
	}
}
