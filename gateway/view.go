package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
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
	// keepUntil (unix nanoseconds) keeps a view with no session or
	// request alive for the next stateless request (stateless.go).
	keepUntil atomic.Int64
	stale     atomic.Bool  // the last background sync failed
	bytes     atomic.Int64 // estimated memory, as of the last sync

	// Under Handler.mu (sessions.go):
	refs     int                    // requests using the view
	opening  int                    // of which POSTs that may open a session
	sessions map[*agentSession]bool // its live agent sessions
	charged  int64                  // bytes charged to the tenant's budget

	syncMu sync.Mutex        // one sync at a time
	sigs   map[string]string // slug → signature of the registered tool; under syncMu

	namesMu sync.RWMutex
	names   map[string]bool // registered slugs, for the tools/call middleware
	// paramHeaders are the registered slugs whose input schema marks
	// arguments with x-mcp-header (their calls take the SDK's path).
	paramHeaders map[string]bool

	// listing is the registered tools as tools/list returns them, encoded
	// once per sync that changed them (fastcall.go).
	listing atomic.Pointer[listing]

	pendMu  sync.Mutex
	dirty   bool // a sync was requested since the running one started
	running bool // a background sync loop is running
	// wanted counts the syncs requested, done the last one a finished
	// sync covered; settled is closed (and replaced) each time done
	// moves. A request waits for done to reach the wanted it found
	// (settle), so it sees every change announced before it arrived.
	wanted, done uint64
	settled      chan struct{}
}

// view returns the ready view of (tenantID, persona), creating and syncing
// it on first use, for one request: the caller calls releaseView with the
// same opening (a POST that may open a session) when the request is over.
func (h *Handler) view(ctx context.Context, tenantID, persona string, opening bool) (*view, error) {
	h.mu.Lock()
	if h.life.Closed() {
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
	}
	v.refs++
	if opening {
		v.opening++
	}
	h.mu.Unlock()
	v.lastUsed.Store(time.Now().UnixNano())

	if created {
		h.firstSync(ctx, v)
	}
	select {
	case <-v.ready:
	case <-ctx.Done():
		h.releaseView(v, opening)
		return nil, ctx.Err()
	}
	if v.err != nil {
		h.releaseView(v, opening)
		return nil, v.err
	}
	v.settle(ctx)
	if v.stale.Load() {
		h.mu.Lock()
		if !h.life.Closed() {
			h.requestSyncLocked(v)
		}
		h.mu.Unlock()
	}
	return v, nil
}

// firstSync fills a new view and charges it to its tenant; a view that
// fails either is discarded, and every request waiting for it gets the
// error.
func (h *Handler) firstSync(ctx context.Context, v *view) {
	// The first sync runs apart from this request, so that a client
	// hanging up does not fail the others waiting for the view.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	v.err = v.sync(sctx)
	cancel()
	if v.err == nil {
		v.err = h.admit(v)
	}
	if v.err != nil {
		h.mu.Lock()
		h.removeLocked(v)
		h.mu.Unlock()
	}
	close(v.ready)
}

func (h *Handler) newView(tenantID, persona string) *view {
	v := &view{
		h: h, tenantID: tenantID, persona: persona,
		ready:    make(chan struct{}),
		settled:  make(chan struct{}),
		sigs:     map[string]string{},
		names:    map[string]bool{},
		sessions: map[*agentSession]bool{},

		paramHeaders: map[string]bool{},
	}
	tag := h.tag(tenantID, persona)
	v.server = mcp.NewServer(&h.impl, &mcp.ServerOptions{
		// Tools with list-changed notifications, and the tasks extension
		// (tasks.go; a 2026-07-28 agent sees it in server/discover), and
		// nothing else: no logging, prompts or resources that tether
		// could not honour.
		Capabilities: &mcp.ServerCapabilities{
			Tools:      &mcp.ToolCapabilities{ListChanged: true},
			Extensions: map[string]any{registry.TasksExtension: map[string]any{}},
		},
		GetSessionID: func() string { return tag + "-" + h.instance + rand.Text() },
		SetCacheable: setCacheable,
	})
	v.server.AddReceivingMiddleware(h.traceMessages(v), unserved, v.unknownTools)
	return v
}

// removeLocked forgets a view and what it cost its tenant.
func (h *Handler) removeLocked(v *view) {
	if h.views[v.tenantID][v.persona] != v {
		return
	}
	delete(h.views[v.tenantID], v.persona)
	if len(h.views[v.tenantID]) == 0 {
		delete(h.views, v.tenantID)
	}
	if h.viewBytes[v.tenantID] -= v.charged; h.viewBytes[v.tenantID] <= 0 {
		delete(h.viewBytes, v.tenantID)
	}
	v.charged = 0
}

// requestSyncLocked schedules a background sync of v; requests arriving
// while one runs are folded into one more run.
func (h *Handler) requestSyncLocked(v *view) {
	v.pendMu.Lock()
	defer v.pendMu.Unlock()
	v.dirty = true
	v.wanted++
	if v.running {
		return
	}
	v.running = h.life.Go(v.syncLoop)
}

// settle waits until the syncs requested before it was called have run
// (or ctx ends, or syncTimeout passes): a change acknowledged to its
// author (a toggle's 200) is then what the next request sees, on a view
// kept between requests as well as a new one.
func (v *view) settle(ctx context.Context) {
	v.pendMu.Lock()
	target := v.wanted
	if v.done >= target {
		v.pendMu.Unlock()
		return
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	for v.done < target {
		ch := v.settled
		v.pendMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
		v.pendMu.Lock()
	}
	v.pendMu.Unlock()
}

func (v *view) syncLoop(life context.Context) {
	for {
		v.pendMu.Lock()
		if !v.dirty || life.Err() != nil {
			v.running = false
			v.pendMu.Unlock()
			return
		}
		v.dirty = false
		covers := v.wanted
		v.pendMu.Unlock()
		ctx, cancel := context.WithTimeout(life, syncTimeout)
		err := v.sync(ctx)
		cancel()
		v.pendMu.Lock()
		v.done = covers
		close(v.settled)
		v.settled = make(chan struct{})
		v.pendMu.Unlock()
		v.stale.Store(err != nil)
		v.h.mu.Lock()
		v.h.chargeLocked(v) // a re-sync may grow the view
		v.h.mu.Unlock()
		if err != nil && life.Err() == nil {
			v.h.log.WarnContext(life, "gateway: re-sync tools", "tenant_id", v.tenantID, "persona", v.persona, "error", err.Error())
		}
	}
}

// sync makes the view's registered tools equal the registry's AgentTools.
// Only tools that changed are added or removed, so the SDK's
// notifications/tools/list_changed go out only for a real change (a
// change announced may not change what a view shows: another persona's
// tool, a setting agents do not see).
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
			v.h.log.WarnContext(ctx, "gateway: tool not offered", "tenant_id", v.tenantID, "slug", at.Slug, "error", err.Error())
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
			delete(v.paramHeaders, slug)
		}
		v.namesMu.Unlock()
		v.server.RemoveTools(gone...)
	}
	for slug, t := range want {
		if v.sigs[slug] == sigs[slug] {
			continue
		}
		if err := v.addTool(t); err != nil {
			v.h.log.WarnContext(ctx, "gateway: tool not offered", "tenant_id", v.tenantID, "slug", slug, "error", err.Error())
			delete(sigs, slug)
			continue
		}
		v.namesMu.Lock()
		v.names[slug] = true
		v.paramHeaders[slug] = marksHeaders(t.InputSchema)
		v.namesMu.Unlock()
	}
	changed := len(gone) > 0 || len(sigs) != len(v.sigs)
	for slug, sig := range sigs {
		changed = changed || v.sigs[slug] != sig
	}
	v.sigs = sigs
	if changed || v.listing.Load() == nil {
		v.listing.Store(newListing(sigs))
	}
	size := int64(viewOverheadBytes)
	for _, sig := range sigs {
		size += toolOverheadBytes + 2*int64(len(sig)) // the SDK's copy, and the listing's
	}
	v.bytes.Store(size)
	return nil
}

// marksHeaders reports whether a JSON schema marks any property, at any
// depth of properties, with x-mcp-header (SEP-2243).
func marksHeaders(schema any) bool {
	m, _ := schema.(map[string]any)
	props, _ := m["properties"].(map[string]any)
	for _, p := range props {
		prop, _ := p.(map[string]any)
		if _, ok := prop["x-mcp-header"]; ok || marksHeaders(prop) {
			return true
		}
	}
	return false
}

// listPageSize is the go-sdk server's page of tools/list (its default);
// a longer list is paged by the SDK, with its cursors.
const listPageSize = 1000

// listing is a view's tools/list answer, encoded.
type listing struct {
	tools []byte // the JSON array, in the SDK's order (by name)
	count int
}

// newListing encodes the tools whose signatures (their JSON) are sigs.
func newListing(sigs map[string]string) *listing {
	slugs := make([]string, 0, len(sigs))
	n := 2
	for slug, sig := range sigs {
		slugs = append(slugs, slug)
		n += len(sig) + 1
	}
	slices.Sort(slugs)
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, slug := range slugs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, sigs[slug]...)
	}
	return &listing{tools: append(b, ']'), count: len(slugs)}
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
		return v.h.call(ctx, v.tenantID, v.persona, slug, req)
	})
	return nil
}

// unknownTools answers tools/call for a name the view does not (yet, or
// any more) list by asking the registry anyway: the registry has the last
// word, and its refusal becomes an isError result ("tool unavailable"), as
// every other failure of a call through /mcp does, instead of a protocol
// error.
// servedMethods are the requests tether's /mcp answers. go-sdk's server
// answers resources/list, prompts/list and logging/setLevel with empty
// successes even when it declares none of them; an agent that asks is
// told the truth instead: "method not found".
var servedMethods = map[string]bool{
	"initialize": true, "ping": true, "server/discover": true,
	"tools/list": true, "tools/call": true, "subscriptions/listen": true,
}

// unserved refuses every request tether does not serve (notifications
// pass: they need no answer).
func unserved(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if !servedMethods[method] && !strings.HasPrefix(method, "notifications/") || method == "subscriptions/listen" && !sessionless(req) {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found: " + method}
		}
		res, err := next(ctx, method, req)
		if init, ok := res.(*mcp.InitializeResult); ok && init.Capabilities != nil && init.Capabilities.Extensions != nil {
			// Sessions (initialize) are of older revisions, over which
			// tether serves no extension (tasks.go).
			out := *init
			caps := *init.Capabilities
			caps.Extensions = nil
			out.Capabilities = &caps
			res = &out
		}
		return res, err
	}
}

// sessionless reports a request of the 2026-07-28 revision or later. go-sdk
// v1.8.0 serves subscriptions/listen on a session of an older one too,
// where the revision has no such method: a stream parked for as long as
// the agent likes, as many as it opens, outside the cap on listen streams
// (listen.go).
func sessionless(req mcp.Request) bool {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	if ss == nil {
		return false
	}
	p := ss.InitializeParams()
	return p != nil && p.ProtocolVersion >= statelessVersion
}

func (v *view) unknownTools(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if r, ok := req.(*mcp.CallToolRequest); ok && method == "tools/call" && r.Params != nil {
			v.namesMu.RLock()
			known := v.names[r.Params.Name]
			v.namesMu.RUnlock()
			if !known {
				return v.h.call(ctx, v.tenantID, v.persona, r.Params.Name, r)
			}
		}
		return next(ctx, method, req)
	}
}

// mcpTool is the tool as agents see it: named by its slug, with the
// definition the registry serves (the approved one, with the operator's
// overrides) and its advertised input schema (pinned fields removed,
// defaulted ones optional).
func mcpTool(at registry.AgentTool) (*mcp.Tool, error) {
	served := at.View
	if served == nil {
		return nil, fmt.Errorf("no approved definition")
	}
	in := served.AdvertisedSchema()
	switch typ := in["type"]; typ {
	case "object":
	case nil:
		in["type"] = "object" // some servers leave it out
	default:
		return nil, fmt.Errorf("input schema has type %v, not object", typ)
	}
	t := &mcp.Tool{
		Name:        at.Slug,
		Title:       served.Title,
		Description: served.Description,
		InputSchema: in,
	}
	// An output schema binds the results; MCP allows only objects there.
	if out := served.OutputSchema; out != nil && out["type"] == "object" {
		t.OutputSchema = out
	}
	if len(served.Annotations) > 0 {
		// Passed through as the server listed them (the approved ones).
		b, err := json.Marshal(served.Annotations)
		if err == nil {
			var a mcp.ToolAnnotations
			if json.Unmarshal(b, &a) == nil {
				t.Annotations = &a
			}
		}
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
