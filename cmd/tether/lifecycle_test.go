package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/syncbuf"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// keySpec is "id:base64" of 32 bytes of fill.
func keySpec(id string, fill byte) string {
	return id + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32))
}

// seedUnderKey stores n connections with a header and a secret each,
// encrypted under the keys in spec.
func seedUnderKey(t *testing.T, db, spec string, n int) {
	t.Helper()
	ctx := context.Background()
	keys, err := secrets.ParseKeys(spec)
	require.NoError(t, err)
	ring, err := secrets.NewKeyring(keys)
	require.NoError(t, err)
	st, err := store.Open(ctx, db, store.Options{Cipher: ring})
	require.NoError(t, err)
	defer st.Close()
	ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		require.NoError(t, st.InsertConnectionCapped(ctx, &registry.Connection{
			ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), TenantID: ten.ID, Slug: fmt.Sprintf("s_%d", i), Nickname: "s",
			Transport: registry.TransportHTTP, Endpoint: "https://mcp.example.com/", AuthType: registry.AuthHeaders,
			Headers: registry.Sensitive{"X-Key": "{{secrets.K}}"}, Secrets: registry.Sensitive{"K": "v"},
			Enabled: true, TimeoutMS: registry.DefaultTimeoutMS, Status: registry.StatusActive,
			ToolsStatus: registry.ToolsPending, CreatedAt: now, UpdatedAt: now,
		}, false, 0))
	}
}

// TestFailedStartStopsReencryptionBeforeClosingTheStore: a start that
// fails after the re-encryption job began (here: the address is taken)
// stops that job before the database closes, instead of closing the
// store under it; the next start finishes the rotation.
func TestFailedStartStopsReencryptionBeforeClosingTheStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tether.db")
	old, fresh := keySpec("k1", 1), keySpec("k2", 2)
	seedUnderKey(t, db, old, 150) // 300 values: several re-encryption batches
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()

	logs := &syncbuf.Buffer{}
	cfg := Config{Addr: taken.Addr().String(), DB: db, EncryptionKeys: fresh + "," + old, ShutdownTimeout: 5 * time.Second}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	err = m.Run(context.Background())
	require.ErrorContains(t, err, "listen on")

	m.life.Close() // whatever the job was doing, it is over now
	assert.NotContains(t, logs.String(), "database is closed", "the store was closed under the re-encryption job")
	assert.Nil(t, m.keysErr.Load(), "a failed start leaves no keyring error behind")
	require.NoError(t, m.Close(), "Close after a failed Run reports the clean-up")
	assert.Error(t, m.store.Ping(context.Background()), "the failed start closed the database")

	cfg.Addr = "127.0.0.1:0"
	h := startOn(t, cfg)
	require.Eventually(t, func() bool {
		usage, err := h.m.store.KeyUsage(context.Background())
		return err == nil && usage["k1"] == 0 && usage["k2"] == 300
	}, 30*time.Second, 20*time.Millisecond, "the next start finishes the rotation")
}
