//go:build !linux

package sandbox

import (
	"errors"
	"syscall"
)

// runHelper is never reached: New refuses to build a sandbox here.
func runHelper(string) error { return errors.New("the stdio sandbox needs Linux") }

func (s *Sandbox) sysProcAttr() *syscall.SysProcAttr { return nil }

func (p *Process) kill() {
	if p.Cmd.Process != nil {
		_ = p.Cmd.Process.Kill()
	}
}

func waitExited(int) {}
