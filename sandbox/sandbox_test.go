//go:build linux

package sandbox_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
	"github.com/tether-dev/tether/internal/syncbuf"
	"github.com/tether-dev/tether/sandbox"
)

// parentSecret is in the test process's environment only; no sandboxed
// command may see it.
const parentSecret = "SANDBOX_TEST_PARENT_SECRET=parent-only-4c1d"

// fixtureArg makes the test binary act as a misbehaving command.
const fixtureArg = "-sandbox-fixture"

var fixture string

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == fixtureArg {
		os.Exit(runFixture(os.Args[2]))
	}
	os.Setenv(strings.SplitN(parentSecret, "=", 2)[0], strings.SplitN(parentSecret, "=", 2)[1])
	path, remove, err := sandboxtest.CopyExecutable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixture = path
	code := m.Run()
	remove()
	os.Exit(code)
}

func runFixture(mode string) int {
	switch mode {
	case "alloc":
		// 4 GiB, touched so that no lazy allocation hides it.
		b := make([]byte, 4<<30)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated")
		return 0
	}
	return 2
}

func newSandbox(t *testing.T, cfg sandbox.Config) *sandbox.Sandbox {
	t.Helper()
	if cfg.User == "" {
		cfg.User = sandboxtest.User()
	}
	s, err := sandbox.New(cfg)
	require.NoError(t, err)
	t.Logf("sandbox mechanisms: %s", strings.Join(s.Mechanisms(), ", "))
	return s
}

type result struct {
	stdout, stderr string
	err            error
}

// start starts path with args in s.
func start(t *testing.T, s *sandbox.Sandbox, path string, args ...string) (*sandbox.Process, *syncbuf.Buffer, *syncbuf.Buffer) {
	t.Helper()
	p, err := s.Command(path, args, []string{"PATH=/usr/bin:/bin"})
	require.NoError(t, err)
	var stdout, stderr syncbuf.Buffer
	p.Cmd.Stdout, p.Cmd.Stderr = &stdout, &stderr
	require.NoError(t, p.Start())
	return p, &stdout, &stderr
}

// run runs path with args in s and waits for it (killing it after a
// generous deadline, which the tests never expect to reach).
func run(t *testing.T, s *sandbox.Sandbox, path string, args ...string) result {
	t.Helper()
	p, stdout, stderr := start(t, s, path, args...)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		p.Kill()
		err = <-done
		t.Errorf("%s did not finish", path)
	}
	return result{stdout.String(), stderr.String(), err}
}

func TestNewNeedsAnUnprivilegedUserOfItsOwn(t *testing.T) {
	_, err := sandbox.New(sandbox.Config{})
	require.ErrorIs(t, err, sandbox.ErrNoUser)
	_, err = sandbox.New(sandbox.Config{User: "root"})
	require.ErrorContains(t, err, "unprivileged")
	_, err = sandbox.New(sandbox.Config{User: strconv.Itoa(os.Getuid())})
	require.Error(t, err, "tether's own user is no sandbox")
	_, err = sandbox.New(sandbox.Config{User: "no-such-user-here"})
	require.ErrorContains(t, err, `no user "no-such-user-here"`)
}

// TestSandboxHidesTether is the adversarial review's reproduction and its
// variants: a command reads its parent's environment and command line,
// /proc/1, tether's /proc/<pid>/mem, and the database and keys files by
// path. None of it may reach the command.
func TestSandboxHidesTether(t *testing.T) {
	dir := sandboxtest.ReadableDir(t)
	db := filepath.Join(dir, "tether.db")
	keys := filepath.Join(dir, "tether.db.keys")
	// World-readable on purpose: hiding must not depend on permissions.
	require.NoError(t, os.WriteFile(db, []byte("DATABASE-CONTENT-77"), 0o644))
	require.NoError(t, os.WriteFile(keys, []byte("k1:KEYS-CONTENT-88"), 0o644))
	s := newSandbox(t, sandbox.Config{Hide: []string{db, keys, filepath.Join(dir, "absent.db-wal")}})
	// A descriptor tether inherited without close-on-exec (Go sets the
	// flag only on its own): it must not reach the command.
	fd, err := syscall.Open(keys, syscall.O_RDONLY, 0)
	require.NoError(t, err)
	defer syscall.Close(fd)

	me := strconv.Itoa(os.Getpid())
	script := strings.Join([]string{
		"echo pid=$$ ppid=$PPID uid=$(id -u)",
		"grep NoNewPrivs /proc/self/status",
		"cat /proc/$PPID/environ /proc/$PPID/cmdline",
		"cat /proc/1/environ",
		"cat /proc/" + me + "/environ /proc/" + me + "/cmdline",
		"head -c 4096 /proc/" + me + "/mem",
		"cat /proc/*/environ",
		"cat " + db + " " + keys,
		"umount " + db + " " + keys + " /proc; cat " + db + " " + keys + " /proc/" + me + "/environ",
		"[ -e /proc/$$/fd/FD ] && echo inherited descriptor FD || echo no inherited descriptor",
	}, "; ")
	script = strings.ReplaceAll(script, "FD", strconv.Itoa(fd))
	r := run(t, s, "/bin/sh", "-c", script)
	out := r.stdout + r.stderr
	t.Logf("%s", out)
	for _, secret := range []string{"parent-only-4c1d", "DATABASE-CONTENT-77", "KEYS-CONTENT-88", "-test.", "sandbox.test"} {
		assert.NotContains(t, out, secret)
	}
	assert.Contains(t, r.stdout, "NoNewPrivs:\t1")
	assert.Contains(t, r.stdout, "no inherited descriptor\n")
	if s.Namespaces() {
		assert.Contains(t, r.stdout, "pid=1 ppid=0", "the command is its PID namespace's init")
	}
	assert.Contains(t, r.stdout, "uid=65534")
}

// TestSandboxKillsTheTree: a detached, setsid grandchild dies with the
// command, whether the command is killed or exits by itself.
func TestSandboxKillsTheTree(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	for _, tc := range []struct{ name, tail string }{
		{"killed", "sleep 600"},
		{"exits", "exit 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("%s-%d", tc.name, time.Now().UnixNano())
			marker := "grandchild-" + id
			// setsid leaves the process group; the grandchild's own sh
			// keeps the marker as its $0, which is how it is found (built
			// from two halves so that the command's own line lacks it).
			script := "g=grand; setsid sh -c 'sleep 600; :' \"${g}child-" + id + "\" </dev/null >/dev/null 2>&1 & sleep 0.5; " + tc.tail
			p, _, _ := start(t, s, "/bin/sh", "-c", script)
			require.Eventually(t, func() bool { return sandboxtest.Processes(marker) == 1 }, time.Minute, 20*time.Millisecond,
				"the grandchild starts")
			if tc.name == "killed" {
				p.Kill()
			}
			_ = p.Wait()
			require.Eventually(t, func() bool { return sandboxtest.Processes(marker) == 0 }, time.Minute, 20*time.Millisecond,
				"the grandchild dies with the command")
		})
	}
}

// TestSandboxForkBomb: the process limit stops a fork bomb, and nothing of
// it survives the command.
func TestSandboxForkBomb(t *testing.T) {
	s := newSandbox(t, sandbox.Config{Limits: sandbox.Limits{Processes: 40}})
	// The bomb's children sleep for a number of seconds no other process
	// on the machine uses, which is how they are counted.
	secs := strconv.Itoa(100000 + int(time.Now().UnixNano()%100000))
	marker := "sleep " + secs
	r := run(t, s, "/bin/sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep "+secs+" & i=$((i+1)); done; echo spawned all")
	t.Logf("stderr: %.300s", r.stderr)
	assert.NotContains(t, r.stdout, "spawned all")
	assert.Regexp(t, `(?i)fork|resource temporarily unavailable`, r.stderr)
	require.Eventually(t, func() bool { return sandboxtest.Processes(marker) == 0 }, time.Minute, 20*time.Millisecond,
		"nothing of the bomb outlives it")
}

// TestSandboxMemoryLimit: a 4 GiB allocation fails.
func TestSandboxMemoryLimit(t *testing.T) {
	s := newSandbox(t, sandbox.Config{Limits: sandbox.Limits{AddressSpace: 1 << 30}})
	r := run(t, s, fixture, fixtureArg, "alloc")
	require.Error(t, r.err)
	assert.NotContains(t, r.stdout, "allocated")
	assert.Contains(t, r.stderr, "out of memory")
}

// TestSandboxScratchIsPrivate: two commands (two tenants, one sandbox
// user) share no /tmp, /var/tmp, /dev/shm or home; the host sees none of
// it, and it is gone with the command.
func TestSandboxScratchIsPrivate(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	// Every machine tether is tested on (CI included) grants namespaces:
	// without them the isolation this test checks is missing, a failure.
	require.True(t, s.Namespaces(), "private scratch directories need a mount namespace, which this kernel refused")
	marker := fmt.Sprintf("planted-%d", time.Now().UnixNano())
	a, aOut, _ := start(t, s, "/bin/sh", "-c", "for d in /tmp /var/tmp /dev/shm $HOME; do echo x > $d/"+marker+"; done; pwd; echo planted; sleep 600")
	defer func() { a.Kill(); _ = a.Wait() }()
	require.Eventually(t, func() bool { return strings.Contains(aOut.String(), "planted") }, time.Minute, 20*time.Millisecond)
	assert.Equal(t, "/tmp/home\nplanted\n", aOut.String())

	r := run(t, s, "/bin/sh", "-c", "ls -A /tmp /var/tmp /dev/shm $HOME")
	assert.NotContains(t, r.stdout+r.stderr, marker)
	for _, d := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		_, err := os.Stat(filepath.Join(d, marker))
		assert.True(t, os.IsNotExist(err), "the host's %s has nothing of the command's", d)
	}
}

func TestSandboxEnvironmentIsExactlyWhatIsGiven(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	r := run(t, s, "env")
	require.NoError(t, r.err)
	home := "/tmp/home"
	if !s.Namespaces() {
		home = "/tmp/tether-stdio-"
	}
	assert.True(t, strings.HasPrefix(r.stdout, "PATH=/usr/bin:/bin\nHOME="+home), r.stdout)
	assert.Equal(t, 2, strings.Count(r.stdout, "\n"), r.stdout)
}

func TestSandboxCommandNotFound(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	_, err := s.Command("no-such-command-here", nil, nil)
	require.ErrorIs(t, err, exec.ErrNotFound)
}
