//go:build !linux

package sandbox

import (
	"errors"
	"os/exec"
	"syscall"
)

// runHelper is never reached: New refuses to build a sandbox here.
func runHelper(string) error { return errors.New("the stdio sandbox needs Linux") }

func (s *Sandbox) sysProcAttr() *syscall.SysProcAttr { return nil }

// Kill ends a command started from [Sandbox.Command].
func Kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
