package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// What one API key or tenant can make the handler hold. Every agent session
// costs memory (the SDK's session and its streams), and so does every view:
// an MCP server with the tools of one (tenant, persona). Without bounds, one
// key opening sessions with made-up personas grows tether without limit.
//
//   - Sessions are counted per API key: at the cap, the key's session idle
//     longest is closed to make room (idle: no POST being served, as the
//     SDK's own session timeout counts it); when every one is busy, the new
//     session is refused.
//   - A view lives while it has sessions or a request uses it; the last
//     session's end drops it.
//   - Views are charged to their tenant by an estimate of their memory; past
//     the tenant's budget, views whose sessions are all idle are closed,
//     longest unused first, and when that is not enough the new view is
//     refused.

// Defaults for [Options].
const (
	DefaultMaxSessionsPerKey     = 256
	DefaultMaxViewBytesPerTenant = 64 << 20
)

// The estimate of a view's memory: the SDK server and the view's maps, and
// per registered tool the SDK's copy with its resolved schema (about 1.6 KB
// measured for a small schema) plus the tool's JSON, which grows with it.
const (
	viewOverheadBytes = 16 << 10
	toolOverheadBytes = 2 << 10
)

// errLimit marks refusals of the bounds above (429 to the agent).
var errLimit = errors.New("gateway: limit reached")

// agentSession is what the handler knows of one agent session.
type agentSession struct {
	id   string
	key  string // the API key that opened it
	view *view
	ss   *mcp.ServerSession

	// Under Handler.mu:
	busy      int       // POSTs of the session being served
	idleSince time.Time // when the last POST ended, or the session began
}

// limitError is a refusal the agent can act on.
func limitError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errLimit}, args...)...)
}

// reservation holds a place for a session a request may open, so that
// concurrent opens cannot overshoot the cap. The session takes it over
// when tracked; release gives back one that was not used.
type reservation struct {
	key  string
	used bool // under Handler.mu
}

// reserveSession holds a place for a session that key may be about to
// open (a POST without a session id). At the cap with no session idle, the
// request is refused; with one, the idle one goes when the new session is
// tracked (the POST may open none: server/discover does not).
func (h *Handler) reserveSession(key string) (*reservation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.maxSessions > 0 && len(h.byKey[key])+h.opening[key] >= h.maxSessions && oldestIdle(h.byKey[key], nil) == nil {
		return nil, limitError("this API key holds %d MCP sessions, all busy; end one (DELETE /mcp) or retry later", h.maxSessions)
	}
	h.opening[key]++
	return &reservation{key: key}, nil
}

// release gives back res unless a session took it over.
func (h *Handler) release(res *reservation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.useLocked(res)
}

// useLocked ends res's hold on its place.
func (h *Handler) useLocked(res *reservation) {
	if res.used {
		return
	}
	res.used = true
	if h.opening[res.key]--; h.opening[res.key] <= 0 {
		delete(h.opening, res.key)
	}
}

// oldestIdle is the session of set, other than except, that has been idle
// longest, or nil.
func oldestIdle(set map[*agentSession]bool, except *agentSession) *agentSession {
	var best *agentSession
	for s := range set {
		if s != except && s.busy == 0 && (best == nil || s.idleSince.Before(best.idleSince)) {
			best = s
		}
	}
	return best
}

// evictLocked forgets s at once, so its place is free from now on, and
// closes it in the background (Close waits for its calls in flight).
func (h *Handler) evictLocked(s *agentSession) {
	h.forgetLocked(s)
	// Refused once the handler is closing: Close ends every session.
	h.life.Go(func(context.Context) { _ = s.ss.Close() })
}

// track records the session that a POST on v opened under res, found by
// the id the SDK put in the response headers (none: the POST opened no
// session), keeps the key within its cap, and forgets the session when it
// ends. It runs as the response headers go out, and once more when the
// POST is over if it could not tell then: done is false for a session not
// yet initialized, which the SDK closes at the end of the POST unless its
// initialize succeeds (a POST of server/discover opens none).
func (h *Handler) track(id string, res *reservation, v *view) (done bool) {
	var ss *mcp.ServerSession
	if id != "" {
		ss = findSession(v.server, id)
	}
	if ss != nil && ss.InitializeParams() == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The session, if any, holds the place from now on.
	h.useLocked(res)
	if ss == nil || h.life.Closed() || h.sessions[id] != nil {
		return true
	}
	key := res.key
	s := &agentSession{id: id, key: key, view: v, ss: ss, idleSince: time.Now()}
	h.sessions[id] = s
	if h.byKey[key] == nil {
		h.byKey[key] = map[*agentSession]bool{}
	}
	h.byKey[key][s] = true
	v.sessions[s] = true
	h.capLocked(s)
	h.life.Go(func(context.Context) {
		_ = ss.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		h.forgetLocked(s)
	})
	return true
}

// openingWriter passes on the response to a POST that may open a session,
// and records the session as its headers go out: before the client has the
// id, so that its next request finds the session counted.
type openingWriter struct {
	http.ResponseWriter
	opened func(id string) (done bool) // Handler.track
	noted  bool                        // tried as the headers went out
	done   bool
}

func (w *openingWriter) WriteHeader(code int) {
	w.noteSession()
	w.ResponseWriter.WriteHeader(code)
}

func (w *openingWriter) Write(b []byte) (int, error) {
	w.noteSession()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush the stream.
func (w *openingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteSession passes on the session id the SDK set ("" for none) as the
// headers go out.
func (w *openingWriter) noteSession() {
	if !w.noted {
		w.noted = true
		w.done = w.opened(w.Header().Get("Mcp-Session-Id"))
	}
}

// finish passes on the session id once the POST is over, unless that was
// settled as the headers went out: by now the SDK has closed a session
// whose initialization failed.
func (w *openingWriter) finish() {
	w.noted = true
	if !w.done {
		w.done = w.opened(w.Header().Get("Mcp-Session-Id"))
	}
}

// capLocked keeps the key of a new session s within its cap: the key's
// session idle longest goes, or, with every other one busy (they became
// busy after s was reserved), s itself.
func (h *Handler) capLocked(s *agentSession) {
	for h.maxSessions > 0 && len(h.byKey[s.key]) > h.maxSessions {
		victim := oldestIdle(h.byKey[s.key], s)
		if victim == nil {
			victim = s
		}
		h.evictLocked(victim)
	}
}

// findSession is the session of server with the given id, or nil.
func findSession(server *mcp.Server, id string) *mcp.ServerSession {
	for ss := range server.Sessions() {
		if ss.ID() == id {
			return ss
		}
	}
	return nil
}

// forgetLocked removes s from the books; a view left without sessions or
// requests goes with it.
func (h *Handler) forgetLocked(s *agentSession) {
	if h.sessions[s.id] != s {
		return
	}
	delete(h.sessions, s.id)
	if delete(h.byKey[s.key], s); len(h.byKey[s.key]) == 0 {
		delete(h.byKey, s.key)
	}
	delete(s.view.sessions, s)
	h.dropIfUnusedLocked(s.view)
}

// beginPOST marks the session with this id busy (nil: not one of ours).
func (h *Handler) beginPOST(id string) *agentSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s != nil {
		s.busy++
	}
	return s
}

// endPOST marks the end of a POST that beginPOST began.
func (h *Handler) endPOST(s *agentSession) {
	if s == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s.busy--
	s.idleSince = time.Now()
}

// sweepIdleSessions closes, until life ends, the sessions that served no
// POST for the session timeout (a POST in progress keeps its session; an
// open GET stream does not, as with the SDK's own timeout).
func (h *Handler) sweepIdleSessions(life context.Context) {
	every := min(h.sessionTimeout/4, 30*time.Second)
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-life.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-h.sessionTimeout)
		h.mu.Lock()
		for _, s := range h.sessions {
			if s.busy == 0 && s.idleSince.Before(cutoff) {
				h.evictLocked(s)
			}
		}
		h.mu.Unlock()
	}
}

// releaseView ends a request's use of v; unused, it is dropped.
func (h *Handler) releaseView(v *view, opening bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v.refs--
	if opening {
		v.opening--
	}
	h.dropIfUnusedLocked(v)
}

// dropIfUnusedLocked drops v when no session and no request uses it: the
// next request for it builds it afresh.
func (h *Handler) dropIfUnusedLocked(v *view) {
	if v.refs == 0 && len(v.sessions) == 0 && time.Now().UnixNano() >= v.keepUntil.Load() {
		h.removeLocked(v)
	}
}

// chargeLocked brings the tenant's view budget up to date with v's size.
func (h *Handler) chargeLocked(v *view) {
	if h.views[v.tenantID][v.persona] != v {
		return // dropped meanwhile
	}
	size := v.bytes.Load()
	h.viewBytes[v.tenantID] += size - v.charged
	v.charged = size
}

// admit charges a newly synced view to its tenant. Past the budget, the
// tenant's views whose sessions are all idle are closed, longest unused
// first; if that is not enough, v is refused.
func (h *Handler) admit(v *view) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.chargeLocked(v)
	if h.maxViewBytes <= 0 || h.viewBytes[v.tenantID] <= h.maxViewBytes {
		return nil
	}
	for _, other := range h.idleViewsLocked(v) {
		if h.viewBytes[v.tenantID] <= h.maxViewBytes {
			return nil
		}
		h.closeViewLocked(other)
	}
	if h.viewBytes[v.tenantID] <= h.maxViewBytes {
		return nil
	}
	return limitError("this tenant's MCP sessions hold %d persona views of about %d MiB in all, over the %d MiB budget; end sessions of other personas (DELETE /mcp) or retry later",
		len(h.views[v.tenantID]), h.viewBytes[v.tenantID]>>20, h.maxViewBytes>>20)
}

// idleViewsLocked lists the views of v's tenant, other than v, that no
// session is opening on and whose sessions are all idle, longest unused
// first.
func (h *Handler) idleViewsLocked(v *view) []*view {
	var out []*view
	for _, other := range h.views[v.tenantID] {
		if other == v || other.opening > 0 {
			continue
		}
		if allIdle(other.sessions) {
			out = append(out, other)
		}
	}
	slices.SortFunc(out, func(a, b *view) int { return cmp.Compare(a.lastUsed.Load(), b.lastUsed.Load()) })
	return out
}

// closeViewLocked drops v and closes its sessions.
func (h *Handler) closeViewLocked(v *view) {
	for s := range v.sessions {
		h.evictLocked(s)
	}
	h.removeLocked(v)
}

// allIdle reports whether no session of set is serving a POST.
func allIdle(set map[*agentSession]bool) bool {
	for s := range set {
		if s.busy > 0 {
			return false
		}
	}
	return true
}

// Stats is what the handler holds: agent sessions, views, and the
// estimated bytes of those views.
type Stats struct {
	Sessions  int
	Views     int
	ViewBytes int64
	// FastRequests counts the tools/call and tools/list requests served
	// in front of the SDK (fastcall.go) since the handler started.
	FastRequests int64
}

// Stats reports what the handler holds now.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Sessions: len(h.sessions), FastRequests: h.fastRequests.Load()}
	for _, byPersona := range h.views {
		st.Views += len(byPersona)
	}
	for _, n := range h.viewBytes {
		st.ViewBytes += n
	}
	return st
}
