package gateway

import (
	"context"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// statelessVersion is the first MCP revision without sessions (SEP-2567):
// each request carries its protocol version (the Mcp-Protocol-Version
// header and _meta) and client capabilities, and any replica may answer
// it.
const statelessVersion = "2026-07-28"

// Cache hints on /mcp's list results (SEP-2549). A tenant's tool list
// depends on its API key, so it is private; an agent may reuse it for
// ToolsTTL without asking again. list_changed (on a subscriptions/listen
// stream) still tells it sooner when something changes.
const (
	ToolsTTL    = 30 * time.Second
	DiscoverTTL = 5 * time.Minute
)

// statelessIdle is how long a view that served stateless requests is kept
// after its last one: they hold it only for one request each, and
// building a view (every tool's schema) for each would cost more than the
// call.
const statelessIdle = 2 * time.Minute

// isStateless reports whether r speaks a sessionless revision. Such
// requests must carry the version header (the SDK refuses them otherwise,
// as the revision requires), so the header alone decides.
func isStateless(r *http.Request) bool {
	return r.Header.Get("Mcp-Protocol-Version") >= statelessVersion
}

// newStatelessHandler serves the sessionless revisions: the SDK builds a
// temporary session for each request from what the request carries, and
// tenant and persona come from the request's credentials (ServeHTTP), as
// on every request.
func newStatelessHandler() *mcp.StreamableHTTPHandler {
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		if v, ok := r.Context().Value(viewContextKey{}).(*view); ok {
			return v.server
		}
		return nil
	}, &mcp.StreamableHTTPOptions{
		Stateless: true,
		// As for the stateful handler (New): every request is
		// authenticated, and tether runs behind proxies.
		DisableLocalhostProtection: true,
		JSONResponse:               true,
	})
}

// serveStateless serves one sessionless request on the request's view.
func (h *Handler) serveStateless(w http.ResponseWriter, r *http.Request, tenantID, persona string) {
	if isListen(r) {
		key := h.countKey(r, tenantID)
		if !h.holdListen(key) {
			writeError(w, http.StatusTooManyRequests, "limit_exceeded",
				"this API key holds the most subscriptions/listen streams it may; end one or retry later")
			return
		}
		defer h.releaseListen(key)
		var stop func()
		r, stop = h.watchCredentials(r)
		defer stop()
	}
	v, ok := h.acquire(w, r, tenantID, persona, false)
	if !ok {
		return
	}
	v.keepUntil.Store(time.Now().Add(statelessIdle).UnixNano())
	defer h.releaseView(v, false)
	h.stateless.ServeHTTP(w, h.withView(r, v))
}

// setCacheable fills the cache hints of the view's list results.
func setCacheable(_ context.Context, req mcp.Request, c *mcp.Cacheable) {
	c.CacheScope = "private"
	switch req.(type) {
	case *mcp.ListToolsRequest:
		c.TTLMs = int(ToolsTTL / time.Millisecond)
	default:
		c.TTLMs = int(DiscoverTTL / time.Millisecond)
	}
}

// sweepIdleViews drops, every interval, the views kept for stateless
// requests whose time is up.
func (h *Handler) sweepIdleViews(life context.Context) {
	t := time.NewTicker(statelessIdle / 4)
	defer t.Stop()
	for {
		select {
		case <-life.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		for _, byPersona := range h.views {
			for _, v := range byPersona {
				h.dropIfUnusedLocked(v)
			}
		}
		h.mu.Unlock()
	}
}
