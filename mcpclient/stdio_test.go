//go:build unix

package mcpclient

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
	"github.com/tether-dev/tether/registry"
)

func stdioConn(t *testing.T, args ...string) *registry.Connection {
	return &registry.Connection{
		Transport: registry.TransportStdio,
		Command:   stdioFixture,
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

	res, err := c.call(ctxT(t), conn, "env", nil)
	require.NoError(t, err)
	require.False(t, res.IsError)
	var out envOut
	b, err := json.Marshal(res.StructuredContent)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &out))

	// The secret reached the child; what the child says back is redacted
	// of it, like everything a server returns.
	assert.Equal(t, "***", out.Env["API_KEY"])
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
			contains: `command "/usr/bin/touch" is not on this server's stdio allow-list`,
		},
		{
			name: "allow-list is exact", allowed: []string{"touch"},
			conn:     &registry.Connection{Transport: registry.TransportStdio, Command: "/usr/bin/touch", Args: []string{marker}},
			contains: "stdio allow-list",
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
			c := New(Options{Guard: testGuard(), StdioCommands: tt.allowed, Sandbox: testSandbox})
			_, err := c.Probe(ctxT(t), tt.conn)
			require.ErrorIs(t, err, registry.ErrUpstreamRefused)
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
		require.ErrorIs(t, err, registry.ErrUpstreamConnection)
		assert.Equal(t, "connection failed: the stdio server exited (exit status 3): Error: the API_KEY variable is not set", err.Error())
	})
	t.Run("command not found", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "no-such-server")
		c := New(Options{Guard: testGuard(), StdioCommands: []string{missing}, Sandbox: testSandbox})
		_, err := c.Probe(ctxT(t), &registry.Connection{Transport: registry.TransportStdio, Command: missing})
		require.ErrorIs(t, err, registry.ErrUpstreamConnection)
		assert.Contains(t, err.Error(), "could not start "+missing+": no such file")
	})
	t.Run("silent server is killed at the timeout", func(t *testing.T) {
		t.Parallel()
		marker := fmt.Sprintf("silent-%d", time.Now().UnixNano())
		conn := stdioConn(t, "silent", marker)
		conn.TimeoutMS = 1000
		c := newTestClient(t, Options{})

		_, err := c.Probe(ctxT(t), conn)
		require.ErrorIs(t, err, registry.ErrUpstreamTimeout)
		// Killed and reaped: nothing runs with the marker any more.
		assert.Eventually(t, func() bool { return sandboxtest.Processes(marker) == 0 }, time.Minute, 20*time.Millisecond)
	})
}

// TestStdioSandboxed: the stdio server cannot read tether's environment
// or command line, through its parent's /proc entry, /proc/1 or tether's
// pid, and runs with no_new_privs as its PID namespace's init. The script
// reports on one stderr line, which is what the error shows.
func TestStdioSandboxed(t *testing.T) {
	t.Parallel()
	me := strconv.Itoa(os.Getpid())
	script := `r=""; for f in /proc/$PPID/environ /proc/$PPID/cmdline /proc/` + me + `/environ /proc/` + me + `/mem; do ` +
		`head -c 1 $f >/dev/null 2>&1 && r="$r $f"; done; ` +
		`grep -q leaked /proc/1/environ && r="$r /proc/1/environ"; ` +
		`echo "pid=$$ uid=$(id -u) $(grep NoNewPrivs /proc/self/status | tr -d '\t') readable:[$r]" >&2; exit 3`
	conn := &registry.Connection{Transport: registry.TransportStdio, Command: "/bin/sh", Args: []string{"-c", script}, TimeoutMS: 10000}
	c := newTestClient(t, Options{StdioCommands: []string{"/bin/sh"}})
	_, err := c.Probe(ctxT(t), conn)
	require.ErrorIs(t, err, registry.ErrUpstreamConnection)
	assert.Contains(t, err.Error(), "NoNewPrivs:1 readable:[]")
	assert.Contains(t, err.Error(), "pid=1 ")
	if os.Geteuid() == 0 {
		assert.Contains(t, err.Error(), "uid=65534")
	}
}

// TestStdioStderrRedactedBeforeCut: a secret that the stderr excerpt's cut
// falls inside is still redacted.
func TestStdioStderrRedactedBeforeCut(t *testing.T) {
	t.Parallel()
	secret := "sk-live-0123456789abcdefghijklmnopqrstuvwxyz"
	conn := stdioConn(t, "stderr-secret")
	conn.Secrets = registry.Sensitive{"SECRET_VALUE": secret}
	c := newTestClient(t, Options{})
	_, err := c.Probe(ctxT(t), conn)
	require.ErrorIs(t, err, registry.ErrUpstreamConnection)
	assert.Contains(t, err.Error(), "***zzz")
	for i := 0; i+8 <= len(secret); i++ {
		assert.NotContains(t, err.Error(), secret[i:i+8])
	}
}

// TestStdioPerTenantCap: one tenant cannot run more stdio servers at once
// than the cap: a start past it waits for a slot as long as its caller
// does, and is refused after that; another tenant is not affected.
func TestStdioPerTenantCap(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Options{MaxStdioPerTenant: 1})
	a := stdioConn(t)
	a.TenantID = "tenant-a"
	s, err := c.Connect(ctxT(t), a)
	require.NoError(t, err)

	impatient := *a
	impatient.TimeoutMS = 1000
	_, err = c.Probe(ctxT(t), &impatient)
	require.ErrorIs(t, err, registry.ErrUpstreamRefused)
	assert.Contains(t, err.Error(), "already runs 1 stdio servers")

	b := stdioConn(t)
	b.TenantID = "tenant-b"
	_, err = c.Probe(ctxT(t), b)
	require.NoError(t, err)

	// A start that waits gets the slot when the session closes.
	waited := make(chan error, 1)
	go func() {
		patient := *a
		patient.TimeoutMS = 60000
		_, err := c.Probe(ctxT(t), &patient)
		waited <- err
	}()
	require.NoError(t, s.Close())
	require.NoError(t, <-waited)

	// A server that fails to start gives its slot back.
	broken := *a
	broken.Args = []string{stdioServerArg, "crash"}
	_, err = c.Probe(ctxT(t), &broken)
	require.ErrorIs(t, err, registry.ErrUpstreamConnection)
	_, err = c.Probe(ctxT(t), a)
	require.NoError(t, err)
}

// TestStdioFixedArgs: with fixed arguments, only the listed vectors run.
func TestStdioFixedArgs(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Options{StdioCommands: []string{stdioFixture + "=" + stdioServerArg}, StdioFixedArgs: true})
	_, err := c.Probe(ctxT(t), stdioConn(t))
	require.NoError(t, err)
	_, err = c.Probe(ctxT(t), stdioConn(t, "crash"))
	require.ErrorIs(t, err, registry.ErrUpstreamRefused)
	assert.Contains(t, err.Error(), "--stdio-args fixed")
}

// TestStdioNeedsSandbox: without a sandbox, stdio does not run at all.
func TestStdioNeedsSandbox(t *testing.T) {
	t.Parallel()
	c := New(Options{Guard: testGuard(), StdioCommands: []string{stdioFixture}})
	_, err := c.Probe(ctxT(t), stdioConn(t))
	require.ErrorIs(t, err, registry.ErrUpstreamRefused)
	assert.Contains(t, err.Error(), "sandbox")
}
