//go:build unix

package inlinehttp

import "syscall"

// peek looks at a socket without blocking or consuming anything.
func peek(raw syscall.RawConn) socketState {
	state := socketClosed
	var buf [1]byte
	err := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			state = socketEmpty
		case err == nil && n > 0:
			state = socketReadable
		}
		return true // answered: do not wait for the socket to become readable
	})
	if err != nil {
		return socketClosed
	}
	return state
}
