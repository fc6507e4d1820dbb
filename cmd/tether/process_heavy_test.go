//go:build heavy

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the real binary as a separate process, so they can kill
// it. They are in the heavy pass (make test-heavy), without -race.

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "tether-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tether")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a tether process.
type proc struct {
	cmd  *exec.Cmd
	base string
	exit chan error
}

// startProc runs `tether serve` on db (with extra arguments, and with env
// added to the test's environment) and waits until it serves.
func startProc(t *testing.T, db string, env []string, extra ...string) *proc {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err)
	// The load creates rows as fast as it can: no cap on them.
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--bootstrap-api-key", "heavy-test-key-0123456789", "--shutdown-timeout", "10s",
		"--max-connections-per-tenant", "0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &proc{cmd: cmd, exit: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "tether serving" {
				addr <- line["addr"].(string)
			}
		}
		p.exit <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-p.exit:
		t.Fatalf("tether exited before serving: %v", err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("tether did not start within 30s")
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// createLoop creates connections from n goroutines until stop is closed,
// returning the ids whose create was acknowledged with a 201, and any
// response that was neither a 201 nor a connection error.
func createLoop(p *proc, n int, stop <-chan struct{}, acked *atomic.Int64) (ids []string, bad []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"name":"srv-%d-%d","description":"d","transport":"http","endpoint":"https://mcp.example.com/","secrets":{"K":"v"},"headers":{"X":"{{secrets.K}}"}}`, g, i)
				rq, _ := http.NewRequest(http.MethodPost, p.base+ferniBase, strings.NewReader(body))
				rq.Header.Set("Content-Type", "application/json")
				rq.Header.Set("x-api-key", "heavy-test-key-0123456789")
				resp, err := client.Do(rq)
				if err != nil {
					return // the process went away
				}
				data, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusCreated && rerr == nil {
					var v struct{ Data struct{ ID string } }
					if json.Unmarshal(data, &v) == nil && v.Data.ID != "" {
						ids = append(ids, v.Data.ID)
						acked.Add(1)
					}
				} else if rerr == nil {
					bad = append(bad, fmt.Sprintf("%d %s", resp.StatusCode, data))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids, bad
}

// listIDs returns every connection id tether has for the test tenant.
func listIDs(t *testing.T, p *proc) map[string]bool {
	t.Helper()
	rq, _ := http.NewRequest(http.MethodGet, p.base+featherBase, nil)
	rq.Header.Set("x-api-key", "heavy-test-key-0123456789")
	resp, err := http.DefaultClient.Do(rq)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rows []struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&rows))
	out := map[string]bool{}
	for _, r := range rows {
		out[r.ID] = true
	}
	return out
}

// load runs createLoop in the background.
type load struct {
	stop  chan struct{}
	done  chan struct{}
	acked atomic.Int64
	ids   []string
	bad   []string
}

// startLoad starts n creating goroutines against p.
func startLoad(p *proc, n int) *load {
	l := &load{stop: make(chan struct{}), done: make(chan struct{})}
	go func() { l.ids, l.bad = createLoop(p, n, l.stop, &l.acked); close(l.done) }()
	return l
}

// waitAcked waits until n creates were acknowledged (or the deadline).
func (l *load) waitAcked(n int64, deadline time.Duration) {
	end := time.Now().Add(deadline)
	for l.acked.Load() < n && time.Now().Before(end) {
		time.Sleep(5 * time.Millisecond)
	}
}

// end stops the creators and returns the acknowledged ids and the bad answers.
func (l *load) end() (ids, bad []string) {
	close(l.stop)
	<-l.done
	return l.ids, l.bad
}

// TestHeavyCrashLosesNothingAcknowledged kills tether with SIGKILL during
// concurrent creates; after a restart on the same file every create that
// got a 201 is there.
func TestHeavyCrashLosesNothingAcknowledged(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tether.db")
	p := startProc(t, db, nil)
	l := startLoad(p, 16)
	l.waitAcked(300, 60*time.Second)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exit
	ids, bad := l.end()
	require.Empty(t, bad, "no create may fail while the server is up")
	require.GreaterOrEqual(t, len(ids), 300)

	p2 := startProc(t, db, nil)
	have := listIDs(t, p2)
	missing := 0
	for _, id := range ids {
		if !have[id] {
			missing++
		}
	}
	assert.Zero(t, missing, "%d of %d acknowledged creates were lost", missing, len(ids))
}

// TestHeavyGracefulShutdown sends SIGTERM under load: in-flight requests
// complete, the process exits 0, and everything acknowledged is stored.
func TestHeavyGracefulShutdown(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tether.db")
	p := startProc(t, db, nil)
	l := startLoad(p, 16)
	l.waitAcked(100, 60*time.Second)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exit:
		assert.NoError(t, err, "exit status 0 after SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("tether did not exit within 30s of SIGTERM")
	}
	ids, bad := l.end()
	assert.Empty(t, bad, "in-flight requests finish normally during shutdown")
	p2 := startProc(t, db, nil)
	have := listIDs(t, p2)
	for _, id := range ids {
		assert.True(t, have[id], "acknowledged create %s lost", id)
	}
}

// TestHeavySIGHUPReloadsKeys: the real binary picks up a rotated keys file
// on SIGHUP and re-encrypts while it keeps serving.
func TestHeavySIGHUPReloadsKeys(t *testing.T) {
	db := filepath.Join(t.TempDir(), "tether.db")
	p := startProc(t, db, nil)
	l := startLoad(p, 4)
	l.waitAcked(50, 60*time.Second)
	old := keysStatus(t, db).Primary
	require.NoError(t, runCLI(t, "keys", "rotate", "--db", db))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	l.end()
	require.Eventually(t, func() bool { return keysStatus(t, db).values(old) == 0 }, 30*time.Second, 50*time.Millisecond)
	assert.NotEqual(t, old, keysStatus(t, db).Primary)
	assert.NotEmpty(t, listIDs(t, p))
}
