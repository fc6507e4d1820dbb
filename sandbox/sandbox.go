// Package sandbox runs untrusted commands — the stdio MCP servers that
// tenants register — so that they cannot read tether's memory, environment,
// command line, keys or database, cannot outlive the connection that
// started them, and cannot exhaust the machine.
//
// A sandboxed command is started through tether's own executable
// (/proc/self/exe) in a helper mode: the helper is cloned into new PID,
// mount and IPC namespaces, mounts a private /proc, covers the files it was
// told to hide, sets resource limits, drops to the sandbox user with
// no_new_privs, and finally execs the command, which becomes the namespace's
// init. When that process dies, the kernel kills everything left in its PID
// namespace, detached and setsid grandchildren included.
//
// Where the kernel refuses namespaces, the helper still switches user, sets
// limits and no_new_privs, and the process group is killed on close;
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
	"strconv"
	"strings"
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
	// as. Required when tether runs as root; otherwise, when empty, they
	// run as tether's own user, isolated by a user namespace.
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
	switchUser bool
	// userNS: tether is not root, so the namespaces are created inside a
	// user namespace that maps only tether's own user.
	userNS     bool
	namespaces bool
	hide       []string
	limits     Limits
	selfUID    int
}

// ErrRootWithoutUser is returned by [New] when tether runs as root and no
// sandbox user is configured: a command running as root could read
// everything tether can.
var ErrRootWithoutUser = errors.New("stdio needs a sandbox user when tether runs as root (set --stdio-user to an unprivileged account, e.g. nobody)")

// New checks cfg, resolves the user, and finds out — by starting the
// helper once — whether this kernel lets tether create namespaces.
func New(cfg Config) (*Sandbox, error) {
	s := &Sandbox{limits: cfg.Limits.withDefaults(), selfUID: os.Getuid()}
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
	switch {
	case cfg.User != "":
		uid, gid, err := lookupUser(cfg.User)
		if err != nil {
			return nil, err
		}
		if uid == 0 {
			return nil, fmt.Errorf("sandbox: user %q is root; choose an unprivileged account", cfg.User)
		}
		s.uid, s.gid = uid, gid
		s.switchUser = uid != s.selfUID
	case s.selfUID == 0:
		return nil, ErrRootWithoutUser
	default:
		s.uid, s.gid = s.selfUID, os.Getgid()
		s.userNS = true
	}
	if s.switchUser && s.selfUID != 0 {
		return nil, fmt.Errorf("sandbox: tether runs as uid %d and cannot start commands as %q; run it as root with --stdio-user, or leave --stdio-user empty", s.selfUID, cfg.User)
	}
	s.namespaces = true
	if err := s.probe(); err != nil {
		// Namespaces refused: keep what works without them.
		s.namespaces, s.userNS = false, false
		if err2 := s.probe(); err2 != nil {
			return nil, fmt.Errorf("sandbox: the helper does not start: %v (with namespaces: %v)", err2, err)
		}
	}
	return s, nil
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
	var m []string
	if s.switchUser {
		m = append(m, "user "+strconv.Itoa(s.uid))
	} else {
		m = append(m, "tether's own user")
	}
	if s.namespaces {
		if s.userNS {
			m = append(m, "user namespace")
		}
		m = append(m, "pid namespace", "mount namespace (private /proc, hidden files)", "ipc namespace")
	} else {
		m = append(m, "no namespaces (refused by the kernel): process-group kill only")
	}
	return append(m, "no_new_privs", fmt.Sprintf("rlimits (as=%d MiB, cpu=%ds, nofile=%d, nproc=%d, fsize=%d MiB)",
		s.limits.AddressSpace>>20, s.limits.CPUSeconds, s.limits.OpenFiles, s.limits.Processes, s.limits.FileSize>>20))
}

// Namespaces reports whether commands run in their own PID and mount
// namespaces.
func (s *Sandbox) Namespaces() bool { return s.namespaces }

// WorkDir creates a fresh working directory owned by the sandbox user,
// and returns it with the function that removes it.
func (s *Sandbox) WorkDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "tether-stdio-*")
	if err != nil {
		return "", nil, fmt.Errorf("sandbox: create a working directory: %w", err)
	}
	remove := func() { os.RemoveAll(dir) }
	if s.switchUser {
		if err := os.Chown(dir, s.uid, s.gid); err != nil {
			remove()
			return "", nil, fmt.Errorf("sandbox: hand the working directory to the sandbox user: %w", err)
		}
	}
	return dir, remove, nil
}

// Command returns an unstarted command that runs path with args (args[0]
// excluded) and exactly env, in dir, inside the sandbox. path is resolved
// in tether's own PATH. The caller sets Stdin, Stdout and Stderr, starts
// it, and ends it with [Kill].
func (s *Sandbox) Command(path string, args, env []string, dir string) (*exec.Cmd, error) {
	resolved, err := exec.LookPath(path)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(resolved) {
		if resolved, err = filepath.Abs(resolved); err != nil {
			return nil, err
		}
	}
	return s.helper(spec{Path: resolved, Args: append([]string{path}, args...), Env: env, Dir: dir}), nil
}

// helper builds the command that re-executes this binary as the helper.
func (s *Sandbox) helper(sp spec) *exec.Cmd {
	sp.UID, sp.GID, sp.SwitchUser = s.uid, s.gid, s.switchUser
	sp.Namespaces = s.namespaces
	sp.Hide = s.hide
	sp.Limits = s.limits
	b, _ := json.Marshal(sp) // plain data: cannot fail
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{helperName}
	cmd.Env = []string{specEnv + "=" + string(b)}
	cmd.SysProcAttr = s.sysProcAttr()
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
	SwitchUser bool     `json:"switch_user"`
	Namespaces bool     `json:"namespaces"`
	Hide       []string `json:"hide,omitempty"`
	Limits     Limits   `json:"limits"`
}
