package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/secrets"
	_ "modernc.org/sqlite"
)

// TestNoPlaintextAtRest writes secrets, tokens and literal header values
// through both dialects, then reads the database file and its WAL byte by
// byte: none of them may appear.
func TestNoPlaintextAtRest(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	plain := []string{"ferni-secret-PLAINTEXT-1", "literal-header-PLAINTEXT-2", "bearer-PLAINTEXT-3", "apikey-PLAINTEXT-4", "custom-header-PLAINTEXT-5", "updated-secret-PLAINTEXT-6"}
	r := ferniCreate(h, key, map[string]any{
		"name": "crm", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/",
		"headers": map[string]any{"X-Key": "{{secrets.K}}", "Authorization": plain[1]},
		"secrets": map[string]any{"K": plain[0]},
	})
	require.Equal(t, http.StatusCreated, r.status)
	id := r.json(t)["data"].(map[string]any)["id"].(string)
	require.Equal(t, http.StatusCreated, featherConnect(h, key, map[string]any{"nickname": "b", "server_url": "https://a.example/", "auth_type": "bearer", "token": plain[2]}).status)
	require.Equal(t, http.StatusCreated, featherConnect(h, key, map[string]any{"nickname": "c", "server_url": "https://a.example/", "auth_type": "api_key", "api_key": plain[3], "headers": map[string]any{"X-Custom": plain[4]}}).status)
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodPut, path: ferniBase + "/" + id, key: key, body: map[string]any{"secrets": map[string]any{"K": plain[5]}}}).status)

	// Both while running (the WAL holds the recent writes) and after a clean close.
	check := func(when string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			data, err := os.ReadFile(h.dbPath + suffix)
			if os.IsNotExist(err) {
				continue
			}
			require.NoError(t, err)
			for _, p := range plain {
				assert.False(t, bytes.Contains(data, []byte(p)), "%s: %q found in %s", when, p, h.dbPath+suffix)
			}
		}
	}
	check("while serving")
	require.NoError(t, h.stop())
	check("after close")

	// The rows do hold the (encrypted) values: the test is not vacuous.
	db, err := sql.Open("sqlite", h.dbPath)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM connections WHERE secrets_enc IS NOT NULL AND headers_enc IS NOT NULL`).Scan(&n))
	assert.Equal(t, 3, n)
	h.assertNoLeak(plain...)
}

// TestRefusesWrongKeys: tether will not start when its keys cannot decrypt
// what the database holds, and says which key is missing.
func TestRefusesWrongKeys(t *testing.T) {
	dir := t.TempDir()
	k1, err := secrets.GenerateKey("k-one")
	require.NoError(t, err)
	k2, err := secrets.GenerateKey("k-two")
	require.NoError(t, err)
	cfg := Config{Addr: "127.0.0.1:0", DB: dir + "/t.db", EncryptionKeys: secrets.FormatKey(k1), ShutdownTimeout: 5e9}
	h := startOn(t, cfg)
	key := h.newKey("acme")
	r := ferniCreate(h, key, map[string]any{"name": "crm", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "secrets": map[string]any{"K": "v"}, "headers": map[string]any{"X": "{{secrets.K}}"}})
	require.Equal(t, http.StatusCreated, r.status)
	require.NoError(t, h.stop())

	cfg.EncryptionKeys = secrets.FormatKey(k2)
	m := &Main{Config: cfg}
	err = m.Run(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "k-one", "the error names the key the data needs")

	// The new key as primary with the old one still present works.
	cfg.EncryptionKeys = secrets.FormatKey(k2) + "," + secrets.FormatKey(k1)
	h2 := startOn(t, cfg)
	got := h2.do(req{method: http.MethodGet, path: ferniBase, key: key})
	require.Equal(t, http.StatusOK, got.status)
	assert.Equal(t, []any{"K"}, got.json(t)["data"].([]any)[0].(map[string]any)["secretNames"])
}

// TestDevKeysFile: with no keys configured, a keys file is generated next
// to the database (0600) and reused on the next start.
func TestDevKeysFile(t *testing.T) {
	h := startTether(t)
	st, err := os.Stat(h.dbPath + ".keys")
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Contains(t, h.logs.String(), "generated a development keys file")
	key := h.newKey("acme")
	require.Equal(t, http.StatusCreated, ferniCreate(h, key, map[string]any{"name": "crm", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "secrets": map[string]any{"K": "v"}}).status)
	require.NoError(t, h.stop())
	before, _ := os.ReadFile(h.dbPath + ".keys")
	h2 := startOn(t, h.m.Config)
	after, _ := os.ReadFile(h.dbPath + ".keys")
	assert.Equal(t, before, after)
	assert.Equal(t, http.StatusOK, h2.do(req{method: http.MethodGet, path: ferniBase, key: key}).status)
}

// TestConcurrentCreates: 200 creates from 20 goroutines all succeed; the
// single writer serialises them and no "database is locked" escapes.
func TestConcurrentCreates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		h := startTether(t, on, on)
		key := h.newKey("acme")
		var wg sync.WaitGroup
		statuses := make(chan int, 200)
		for g := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					var r response
					if i%2 == 0 {
						r = ferniCreate(h, key, validFerni(fmt.Sprintf("srv-%d-%d", g, i)))
					} else {
						r = featherConnect(h, key, map[string]any{"nickname": "Same Name", "server_url": "https://a.example/", "auth_type": "bearer", "token": "tok"})
					}
					statuses <- r.status
				}
			}()
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			assert.Equal(t, http.StatusCreated, s)
		}
		list := h.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t)
		assert.Len(t, list, 200)
		slugs := map[string]bool{}
		for _, c := range list {
			slugs[c.(map[string]any)["nickname_slug"].(string)] = true
		}
		assert.Len(t, slugs, 200, "every slug is unique, suffixes included")
		assert.False(t, strings.Contains(h.logs.String(), "database is locked"))
	})
}

// Two tethers on one database (two replicas, on PostgreSQL) get the same
// Ferni name created at once, again and again: exactly one create is a
// 201, the other a 409; then each replica reads the winner and deletes
// what the other created.
func TestConcurrentSameNameCreates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		a := startTether(t, on)
		cfgB := a.m.Config
		cfgB.Addr = "127.0.0.1:0"
		b := startOn(t, cfgB)
		key := a.newKey("acme")
		for round := range 8 {
			name := fmt.Sprintf("crm-%d", round)
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			for i, h := range []*harness{a, b} {
				wg.Go(func() { statuses[i] = ferniCreate(h, key, validFerni(name)).status })
			}
			wg.Wait()
			assert.ElementsMatch(t, []int{http.StatusCreated, http.StatusConflict}, statuses, "round %d", round)
		}
		list := b.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t)
		require.Len(t, list, 8)
		for i, c := range list {
			id := c.(map[string]any)["id"].(string)
			h := []*harness{a, b}[i%2]
			require.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: ferniBase + "/" + id, key: key}).status)
			r := h.do(req{method: http.MethodDelete, path: ferniBase + "/" + id, key: key})
			require.Less(t, r.status, 300, "%s", r.body)
		}
		assert.Empty(t, a.do(req{method: http.MethodGet, path: featherBase, key: key}).list(t))
	})
}
