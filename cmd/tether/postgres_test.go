package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
)

// A postgres:// database with no keys configured is refused at start: a
// fleet never generates a keys file (each replica would make its own).
func TestPostgresNeedsConfiguredKeys(t *testing.T) {
	db := pgtest.URL(t)
	m := &Main{Config: Config{Addr: "127.0.0.1:0", DB: db, ShutdownTimeout: 5e9}}
	err := m.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--encryption-keys")
	assert.NoFileExists(t, db+".keys")
}

// tether backup on PostgreSQL does not pretend: it fails, naming pg_dump.
func TestBackupOnPostgresPointsToPgDump(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"backup", "--db", pgtest.URL(t), "--to", t.TempDir() + "/b.db"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pg_dump")
}

// /readyz follows the PostgreSQL connection: 503 while the database
// refuses connections, 200 again once it takes them; and the database's
// password never reaches the log.
func TestReadinessFollowsPostgres(t *testing.T) {
	on := onPostgres(t)
	var cfg Config
	on(&cfg)
	// The cluster trusts everyone: a password in the URL is accepted
	// and ignored, which is enough to check it is not logged.
	u, err := url.Parse(cfg.DB)
	require.NoError(t, err)
	u.User = url.UserPassword("postgres", "pg-secret-password")
	h := startTether(t, on, func(c *Config) { c.DB = u.String(); c.ReplicaID = "replica-a" })
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: "/readyz"}).status)

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := strings.TrimPrefix(u.Path, "/")
	block := func() {
		_, err := admin.Exec(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
		require.NoError(t, err)
		_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		require.NoError(t, err)
	}
	block()
	require.Eventually(t, func() bool {
		// A connection that was mid-handshake when we terminated the
		// others may have slipped in: terminate again.
		_, _ = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
		return h.do(req{method: http.MethodGet, path: "/readyz"}).status == http.StatusServiceUnavailable
	}, 30*time.Second, 100*time.Millisecond)
	_, err = admin.Exec(ctx, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return h.do(req{method: http.MethodGet, path: "/readyz"}).status == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond)

	logs := h.logs.String()
	assert.NotContains(t, logs, "pg-secret-password")
	assert.Contains(t, logs, `"replica":"replica-a"`)
}

// tether migrate copies a SQLite installation into PostgreSQL: a tether
// started on the copy with the same keys serves the same rows, secrets
// and tools included, and new rows follow the copied ones; a second copy
// into the now non-empty database is refused.
func TestMigrateSQLiteToPostgres(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	featherConnection(t, h, key, up.URL())
	require.Equal(t, http.StatusCreated, ferniCreate(h, key, map[string]any{"name": "crm", "description": "d", "transport": "http",
		"endpoint": "https://mcp.example.com/", "autoConnect": false, "headers": map[string]any{"X-Key": "{{secrets.K}}"}, "secrets": map[string]any{"K": "migrated-secret-value"}}).status)
	before := h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t)
	require.Len(t, before, 2)
	require.NoError(t, h.stop())

	target := pgtest.URL(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"migrate", "--from", h.dbPath, "--to", target}, &out, io.Discard))
	assert.Contains(t, out.String(), "connections 2")
	assert.Contains(t, out.String(), "every encrypted value decrypts")

	pg := startTether(t, allowLoopback, func(c *Config) { c.DB = target; c.EncryptionKeysFile = h.dbPath + ".keys" })
	after := pg.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t)
	// The new tether probes its connections at start: what a probe
	// refreshes may move on; everything else is as it was.
	assert.Equal(t, withoutProbeTimes(before), withoutProbeTimes(after), "the same rows, seen through the same API key")
	notAtRestPostgres(t, target, []string{"migrated-secret-value"})
	require.Equal(t, http.StatusCreated, ferniCreate(pg, key, validFerni("after-the-move")).status)
	assert.Len(t, pg.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t), 3)

	err := run(context.Background(), []string{"migrate", "--from", h.dbPath, "--to", target}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not empty")
}

// withoutProbeTimes drops, at any depth, the timestamps a probe refreshes.
func withoutProbeTimes(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			switch k {
			case "last_seen_at", "tools_synced_at", "last_refreshed_at", "connected_at":
				continue
			case "updated_at":
				if _, tool := v["tool_path"]; tool {
					continue
				}
			}
			out[k] = withoutProbeTimes(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withoutProbeTimes(x)
		}
		return out
	}
	return v
}
