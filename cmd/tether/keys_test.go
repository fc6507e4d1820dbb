package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/secrets"
)

type keyStatus struct {
	Primary string `json:"primary"`
	Keys    []struct {
		ID     string `json:"id"`
		Values int    `json:"values"`
	} `json:"keys"`
}

func keysStatus(t *testing.T, db string) keyStatus {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"keys", "status", "--db", db}, &out, &out))
	var st keyStatus
	require.NoError(t, json.Unmarshal(out.Bytes(), &st), out.String())
	return st
}

func (s keyStatus) values(id string) int {
	for _, k := range s.Keys {
		if k.ID == id {
			return k.Values
		}
	}
	return -1
}

// TestKeyRotationWithoutRestart: rotate adds a primary; the reload (what
// SIGHUP triggers) swaps the keyring without dropping requests and
// re-encrypts every value in the background; retire then removes the old
// key, and a restart with only the new key reads everything.
func TestKeyRotationWithoutRestart(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	const rows = 120 // more than one re-encryption batch
	for i := range rows {
		r := ferniCreate(h, key, map[string]any{"name": fmt.Sprintf("srv-%d", i), "description": "d", "transport": "http",
			"endpoint": "https://mcp.example.com/", "autoConnect": false,
			"headers": map[string]any{"X-Key": "{{secrets.K}}"}, "secrets": map[string]any{"K": fmt.Sprintf("secret-%d", i)}})
		require.Equal(t, http.StatusCreated, r.status)
	}
	before := keysStatus(t, h.dbPath)
	oldID := before.Primary
	assert.Equal(t, 2*rows, before.values(oldID))

	require.NoError(t, runCLI(t, "keys", "rotate", "--db", h.dbPath))
	rotated := keysStatus(t, h.dbPath)
	newID := rotated.Primary
	require.NotEqual(t, oldID, newID)
	assert.Equal(t, 0, rotated.values(newID))
	assert.Equal(t, 2*rows, rotated.values(oldID))
	assert.ErrorContains(t, runCLI(t, "keys", "retire", oldID, "--db", h.dbPath), "still encrypts")
	assert.ErrorContains(t, runCLI(t, "keys", "retire", newID, "--db", h.dbPath), "primary")

	// Requests keep flowing while the keyring is swapped and rows rewritten.
	var failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r := h.do(req{method: http.MethodGet, path: ferniBase + "?limit=100", key: key}); r.status != http.StatusOK {
					failures.Add(1)
				}
			}
		}()
	}
	require.NoError(t, h.m.ReloadKeys())
	require.Eventually(t, func() bool { return keysStatus(t, h.dbPath).values(oldID) == 0 }, 20*time.Second, 20*time.Millisecond)
	close(stop)
	wg.Wait()
	assert.Zero(t, failures.Load())
	assert.Equal(t, 2*rows, keysStatus(t, h.dbPath).values(newID))
	// New writes use the new primary.
	require.Equal(t, http.StatusCreated, ferniCreate(h, key, map[string]any{"name": "after", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "autoConnect": false, "secrets": map[string]any{"K": "v"}}).status)
	assert.Equal(t, 2*rows+1, keysStatus(t, h.dbPath).values(newID))

	require.NoError(t, runCLI(t, "keys", "retire", oldID, "--db", h.dbPath))
	keys, err := secrets.LoadKeysFile(h.dbPath + ".keys")
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NoError(t, h.stop())

	h2 := startOn(t, h.m.Config)
	r := h2.do(req{method: http.MethodGet, path: ferniBase + "?limit=100", key: key})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, float64(rows+1), r.json(t)["pagination"].(map[string]any)["total"])
}

// TestReloadRefusesKeyringMissingAKeyInUse: a keys file that lost a key
// the data still needs is refused, and the server keeps working.
func TestReloadRefusesKeyringMissingAKeyInUse(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	require.Equal(t, http.StatusCreated, ferniCreate(h, key, map[string]any{"name": "a", "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "autoConnect": false, "secrets": map[string]any{"K": "v"}}).status)
	other, err := secrets.GenerateKey("k-other")
	require.NoError(t, err)
	require.NoError(t, secrets.WriteKeysFile(h.dbPath+".keys", []secrets.Key{other}))
	err = h.m.ReloadKeys()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lacks key")
	r := h.do(req{method: http.MethodGet, path: ferniBase, key: key})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, []any{"K"}, r.json(t)["data"].([]any)[0].(map[string]any)["secretNames"])
}

// TestBackupWhileServing: tether backup copies the database online; tether
// started on the copy with the same keys serves the same data.
func TestBackupWhileServing(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	for i := range 20 {
		require.Equal(t, http.StatusCreated, ferniCreate(h, key, map[string]any{"name": fmt.Sprintf("s-%d", i), "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "autoConnect": false, "secrets": map[string]any{"K": "v"}, "headers": map[string]any{"X": "{{secrets.K}}"}}).status)
	}
	dir := t.TempDir()
	backup := filepath.Join(dir, "copy.db")
	// Writes continue during the backup.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			ferniCreate(h, key, map[string]any{"name": fmt.Sprintf("during-%d", i), "description": "d", "transport": "http", "endpoint": "https://mcp.example.com/", "autoConnect": false})
		}
	}()
	require.NoError(t, runCLI(t, "backup", "--db", h.dbPath, "--to", backup))
	<-done
	assert.ErrorContains(t, runCLI(t, "backup", "--db", h.dbPath, "--to", backup), "already exists")

	keys, err := os.ReadFile(h.dbPath + ".keys")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(backup+".keys", keys, 0o600))
	h2 := startTether(t, func(c *Config) { c.DB = backup })
	r := h2.do(req{method: http.MethodGet, path: ferniBase + "?limit=100", key: key})
	require.Equal(t, http.StatusOK, r.status)
	total := int(r.json(t)["pagination"].(map[string]any)["total"].(float64))
	assert.GreaterOrEqual(t, total, 20)
	assert.LessOrEqual(t, total, 40)
	assert.Equal(t, []any{"K"}, r.json(t)["data"].([]any)[0].(map[string]any)["secretNames"])
}
