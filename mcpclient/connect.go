package mcpclient

import (
	"context"

	"github.com/tether-dev/tether/registry"
)

// ConnectOptions configures a session opened with [Client.ConnectWith].
type ConnectOptions struct {
	// OnToolsChanged, if set, is called when the server sends
	// notifications/tools/list_changed. It runs on the session's receiving
	// goroutine: it must return quickly and must not use the session (hand
	// the work to another goroutine). Servers may send it often, even right
	// after every initialize, so callers should debounce.
	OnToolsChanged func()
}

// ConnectWith is [Client.Connect] with options: a kept session that can
// also report server notifications.
func (c *Client) ConnectWith(ctx context.Context, conn *registry.Connection, opts ConnectOptions) (*Session, error) {
	return c.connect(ctx, conn, connectOptions{standaloneSSE: true, onToolsChanged: opts.OnToolsChanged})
}

// Wait blocks until the session's connection ends: closed by [Session.Close],
// dropped by the server, or its process gone. A pool of kept sessions uses
// it to forget dead ones before a call finds out the hard way.
func (s *Session) Wait() error {
	return s.cs.Wait()
}

// Upstream returns err such that it wraps a registry.ErrUpstream* sentinel
// (registry.ErrUpstreamConnection when it has none), keeping its message.
func Upstream(err error) error { return upstream(err) }
