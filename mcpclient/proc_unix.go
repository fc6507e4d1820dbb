//go:build unix

package mcpclient

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the stdio server in a process group of its own, so
// killProcessGroup also reaches what it spawned (npx starts node, uvx
// starts python).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills the server and everything in its process group.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	// The group id is the leader's pid; a negative pid signals the group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
