package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// init turns this process into the helper when it was started as one.
// Init functions run on the main thread with the runtime's other threads
// idle, which is what the credential and prctl calls below need.
func init() {
	if len(os.Args) == 0 || os.Args[0] != helperName {
		return
	}
	raw, ok := os.LookupEnv(specEnv)
	if !ok {
		return
	}
	err := runHelper(raw)
	// runHelper returns only on failure (or after a probe).
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether sandbox: %v\n", err)
		os.Exit(126)
	}
	os.Exit(0)
}

// runHelper sets up the sandbox in this (already cloned) process and execs
// the command. Order matters: mounts need root, so they come before the
// user switch; no_new_privs and the parent-death signal come after it
// because a credential change clears the latter; the resource limits come
// last, just before the exec (see there).
func runHelper(raw string) error {
	var sp spec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return fmt.Errorf("bad spec: %w", err)
	}
	if sp.Namespaces {
		if err := isolateFilesystem(sp.Hide, sp.UID, sp.GID); err != nil {
			return err
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(sp.GID); err != nil {
		return fmt.Errorf("setgid %d: %w", sp.GID, err)
	}
	if err := syscall.Setuid(sp.UID); err != nil {
		return fmt.Errorf("setuid %d: %w", sp.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	// The user switch cleared the parent-death signal until just now: if
	// tether died in between, its end of the pipe on fd 3 has hung up.
	if gone, revents := tetherGone(); gone {
		return fmt.Errorf("tether exited (alive pipe revents %#x)", revents)
	}
	if err := closeInherited(); err != nil {
		return err
	}
	if sp.Probe {
		return setLimits(sp.Limits)
	}
	if err := os.Chdir(sp.Dir); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	// Everything execve needs is built before the limits are set: with
	// the address-space limit in force, this process (tether's binary,
	// whose runtime may hold far more address space than the command
	// needs, as under the race detector) could fail to allocate even
	// them. Between the limits and the exec nothing allocates.
	path, err := syscall.BytePtrFromString(sp.Path)
	if err != nil {
		return fmt.Errorf("could not start %s: %w", sp.Path, err)
	}
	argv, err := syscall.SlicePtrFromStrings(sp.Args)
	if err != nil {
		return fmt.Errorf("could not start %s: %w", sp.Path, err)
	}
	envv, err := syscall.SlicePtrFromStrings(sp.Env)
	if err != nil {
		return fmt.Errorf("could not start %s: %w", sp.Path, err)
	}
	// Limits only ever go down, so setting them as the unprivileged user
	// works as well as before the switch.
	if err := setLimits(sp.Limits); err != nil {
		return err
	}
	_, _, errno := syscall.RawSyscall(syscall.SYS_EXECVE,
		uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])))
	return fmt.Errorf("could not start %s: %w", sp.Path, errno)
}

// isolateFilesystem gives this mount namespace a /proc of its own PID
// namespace (so no /proc/<pid> of tether or of another tenant's server is
// reachable), empty scratch directories of its own (every sandboxed
// command runs as the same user, so a shared /tmp would let one tenant's
// server read or plant files in another's), the home directory inside
// them, and covers the hidden files with an empty one.
func isolateFilesystem(hide []string, uid, gid int) error {
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount a private /proc: %w", err)
	}
	for _, p := range hide {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("hide %s: %w", p, err)
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=000")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("hide %s: %w", p, err)
		}
	}
	for _, dir := range []string{"/tmp", "/var/tmp", "/dev/shm"} {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size="+scratchSize); err != nil {
			return fmt.Errorf("private %s: %w", dir, err)
		}
	}
	if err := os.Mkdir(sandboxHome, 0o700); err != nil {
		return fmt.Errorf("home directory: %w", err)
	}
	if err := os.Chown(sandboxHome, uid, gid); err != nil {
		return fmt.Errorf("home directory: %w", err)
	}
	return nil
}

// scratchSize bounds each private scratch directory; tmpfs pages are
// memory, taken only as they are written.
const scratchSize = "512m"

// aliveFD is where the helper finds the read end of the sandbox's alive
// pipe (exec.Cmd.ExtraFiles starts at 3).
const aliveFD = 3

// tetherGone reports whether the alive pipe has hung up: nobody writes to
// it, so any event on it means its only writer, tether, has exited.
//
// revents says what poll saw, for the error message: a hang-up (or data,
// which nobody sends) is tether gone; anything else reported here is a
// descriptor that is not the pipe, which must not pass for a live tether
// either.
func tetherGone() (bool, int16) {
	fds := []unix.PollFd{{Fd: aliveFD, Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0, fds[0].Revents
}

// closeInherited marks every descriptor above stderr close-on-exec: Go
// only sets that flag on descriptors it opened itself, so one that tether
// inherited from whoever started it would otherwise reach the command.
func closeInherited() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11: walk the descriptors one by one.
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close inherited descriptors: %v (%v)", err, rerr)
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
	return nil
}

func setLimits(l Limits) error {
	for _, r := range []struct {
		name     string
		resource int
		value    uint64
	}{
		{"address space", unix.RLIMIT_AS, l.AddressSpace},
		{"cpu time", unix.RLIMIT_CPU, l.CPUSeconds},
		{"open files", unix.RLIMIT_NOFILE, l.OpenFiles},
		{"processes", unix.RLIMIT_NPROC, l.Processes},
		{"file size", unix.RLIMIT_FSIZE, l.FileSize},
	} {
		lim := unix.Rlimit{Cur: r.value, Max: r.value}
		if err := unix.Setrlimit(r.resource, &lim); err != nil {
			return fmt.Errorf("limit %s: %w", r.name, err)
		}
	}
	return nil
}

func (s *Sandbox) sysProcAttr() *syscall.SysProcAttr {
	// Setpgid: without a PID namespace, the process group is what Kill
	// reaches. Pdeathsig: if tether dies, so does the helper (and with a
	// PID namespace, everything in it); the helper sets it again after the
	// user switch, which clears it.
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if !s.namespaces {
		return a
	}
	a.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC
	return a
}

// kill signals the process group (without a PID namespace, what the
// process started is in it) and the process. The caller makes sure the
// process has not been reaped.
func (p *Process) kill() {
	if p.Cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	_ = p.Cmd.Process.Kill()
}

// waitExited waits until pid has exited, without reaping it.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}
