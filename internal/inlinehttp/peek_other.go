//go:build !unix

package inlinehttp

import "syscall"

// peek cannot look at a socket here: it is taken as open with nothing to
// read (a kept connection the server closed then fails the request written
// to it; a body's rest is read in the background).
func peek(syscall.RawConn) socketState { return socketEmpty }
