// Package pgtest gives tests a real PostgreSQL database of their own.
//
// The first test of a test binary that asks for one starts a private
// PostgreSQL 15 cluster: initdb into a fresh temporary directory, then the
// server itself on a free loopback port (TCP only, trust authentication,
// durability off: nothing in it outlives the binary). Each test gets a
// fresh database cloned from an empty template (CREATE DATABASE ...
// TEMPLATE), dropped when the test ends.
//
// The cluster stops when the test binary ends. A package that uses pgtest
// calls Main from its TestMain, which stops the server and removes its
// directory after the tests ran:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// As a safety net for a binary that panics, times out or never called
// Main, the server runs as a direct child of the test binary (not through
// pg_ctl's daemon) with a parent-death signal, so the kernel stops it
// when the binary dies; only its temporary directory stays behind then.
//
// When the tests run as root, initdb and the server run as the `postgres`
// user (PostgreSQL refuses to run as root), and the directory is handed to
// that user. The binaries come from /usr/lib/postgresql/15/bin (package
// postgresql-15), or from the directory in TETHER_PG_BIN. A machine
// without them fails the test with a message saying so: tests that need
// PostgreSQL are never skipped.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBin is where Debian's postgresql-15 package puts the server.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// template is the database every test's database is cloned from.
const template = "tether_template"

var (
	mu      sync.Mutex
	running *cluster
	failed  error // a start that failed fails every later test the same way
	seq     atomic.Int64
)

type cluster struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the server process exited
}

// URL creates a fresh, empty database on the binary's cluster (starting
// it if needed) and returns its URL; the database is dropped when t ends.
func URL(t testing.TB) string {
	t.Helper()
	url, drop, err := NewDatabase()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return url
}

// NewDatabase is URL for a program rather than a test (the benchmarks):
// a fresh, empty database on the cluster (started if needed) and the
// function that drops it. The program calls Stop when done.
func NewDatabase() (url string, drop func() error, err error) {
	c, err := start()
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Nobody connects to the template, so PostgreSQL may copy it for
	// several tests at once.
	if err := c.exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE: a pool left open must not keep it alive.
		if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return c.url(name), drop, nil
}

// AdminURL is the URL of the cluster's maintenance database (for tests
// that create databases themselves).
func AdminURL(t testing.TB) string {
	t.Helper()
	c, err := start()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return c.url("postgres")
}

// Main runs the tests and then stops the cluster, if one was started;
// call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the cluster and removes its directory; Main calls it.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if running == nil {
		return
	}
	c := running
	running = nil
	// SIGINT is PostgreSQL's "fast" shutdown: it ends the sessions and
	// stops cleanly.
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = os.RemoveAll(c.dir)
}

func start() (*cluster, error) {
	mu.Lock()
	defer mu.Unlock()
	if running != nil {
		return running, nil
	}
	if failed != nil {
		return nil, failed
	}
	c, err := startCluster()
	if err != nil {
		failed = err
		return nil, err
	}
	running = c
	return c, nil
}

func binDir() string {
	if d := os.Getenv("TETHER_PG_BIN"); d != "" {
		return d
	}
	return DefaultBin
}

// credential is who runs PostgreSQL: the postgres user when we are root,
// else ourselves (nil).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, and there is none: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startCluster() (*cluster, error) {
	bin := binDir()
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("PostgreSQL 15 server binaries are needed and %s is missing "+
				"(install the postgresql-15 package, as .ci/run does, or point TETHER_PG_BIN at its bin directory): %w",
				filepath.Join(bin, b), err)
		}
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tether-pgtest-")
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		// The temporary directory is root's (0700): hand it over.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between our probe and the server's bind:
	// try a few.
	var lastErr error
	for range 5 {
		c, err := launch(bin, dir, data, cred)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(bin, dir, data string, cred *syscall.Credential) (*cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		_ = logFile.Chown(int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories=", // TCP only: no socket in a shared directory
		"-c", "max_connections=400",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: the server dies with the test binary, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &cluster{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err := c.exec(ctx, "CREATE DATABASE "+template)
		if err == nil {
			return c, nil
		}
		select {
		case <-c.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited at start:\n%s", tail(string(out)))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-c.done
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not accept connections within a minute (%v):\n%s", err, tail(string(out)))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

func (c *cluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// exec runs one statement on the maintenance database, on a connection of
// its own (CREATE/DROP DATABASE cannot run in a transaction).
func (c *cluster) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	if err != nil && strings.HasPrefix(sql, "CREATE DATABASE "+template) {
		var exists interface{ SQLState() string }
		if errors.As(err, &exists) && exists.SQLState() == "42P04" {
			return nil // already there: a retried start
		}
	}
	return err
}
