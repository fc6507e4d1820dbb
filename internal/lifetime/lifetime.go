// Package lifetime is the one way tether's long-lived components run
// background work: a context that ends when the component closes, and a
// count of the goroutines that Close waits for. Without it, each component
// hand-rolls a stored context, a WaitGroup and a closed flag, and each gets
// the race between starting work and closing slightly differently.
package lifetime

import (
	"context"
	"sync"
)

// Group owns background goroutines. The zero value is not usable; create
// one with [New].
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed against wg.Add racing Close
	closed bool
	wg     sync.WaitGroup
}

// New returns an open Group.
func New() *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{ctx: ctx, cancel: cancel}
}

// Context ends when Close is called. Work that others share (a handshake,
// a background probe) runs on it rather than on one caller's context.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs f in a goroutine that Close waits for, and reports whether it
// did: after Close, f is not run.
func (g *Group) Go(f func(ctx context.Context)) bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
	return true
}

// Closed reports whether Close has been called.
func (g *Group) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Stop is the first half of Close: from now on Go refuses work and Closed
// reports true, and the context is cancelled, but Stop does not wait. A
// component whose goroutines wait on things it must end itself (sessions,
// streams) calls Stop under its own lock, so that no new work slips in,
// ends those things, then calls Close to wait for the goroutines.
func (g *Group) Stop() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
}

// Close cancels the context and waits for every goroutine started by Go.
// It is safe to call more than once, after Stop, and from several
// goroutines; every call returns once the work has ended.
func (g *Group) Close() {
	g.Stop()
	g.wg.Wait()
}
