package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// errClosed: the handler is shut down.
var errClosed = errors.New("gateway: closed")

// view is one (tenant, persona) MCP server: its registered tools mirror the
// registry's AgentTools for that pair. Agents of the view share it, and its
// sessions only ever see its tools.
type view struct {
	h        *Handler
	tenantID string
	persona  string
	server   *mcp.Server

	ready chan struct{} // closed after the first sync
	err   error         // of the first sync; the view is then discarded

	lastUsed atomic.Int64 // unix nanoseconds
	stale    atomic.Bool  // the last background sync failed

	syncMu sync.Mutex        // one sync at a time
	sigs   map[string]string // slug → signature of the registered tool; under syncMu

	namesMu sync.RWMutex
	names   map[string]bool // registered slugs, for the tools/call middleware

	pendMu  sync.Mutex
	dirty   bool // a sync was requested since the running one started
	running bool // a background sync loop is running
}

// view returns the ready view of (tenantID, persona), creating and syncing
// it on first use.
func (h *Handler) view(ctx context.Context, tenantID, persona string) (*view, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errClosed
	}
	v := h.views[tenantID][persona]
	created := v == nil
	if created {
		v = h.newView(tenantID, persona)
		if h.views[tenantID] == nil {
			h.views[tenantID] = map[string]*view{}
		}
		h.views[tenantID][persona] = v
		h.nviews++
		h.pruneLocked()
	}
	h.mu.Unlock()
	v.lastUsed.Store(time.Now().UnixNano())

	if created {
		// The first sync runs apart from this request, so that a client
		// hanging up does not fail the others waiting for the view.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
		v.err = v.sync(sctx)
		cancel()
		if v.err != nil {
			h.mu.Lock()
			h.removeLocked(v)
			h.mu.Unlock()
		}
		close(v.ready)
	}
	select {
	case <-v.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if v.err != nil {
		return nil, v.err
	}
	if v.stale.Load() {
		h.mu.Lock()
		if !h.closed {
			h.requestSyncLocked(v)
		}
		h.mu.Unlock()
	}
	return v, nil
}

func (h *Handler) newView(tenantID, persona string) *view {
	v := &view{
		h: h, tenantID: tenantID, persona: persona,
		ready: make(chan struct{}),
		sigs:  map[string]string{},
		names: map[string]bool{},
	}
	tag := h.tag(tenantID, persona)
	v.server = mcp.NewServer(&h.impl, &mcp.ServerOptions{
		// Tools with list-changed notifications, and nothing else: no
		// logging, prompts or resources that tether could not honour.
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
		GetSessionID: func() string { return tag + "-" + rand.Text() },
	})
	v.server.AddReceivingMiddleware(v.unknownTools)
	return v
}

// removeLocked forgets a view.
func (h *Handler) removeLocked(v *view) {
	if h.views[v.tenantID][v.persona] != v {
		return
	}
	delete(h.views[v.tenantID], v.persona)
	if len(h.views[v.tenantID]) == 0 {
		delete(h.views, v.tenantID)
	}
	h.nviews--
}

// pruneLocked drops views beyond the bound that no session uses, least
// recently used first. A view with sessions stays: they would stop hearing
// about changes.
func (h *Handler) pruneLocked() {
	if h.nviews <= h.maxViews {
		return
	}
	var idle []*view
	for _, byPersona := range h.views {
		for _, v := range byPersona {
			select {
			case <-v.ready:
			default:
				continue // being created
			}
			// A view just handed to a request may be about to get its
			// first session.
			recent := time.Since(time.Unix(0, v.lastUsed.Load())) < time.Minute
			if !recent && !hasSessions(v.server) {
				idle = append(idle, v)
			}
		}
	}
	// Oldest first.
	sortViews(idle)
	for _, v := range idle {
		if h.nviews <= h.maxViews {
			return
		}
		h.removeLocked(v)
	}
}

func hasSessions(s *mcp.Server) bool {
	for range s.Sessions() {
		return true
	}
	return false
}

func sortViews(vs []*view) {
	slices.SortFunc(vs, func(a, b *view) int { return cmp.Compare(a.lastUsed.Load(), b.lastUsed.Load()) })
}

// requestSyncLocked schedules a background sync of v; requests arriving
// while one runs are folded into one more run.
func (h *Handler) requestSyncLocked(v *view) {
	v.pendMu.Lock()
	defer v.pendMu.Unlock()
	v.dirty = true
	if v.running {
		return
	}
	v.running = true
	h.bg.Add(1)
	go v.syncLoop()
}

func (v *view) syncLoop() {
	defer v.h.bg.Done()
	for {
		v.pendMu.Lock()
		if !v.dirty || v.h.life.Err() != nil {
			v.running = false
			v.pendMu.Unlock()
			return
		}
		v.dirty = false
		v.pendMu.Unlock()
		ctx, cancel := context.WithTimeout(v.h.life, syncTimeout)
		err := v.sync(ctx)
		cancel()
		v.stale.Store(err != nil)
		if err != nil && v.h.life.Err() == nil {
			v.h.log.Warn("gateway: re-sync tools", "tenant_id", v.tenantID, "persona", v.persona, "error", err.Error())
		}
	}
}

// sync makes the view's registered tools equal the registry's AgentTools.
// Only tools that changed are added or removed, so the SDK's
// notifications/tools/list_changed go out only for a real change (the
// registry announces a change after every probe, changed or not).
func (v *view) sync(ctx context.Context) error {
	v.syncMu.Lock()
	defer v.syncMu.Unlock()
	tools, err := v.h.reg.AgentTools(ctx, v.tenantID, v.persona)
	if err != nil {
		return fmt.Errorf("list agent tools: %w", err)
	}
	want := make(map[string]*mcp.Tool, len(tools))
	sigs := make(map[string]string, len(tools))
	for _, at := range tools {
		t, err := mcpTool(at)
		if err != nil {
			v.h.log.Warn("gateway: tool not offered", "tenant_id", v.tenantID, "slug", at.Slug, "error", err.Error())
			continue
		}
		want[at.Slug] = t
		sigs[at.Slug] = signature(t)
	}
	var gone []string
	for slug := range v.sigs {
		if _, ok := want[slug]; !ok {
			gone = append(gone, slug)
		}
	}
	if len(gone) > 0 {
		v.namesMu.Lock()
		for _, slug := range gone {
			delete(v.names, slug)
		}
		v.namesMu.Unlock()
		v.server.RemoveTools(gone...)
	}
	for slug, t := range want {
		if v.sigs[slug] == sigs[slug] {
			continue
		}
		if err := v.addTool(t); err != nil {
			v.h.log.Warn("gateway: tool not offered", "tenant_id", v.tenantID, "slug", slug, "error", err.Error())
			delete(sigs, slug)
			continue
		}
		v.namesMu.Lock()
		v.names[slug] = true
		v.namesMu.Unlock()
	}
	v.sigs = sigs
	return nil
}

// addTool registers t. The SDK panics on a tool it finds malformed (an
// upstream's odd schema): that tool is skipped, not the whole view.
func (v *view) addTool(t *mcp.Tool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rejected by the MCP SDK: %v", r)
		}
	}()
	slug := t.Name
	v.server.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return v.h.call(ctx, v, slug, req.Params.Arguments), nil
	})
	return nil
}

// unknownTools answers tools/call for a name the view does not (yet, or
// any more) list by asking the registry anyway: the registry has the last
// word, and its refusal becomes an isError result ("tool unavailable"), as
// every other failure of a call through /mcp does, instead of a protocol
// error.
func (v *view) unknownTools(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if r, ok := req.(*mcp.CallToolRequest); ok && method == "tools/call" && r.Params != nil {
			v.namesMu.RLock()
			known := v.names[r.Params.Name]
			v.namesMu.RUnlock()
			if !known {
				return v.h.call(ctx, v, r.Params.Name, r.Params.Arguments), nil
			}
		}
		return next(ctx, method, req)
	}
}

// mcpTool is the tool as agents see it: named by its slug, with the
// upstream's description and the advertised input schema (pinned fields
// removed, defaulted ones optional).
func mcpTool(at registry.AgentTool) (*mcp.Tool, error) {
	in := at.Tool.AdvertisedSchema()
	switch typ := in["type"]; typ {
	case "object":
	case nil:
		in["type"] = "object" // some servers leave it out
	default:
		return nil, fmt.Errorf("input schema has type %v, not object", typ)
	}
	t := &mcp.Tool{
		Name:        at.Slug,
		Title:       at.Tool.Title,
		Description: at.Tool.Description,
		InputSchema: in,
	}
	// An output schema binds the results; MCP allows only objects there.
	if out := at.Tool.OutputSchema; out != nil && out["type"] == "object" {
		t.OutputSchema = out
	}
	return t, nil
}

// signature identifies what an agent sees of a tool.
func signature(t *mcp.Tool) string {
	b, err := json.Marshal(t)
	if err != nil {
		return ""
	}
	return string(b)
}
