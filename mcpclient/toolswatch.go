package mcpclient

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"runtime/debug"
	"time"

	"github.com/tether-dev/tether/internal/panics"
	"github.com/tether-dev/tether/registry"
)

// toolsChanged hears an upstream's notifications/tools/list_changed on a
// warm session. It runs on the SDK's receiving goroutine, so it only
// schedules a check: notifications arriving meanwhile join it.
func (p *Pool) toolsChanged(e *entry) {
	if p.onTools.Load() == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.retired || e.checkPending {
		return
	}
	e.checkPending = p.life.Go(func(ctx context.Context) { p.checkTools(ctx, e) })
}

// checkTools waits out the debounce, lists the tools over the warm session
// (no new handshake) and asks for a re-sync only if the list differs from
// the one seen last on this session. Some servers announce a change after
// every initialize, including the re-sync's own probe; comparing the lists
// is what stops that from looping.
func (p *Pool) checkTools(ctx context.Context, e *entry) {
	// What this reads is a tenant's server's tool list, and the re-sync it
	// asks for merges it into the registry: a bug in either, tripped by
	// what that server sends, must cost this check, not the process (this
	// goroutine has nothing above it to recover). The log gets the stack,
	// and a runtime error's fixed text, never a value the panic carried: it
	// may hold what the server sent.
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("tool-list check panicked", "connection_id", e.connID, "panic", panics.Text(r), "stack", string(debug.Stack()))
		}
	}()
	t := time.NewTimer(p.debounce)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return
	}
	p.mu.Lock()
	e.checkPending = false // a notification from now on needs another look
	retired := e.retired
	p.mu.Unlock()
	if retired {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, connTimeout(e.conn))
	defer cancel()
	tools, err := e.sess.ListTools(lctx)
	if err != nil {
		p.log.Debug("list tools after tools/list_changed", "connection_id", e.connID, "error", err.Error())
		return
	}
	fp := toolsFingerprint(tools)
	p.mu.Lock()
	changed := fp != e.toolsFP
	e.toolsFP = fp
	p.mu.Unlock()
	if changed {
		p.log.Debug("upstream tool list changed", "connection_id", e.connID, "tools", len(tools))
		(*p.onTools.Load())(ctx, e.tenantID, e.connID, tools)
	}
}

// toolsFingerprint hashes a tool list as the server gave it.
func toolsFingerprint(tools []registry.ToolSpec) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(tools)
	return string(h.Sum(nil))
}
