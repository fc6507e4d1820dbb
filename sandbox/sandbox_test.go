//go:build linux

package sandbox_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
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

// run runs path with args in s and waits for it (killing it after a
// generous deadline, which the tests never expect to reach).
func run(t *testing.T, s *sandbox.Sandbox, path string, args ...string) result {
	t.Helper()
	dir, remove, err := s.WorkDir()
	require.NoError(t, err)
	defer remove()
	cmd, err := s.Command(path, args, []string{"PATH=/usr/bin:/bin", "HOME=" + dir}, dir)
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		sandbox.Kill(cmd)
		err = <-done
		t.Errorf("%s did not finish", path)
	}
	return result{stdout.String(), stderr.String(), err}
}

func TestNewRefusesRootWithoutUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the rule is about running as root; this test process is not root")
	}
	_, err := sandbox.New(sandbox.Config{})
	require.ErrorIs(t, err, sandbox.ErrRootWithoutUser)
	_, err = sandbox.New(sandbox.Config{User: "root"})
	require.ErrorContains(t, err, "unprivileged")
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
		"ls /proc",
	}, "; ")
	r := run(t, s, "/bin/sh", "-c", script)
	out := r.stdout + r.stderr
	t.Logf("%s", out)
	for _, secret := range []string{"parent-only-4c1d", "DATABASE-CONTENT-77", "KEYS-CONTENT-88", "-test.", "sandbox.test"} {
		assert.NotContains(t, out, secret)
	}
	assert.Contains(t, r.stdout, "NoNewPrivs:\t1")
	if s.Namespaces() {
		assert.Contains(t, r.stdout, "pid=1 ppid=0", "the command is its PID namespace's init")
	}
	if os.Geteuid() == 0 {
		assert.Contains(t, r.stdout, "uid=65534")
	}
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
			dir, remove, err := s.WorkDir()
			require.NoError(t, err)
			defer remove()
			// setsid leaves the process group; the grandchild's own sh
			// keeps the marker as its $0, which is how it is found (built
			// from two halves so that the command's own line lacks it).
			script := "g=grand; setsid sh -c 'sleep 600; :' \"${g}child-" + id + "\" </dev/null >/dev/null 2>&1 & sleep 0.5; " + tc.tail
			cmd, err := s.Command("/bin/sh", []string{"-c", script}, []string{"PATH=/usr/bin:/bin"}, dir)
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			require.Eventually(t, func() bool { return countProcesses(marker) == 1 }, time.Minute, 20*time.Millisecond,
				"the grandchild starts")
			if tc.name == "killed" {
				sandbox.Kill(cmd)
			}
			_ = cmd.Wait()
			require.Eventually(t, func() bool { return countProcesses(marker) == 0 }, time.Minute, 20*time.Millisecond,
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
	require.Eventually(t, func() bool { return countProcesses(marker) == 0 }, time.Minute, 20*time.Millisecond,
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

func TestSandboxWorkDir(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	dir, remove, err := s.WorkDir()
	require.NoError(t, err)
	cmd, err := s.Command("/bin/sh", []string{"-c", "echo hi > note && cat note && pwd"}, []string{"PATH=/usr/bin:/bin"}, dir)
	require.NoError(t, err)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "hi\n"+dir+"\n", string(out))
	remove()
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err))
}

func TestSandboxEnvironmentIsExactlyWhatIsGiven(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	dir, remove, err := s.WorkDir()
	require.NoError(t, err)
	defer remove()
	cmd, err := s.Command("env", nil, []string{"PATH=/usr/bin:/bin", "ONLY=this"}, dir)
	require.NoError(t, err)
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "PATH=/usr/bin:/bin\nONLY=this\n", string(out))
}

func TestSandboxCommandNotFound(t *testing.T) {
	s := newSandbox(t, sandbox.Config{})
	_, err := s.Command("no-such-command-here", nil, nil, "/")
	require.ErrorIs(t, err, exec.ErrNotFound)
}

// countProcesses counts the host's processes whose command line contains
// marker (this test process's own excluded).
func countProcesses(marker string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(marker)) {
			n++
		}
	}
	return n
}
