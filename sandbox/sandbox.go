// Package sandbox runs untrusted commands — the stdio MCP servers that
// tenants register — so that they cannot read tether's memory, environment,
// command line, keys or database, cannot outlive the connection that
// started them, and cannot exhaust the machine.
//
// A sandboxed command is started through tether's own executable
// (/proc/self/exe) in a helper mode: the helper is cloned into new PID,
// mount and IPC namespaces, mounts a private /proc and private /tmp,
// /var/tmp and /dev/shm (so that commands of different tenants, which run
// as the same user, share no scratch space), covers the files it was told
// to hide, sets resource limits, drops to the sandbox user with
// no_new_privs and no inherited descriptors, and finally execs the command, which becomes the namespace's
// init. When that process dies, the kernel kills everything left in its PID
// namespace, detached and setsid grandchildren included.
//
// Where the kernel refuses namespaces, the helper still switches user, sets
// limits and no_new_privs, and the process group is killed on close;
// there is no mode without a separate user.
// [Sandbox.Mechanisms] says which mechanisms are in force so that the
// operator can read it in the start-up log.
//
// The helper mode is entered from this package's init function, so every
// binary that links the package (tether and its test binaries) can serve as
// the helper without further wiring.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Limits are the resource limits of a sandboxed process tree. Zero fields
// take the defaults below.
type Limits struct {
	// AddressSpace caps each process's virtual memory (RLIMIT_AS), bytes.
	AddressSpace uint64
	// CPUSeconds caps each process's CPU time (RLIMIT_CPU).
	CPUSeconds uint64
	// OpenFiles caps each process's file descriptors (RLIMIT_NOFILE).
	OpenFiles uint64
	// Processes caps the tasks (processes and threads) the sandbox user
	// may have at once (RLIMIT_NPROC). The kernel counts them per user, so
	// every sandbox that runs as the same user shares this budget.
	Processes uint64
	// FileSize caps any file a process writes (RLIMIT_FSIZE), bytes.
	FileSize uint64
}

// Defaults for [Limits]: generous for a Node.js or Python MCP server,
// fatal for a fork bomb or a runaway allocation.
const (
	DefaultAddressSpace = 2 << 30
	DefaultCPUSeconds   = 3600
	DefaultOpenFiles    = 256
	DefaultProcesses    = 2048
	DefaultFileSize     = 256 << 20
)

func (l Limits) withDefaults() Limits {
	def := func(v *uint64, d uint64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.AddressSpace, DefaultAddressSpace)
	def(&l.CPUSeconds, DefaultCPUSeconds)
	def(&l.OpenFiles, DefaultOpenFiles)
	def(&l.Processes, DefaultProcesses)
	def(&l.FileSize, DefaultFileSize)
	return l
}

// Config configures a [Sandbox].
type Config struct {
	// User is the account (name or numeric uid) sandboxed commands run
	// as: required, unprivileged, and not tether's own. Starting commands
	// as another user needs root (or CAP_SETUID and CAP_SETGID).
	User string
	// Hide are files the command must not read even by path (tether's
	// database, its journal files and the keys file). Each is covered by
	// an empty file in the command's mount namespace; files that do not
	// exist when a command starts are skipped.
	Hide []string
	// Limits are the resource limits; zero fields take the defaults.
	Limits Limits
}

// Sandbox starts commands under one policy. It is safe for concurrent use.
type Sandbox struct {
	uid, gid   int
	namespaces bool
	hide       []string
	limits     Limits
	// alive is the read end of a pipe whose write end only tether holds:
	// a helper that finds it hung up knows tether died while it was
	// setting up, before the parent-death signal was armed again.
	alive, aliveW *os.File
}

// ErrNoUser is returned by [New] without a sandbox user: a command
// running as tether's own user could read everything tether can.
var ErrNoUser = errors.New("stdio servers need a sandbox user: set --stdio-user to an unprivileged account other than tether's own (e.g. nobody)")

// New checks cfg, resolves the user, and finds out — by starting the
// helper once — whether this kernel lets tether create namespaces.
func New(cfg Config) (*Sandbox, error) {
	s := &Sandbox{limits: cfg.Limits.withDefaults()}
	for _, p := range cfg.Hide {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("sandbox: hide %q: %w", p, err)
		}
		s.hide = append(s.hide, abs)
	}
	if cfg.User == "" {
		return nil, ErrNoUser
	}
	uid, gid, err := lookupUser(cfg.User)
	if err != nil {
		return nil, err
	}
	switch uid {
	case 0:
		return nil, fmt.Errorf("sandbox: user %q is root; choose an unprivileged account", cfg.User)
	case os.Getuid():
		return nil, fmt.Errorf("sandbox: user %q is the user tether runs as; choose another, unprivileged account", cfg.User)
	}
	s.uid, s.gid = uid, gid
	if s.alive, s.aliveW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s.namespaces = true
	if err := s.probe(); err != nil {
		// Namespaces refused: keep what works without them.
		s.namespaces = false
		if err2 := s.probe(); err2 != nil {
			s.Close()
			return nil, fmt.Errorf("sandbox: cannot start commands as %q: %v (tether must run as root, or with CAP_SETUID and CAP_SETGID)", cfg.User, err2)
		}
	}
	return s, nil
}

// Close releases the sandbox's own descriptors. Running commands are not
// affected.
func (s *Sandbox) Close() {
	s.alive.Close()
	s.aliveW.Close()
}

func lookupUser(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		u, err = user.LookupId(name)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("sandbox: no user %q on this system", name)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("sandbox: user %q has no numeric uid/gid", name)
	}
	return uid, gid, nil
}

// probe starts the helper once in probe mode: it sets everything up and
// exits without running a command.
func (s *Sandbox) probe() error {
	cmd := s.helper(spec{Probe: true, Dir: "/"})
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Mechanisms names the isolation in force, for the start-up log.
func (s *Sandbox) Mechanisms() []string {
	m := []string{"user " + strconv.Itoa(s.uid)}
	if s.namespaces {
		m = append(m, "pid namespace", "mount namespace (private /proc, /tmp, /var/tmp, /dev/shm; hidden files)", "ipc namespace")
	} else {
		m = append(m, "no namespaces (refused by the kernel): process-group kill only, shared /tmp")
	}
	return append(m, "no_new_privs", "no inherited descriptors", fmt.Sprintf("rlimits (as=%d MiB, cpu=%ds, nofile=%d, nproc=%d, fsize=%d MiB)",
		s.limits.AddressSpace>>20, s.limits.CPUSeconds, s.limits.OpenFiles, s.limits.Processes, s.limits.FileSize>>20))
}

// Namespaces reports whether commands run in their own PID and mount
// namespaces.
func (s *Sandbox) Namespaces() bool { return s.namespaces }

// sandboxHome is the command's home and working directory when it has a
// mount namespace: inside its private /tmp, which no other command (and
// no other tenant) can see, and which vanishes with the namespace.
const sandboxHome = "/tmp/home"

// Process is a command started in the sandbox.
type Process struct {
	// Cmd is the helper that becomes the command. Set its Stdin, Stdout,
	// Stderr and WaitDelay before Start; use Start, Wait and Kill of the
	// Process, not of Cmd.
	Cmd *exec.Cmd
	// Dir is the command's home and working directory, as it sees it.
	Dir string

	removeDir func()
	mu        sync.Mutex
	reaped    bool // set just before the process is reaped; guards Kill
}

// Command returns an unstarted process that runs path with args (args[0]
// excluded) and exactly env plus HOME (its own fresh directory, also the
// working directory), inside the sandbox. path is resolved in tether's
// own PATH. Start it, end it with Kill, and always Wait for it.
func (s *Sandbox) Command(path string, args, env []string) (*Process, error) {
	resolved, err := exec.LookPath(path)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(resolved) {
		if resolved, err = filepath.Abs(resolved); err != nil {
			return nil, err
		}
	}
	p := &Process{Dir: sandboxHome, removeDir: func() {}}
	if !s.namespaces {
		// No private /tmp: a directory of its own on the host, owned by
		// the sandbox user, removed after the process.
		dir, err := os.MkdirTemp("", "tether-stdio-*")
		if err != nil {
			return nil, fmt.Errorf("sandbox: create a working directory: %w", err)
		}
		p.Dir, p.removeDir = dir, func() { os.RemoveAll(dir) }
		if err := os.Chown(dir, s.uid, s.gid); err != nil {
			p.removeDir()
			return nil, fmt.Errorf("sandbox: hand the working directory to the sandbox user: %w", err)
		}
	}
	env = append(slices.Clip(env), "HOME="+p.Dir)
	p.Cmd = s.helper(spec{Path: resolved, Args: append([]string{path}, args...), Env: env, Dir: p.Dir})
	return p, nil
}

// Start starts the process.
func (p *Process) Start() error {
	if err := p.Cmd.Start(); err != nil {
		p.removeDir()
		return err
	}
	return nil
}

// Wait waits for the process to exit, kills whatever it left behind, and
// reaps it. The process is not reaped until its group has been killed,
// so its pid — the group's id — cannot have been reused by then.
func (p *Process) Wait() error {
	waitExited(p.Cmd.Process.Pid)
	p.mu.Lock()
	p.kill()
	p.reaped = true
	p.mu.Unlock()
	err := p.Cmd.Wait()
	p.removeDir()
	return err
}

// Kill ends the process and everything it started. With a PID namespace,
// killing its init is enough: the kernel kills the rest. Without one, the
// process group goes too. After Wait has begun reaping, Kill does nothing.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		p.kill()
	}
}

// helper builds the command that re-executes this binary as the helper.
func (s *Sandbox) helper(sp spec) *exec.Cmd {
	sp.UID, sp.GID = s.uid, s.gid
	sp.Namespaces = s.namespaces
	sp.Hide = s.hide
	sp.Limits = s.limits
	b, _ := json.Marshal(sp) // plain data: cannot fail
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{helperName}
	cmd.Env = []string{specEnv + "=" + string(b)}
	cmd.SysProcAttr = s.sysProcAttr()
	cmd.ExtraFiles = []*os.File{s.alive}
	return cmd
}

// helperName is the helper's argv[0], which is what ps shows for it until
// it execs the command.
const helperName = "tether-stdio-sandbox"

// specEnv carries the helper's instructions. The helper replaces its whole
// environment when it execs the command, so nothing of it reaches the
// command's /proc/self/environ.
const specEnv = "TETHER_SANDBOX_SPEC"

// spec is what the helper does.
type spec struct {
	Probe      bool     `json:"probe,omitempty"`
	Path       string   `json:"path,omitempty"`
	Args       []string `json:"args,omitempty"`
	Env        []string `json:"env,omitempty"`
	Dir        string   `json:"dir"`
	UID        int      `json:"uid"`
	GID        int      `json:"gid"`
	Namespaces bool     `json:"namespaces"`
	Hide       []string `json:"hide,omitempty"`
	Limits     Limits   `json:"limits"`
}
