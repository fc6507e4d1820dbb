//go:build unix

package mcpclient

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func stdioConn(t *testing.T, args ...string) *registry.Connection {
	return &registry.Connection{
		Transport: registry.TransportStdio,
		Command:   testExecutable(t),
		Args:      append([]string{stdioServerArg}, args...),
		TimeoutMS: 10000,
	}
}

func TestStdioEnvironment(t *testing.T) {
	t.Parallel()
	require.Equal(t, "leaked", os.Getenv(parentOnlyEnv), "TestMain sets it in the test process")
	conn := stdioConn(t)
	conn.Secrets = registry.Sensitive{"API_KEY": "s3cret-value", "mixed.Name-1": "x"}
	c := newTestClient(t, Options{})

	res, err := c.Call(ctxT(t), conn, "env", nil)
	require.NoError(t, err)
	require.False(t, res.IsError)
	var out envOut
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &out))

	assert.Equal(t, "s3cret-value", out.Env["API_KEY"])
	assert.Equal(t, "x", out.Env["mixed.Name-1"])
	assert.Equal(t, "/usr/local/bin:/usr/bin:/bin", out.Env["PATH"])
	assert.Equal(t, "C.UTF-8", out.Env["LANG"])
	assert.NotEmpty(t, out.Env["HOME"])
	assert.NotContains(t, out.Env, parentOnlyEnv)
	assert.Len(t, out.Env, 5, "only PATH, HOME, LANG and the secrets: %v", out.Env)
	// The temporary home is removed with the session.
	_, err = os.Stat(out.Env["HOME"])
	assert.True(t, os.IsNotExist(err), "home %s should be gone", out.Env["HOME"])
}

func TestStdioRefused(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	tests := []struct {
		name     string
		allowed  []string
		conn     *registry.Connection
		contains string
	}{
		{
			name: "stdio disabled", allowed: []string{},
			conn:     &registry.Connection{Transport: registry.TransportStdio, Command: "/usr/bin/touch", Args: []string{marker}},
			contains: "stdio connections are disabled",
		},
		{
			name: "not on the allow-list", allowed: []string{"/usr/bin/env"},
			conn:     &registry.Connection{Transport: registry.TransportStdio, Command: "/usr/bin/touch", Args: []string{marker}},
			contains: `stdio command "/usr/bin/touch" is not on the allow-list`,
		},
		{
			name: "allow-list is exact", allowed: []string{"touch"},
			conn:     &registry.Connection{Transport: registry.TransportStdio, Command: "/usr/bin/touch", Args: []string{marker}},
			contains: "not on the allow-list",
		},
		{
			name: "loader variable as a secret", allowed: []string{"/usr/bin/touch"},
			conn: &registry.Connection{Transport: registry.TransportStdio, Command: "/usr/bin/touch", Args: []string{marker},
				Secrets: registry.Sensitive{"LD_PRELOAD": "/tmp/evil.so"}},
			contains: `secret "LD_PRELOAD" cannot be passed to a stdio command`,
		},
		{
			name: "PATH as a secret", allowed: []string{"/usr/bin/touch"},
			conn: &registry.Connection{Transport: registry.TransportStdio, Command: "/usr/bin/touch", Args: []string{marker},
				Secrets: registry.Sensitive{"PATH": "/tmp"}},
			contains: "tether sets PATH itself",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Guard: testGuard(), StdioCommands: tt.allowed})
			_, err := c.Probe(ctxT(t), tt.conn)
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), tt.contains)
			assert.NotContains(t, err.Error(), "/tmp/evil.so")
			_, statErr := os.Stat(marker)
			assert.True(t, os.IsNotExist(statErr), "the command must not have run")
		})
	}
}

func TestStdioFailures(t *testing.T) {
	t.Parallel()
	t.Run("command exits", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, Options{})
		_, err := c.Probe(ctxT(t), stdioConn(t, "crash"))
		require.ErrorIs(t, err, ErrConnectionFailed)
		assert.Equal(t, "connection failed: the stdio server exited (exit status 3): Error: the API_KEY variable is not set", err.Error())
	})
	t.Run("command not found", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "no-such-server")
		c := New(Options{Guard: testGuard(), StdioCommands: []string{missing}})
		_, err := c.Probe(ctxT(t), &registry.Connection{Transport: registry.TransportStdio, Command: missing})
		require.ErrorIs(t, err, ErrConnectionFailed)
		assert.Contains(t, err.Error(), "could not start "+missing+": no such file")
	})
	t.Run("silent server is killed at the timeout", func(t *testing.T) {
		t.Parallel()
		pidFile := filepath.Join(t.TempDir(), "pid")
		conn := stdioConn(t, "silent", pidFile)
		conn.TimeoutMS = 1000
		c := newTestClient(t, Options{})

		start := time.Now()
		_, err := c.Probe(ctxT(t), conn)
		require.ErrorIs(t, err, ErrTimeout)
		assert.Less(t, time.Since(start), 1800*time.Millisecond)
		b, err := os.ReadFile(pidFile)
		require.NoError(t, err)
		pid, err := strconv.Atoi(string(b))
		require.NoError(t, err)
		// Killed and reaped: the pid is gone.
		assert.Eventually(t, func() bool {
			return syscall.Kill(pid, 0) == syscall.ESRCH
		}, 3*time.Second, 20*time.Millisecond)
	})
}
