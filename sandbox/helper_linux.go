package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

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
// user switch; limits come before it too, as the unprivileged user could
// not raise them again anyway; no_new_privs and the parent-death signal
// come last because a credential change clears the latter.
func runHelper(raw string) error {
	var sp spec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return fmt.Errorf("bad spec: %w", err)
	}
	if sp.Namespaces {
		if err := isolateFilesystem(sp.Hide); err != nil {
			return err
		}
	}
	if err := setLimits(sp.Limits); err != nil {
		return err
	}
	if sp.SwitchUser {
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setgid(sp.GID); err != nil {
			return fmt.Errorf("setgid %d: %w", sp.GID, err)
		}
		if err := syscall.Setuid(sp.UID); err != nil {
			return fmt.Errorf("setuid %d: %w", sp.UID, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	if sp.Probe {
		return nil
	}
	if err := os.Chdir(sp.Dir); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	if err := syscall.Exec(sp.Path, sp.Args, sp.Env); err != nil {
		return fmt.Errorf("could not start %s: %w", sp.Path, err)
	}
	return nil
}

// isolateFilesystem gives this mount namespace a /proc of its own PID
// namespace (so no /proc/<pid> of tether or of another tenant's server is
// reachable) and covers the hidden files with an empty one.
func isolateFilesystem(hide []string) error {
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
	if s.userNS {
		// Root inside, tether's user outside: the helper needs the
		// namespace's capabilities to mount; the command keeps them only
		// within namespaces that hold nothing of tether's.
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: s.gid, Size: 1}}
	}
	return a
}

// Kill ends a command started from [Sandbox.Command] and everything it
// started. With a PID namespace, killing its init is enough: the kernel
// kills the rest. Without one, the process group goes too.
func Kill(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
