package gateway

import (
	"context"
	"net/http"
	"time"
)

// Long-lived requests: a 2026-07-28 subscriptions/listen stream, and a
// session's standalone GET stream (older revisions). Each holds a request
// open, a goroutine and its view for as long as the agent likes, and they
// carry the tenant's notifications, so:
//
//   - a key holds at most MaxSessionsPerKey listen streams (counted apart
//     from its sessions, which have their own GET streams under the same
//     cap); past it the stream is refused with 429;
//   - the credentials of an open stream are asked again every
//     ReauthorizeEvery (Options.Reauthorize), and a stream whose key was
//     revoked or expired meanwhile is ended: it hears nothing of the
//     tenant from then on. Other requests are authenticated each time.
//
// A listen stream is told by its Mcp-Method header: in this revision the
// header is required and must match the body (the SDK refuses the request
// otherwise), so a listen cannot pass as another method, nor another
// method hold a listen's place for longer than it takes to refuse it.

// DefaultReauthorizeEvery is how often an open stream's credentials are
// asked again, by default.
const DefaultReauthorizeEvery = 30 * time.Second

// isListen reports a subscriptions/listen POST.
func isListen(r *http.Request) bool {
	return r.Method == http.MethodPost && r.Header.Get("Mcp-Method") == "subscriptions/listen"
}

// holdListen takes one of key's listen places, or reports false at the
// cap; the caller gives it back with releaseListen.
func (h *Handler) holdListen(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxSessions > 0 && h.listens[key] >= h.maxSessions {
		return false
	}
	h.listens[key]++
	return true
}

func (h *Handler) releaseListen(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listens[key]--; h.listens[key] <= 0 {
		delete(h.listens, key)
	}
}

// countKey is the key that sessions and listen streams are counted by.
func (h *Handler) countKey(r *http.Request, tenantID string) string {
	if h.keyOf != nil {
		return h.keyOf(r)
	}
	return tenantID
}

// watchCredentials returns r with a context that ends when r's
// credentials no longer hold, and the function that stops watching
// (call it when the request is over).
func (h *Handler) watchCredentials(r *http.Request) (*http.Request, func()) {
	if h.reauthorize == nil {
		return r, func() {}
	}
	ctx, cancel := context.WithCancel(r.Context())
	check := r.Clone(context.WithoutCancel(r.Context())) // never ended by cancel
	go func() {
		t := time.NewTicker(h.reauthorizeEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !h.reauthorize(check) {
				h.log.InfoContext(ctx, "gateway: credentials no longer hold; stream ended")
				cancel()
				return
			}
		}
	}()
	return r.WithContext(ctx), cancel
}
