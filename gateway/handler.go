package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/bound"
	"github.com/tether-dev/tether/internal/lifetime"
	"github.com/tether-dev/tether/internal/logctx"
	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Registry is what the gateway needs of the registry (registry.Service
// implements it).
type Registry interface {
	// AgentTools lists the tenant's callable tools for a persona ("" for
	// all), from the registry's cache: it never contacts a server.
	AgentTools(ctx context.Context, tenantID, persona string) ([]registry.AgentTool, error)
	// InvokeAgentTool calls a tool by slug within the persona's view,
	// applying the author's defaults and pins, with the protocol fields
	// of the call (capabilities, a retry's input responses and sealed
	// request state: registry/roundtrip.go).
	InvokeAgentTool(ctx context.Context, tenantID, persona, slug string, args map[string]any, opts registry.CallOptions) (map[string]any, *registry.Tool, error)
	// TaskRequest relays tasks/get, tasks/update or tasks/cancel, whose
	// taskId is a sealed handle, to the server that made the task.
	TaskRequest(ctx context.Context, tenantID, keyID, method string, params map[string]any) (map[string]any, error)
}

// Defaults for [Options].
const (
	DefaultMaxResultBytes = 8 << 20
	DefaultSessionTimeout = 30 * time.Minute
	DefaultServerName     = "tether"
	DefaultServerVersion  = "dev"
)

// PersonaHeader is the request header that selects a persona, as an
// alternative to the ?persona= query parameter.
const PersonaHeader = "X-Persona-Id"

// maxPersonaLen bounds a persona id; views are kept per persona.
const maxPersonaLen = 256

// syncTimeout bounds one reading of the registry for a view.
const syncTimeout = 30 * time.Second

// Options configures a [Handler].
type Options struct {
	// Registry lists and calls the tools; required.
	Registry Registry
	// Tenant authenticates a request (the API key) and names its tenant;
	// required. ok false answers 401.
	Tenant func(*http.Request) (tenantID string, ok bool)
	// Logger receives warnings (failed syncs, internal errors); nil discards.
	Logger *slog.Logger
	// ServerName and ServerVersion are tether's serverInfo. Defaults
	// "tether" and "dev".
	ServerName, ServerVersion string
	// MaxResultBytes caps a tool result as returned to the agent; a larger
	// one becomes an isError result. 0 means 8 MiB.
	MaxResultBytes int64
	// SessionTimeout closes agent sessions idle this long. 0 means 30
	// minutes; negative keeps them until the agent or Close ends them.
	SessionTimeout time.Duration
	// Key names the API key a request carries (sessions are counted per
	// key); nil counts them per tenant.
	Key func(*http.Request) string
	// MaxSessionsPerKey bounds the sessions one API key holds; at the cap
	// the one idle longest is closed (sessions.go). 0 means 256; negative,
	// no bound.
	MaxSessionsPerKey int
	// MaxViewBytesPerTenant bounds the estimated memory of one tenant's
	// (tenant, persona) views. 0 means 64 MiB; negative, no bound.
	MaxViewBytesPerTenant int64
	// SessionKey keys the tags in session ids. Replicas given the same
	// key (cmd derives it from the primary encryption key) recognise each
	// other's sessions and serve their requests (sessions.go, foreign
	// sessions); nil is a random key: sessions are this process's own.
	SessionKey []byte
	// TracerProvider traces each message agents send (trace.go); nil
	// records no span but still passes the agent's trace context on.
	TracerProvider trace.TracerProvider
	// Reauthorize reports whether the credentials a request carried
	// still hold (its API key is not revoked or expired). It is asked
	// every ReauthorizeEvery while a long-lived request is open (a
	// subscriptions/listen stream, a session's GET stream), and the
	// request is ended when they no longer hold (listen.go). nil: such
	// requests are checked only as they begin.
	Reauthorize func(*http.Request) bool
	// ReauthorizeEvery is how often Reauthorize is asked; 0 means
	// DefaultReauthorizeEvery.
	ReauthorizeEvery time.Duration
}

// Handler is tether's own MCP endpoint (streamable HTTP): each tenant sees
// the enabled tools of its enabled, active connections as one MCP server.
// Mount it at /mcp. Tell it about registry changes with HandleChange, and
// Close it on shutdown.
type Handler struct {
	reg       Registry
	tenant    func(*http.Request) (string, bool)
	log       *slog.Logger
	impl      mcp.Implementation
	maxResult int64
	keyOf     func(*http.Request) string
	sdk       *mcp.StreamableHTTPHandler
	// stateless serves the sessionless revisions (stateless.go).
	stateless *mcp.StreamableHTTPHandler
	// maxSessions (per key) and maxViewBytes (per tenant); 0: unbounded.
	maxSessions  int
	maxViewBytes int64
	// sessionTimeout closes agent sessions idle this long (0: never).
	sessionTimeout time.Duration
	// reauthorize asks again, every reauthorizeEvery, for the
	// credentials of an open stream (listen.go); nil: never.
	reauthorize      func(*http.Request) bool
	reauthorizeEvery time.Duration
	// tagKey keys the view tags in session ids.
	tagKey []byte
	// instance names this process in the session ids it issues, so a
	// session id says whether it is this process's own (foreign.go).
	instance string
	tracer   trace.Tracer
	// fastRequests counts the requests fastcall.go served.
	fastRequests atomic.Int64

	mu        sync.Mutex
	views     map[string]map[string]*view // tenant → persona → view
	sessions  map[string]*agentSession    // by session id
	byKey     map[string]map[*agentSession]bool
	opening   map[string]int   // POSTs without a session id in flight, by key
	listens   map[string]int   // open subscriptions/listen streams, by key
	viewBytes map[string]int64 // estimated bytes of each tenant's views

	// life runs background syncs and session bookkeeping; Close stops it
	// under mu, after which no view or session is added.
	life *lifetime.Group
}

// New returns a Handler for opts.
func New(opts Options) *Handler {
	if opts.Registry == nil || opts.Tenant == nil {
		panic("gateway: Options.Registry and Options.Tenant are required")
	}
	h := &Handler{
		reg:       opts.Registry,
		tenant:    opts.Tenant,
		log:       opts.Logger,
		impl:      mcp.Implementation{Name: opts.ServerName, Version: opts.ServerVersion},
		maxResult: opts.MaxResultBytes,
		keyOf:     opts.Key,
		tagKey:    make([]byte, 32),
		views:     map[string]map[string]*view{},
		sessions:  map[string]*agentSession{},
		byKey:     map[string]map[*agentSession]bool{},
		opening:   map[string]int{},
		listens:   map[string]int{},
		viewBytes: map[string]int64{},

		maxSessions:  bound.Read(opts.MaxSessionsPerKey, DefaultMaxSessionsPerKey),
		maxViewBytes: bound.Read(opts.MaxViewBytesPerTenant, DefaultMaxViewBytesPerTenant),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = logctx.Wrap(h.log)
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	h.tracer = tp.Tracer("github.com/tether-dev/tether/gateway")
	if h.impl.Name == "" {
		h.impl.Name = DefaultServerName
	}
	if h.impl.Version == "" {
		h.impl.Version = DefaultServerVersion
	}
	if h.maxResult <= 0 {
		h.maxResult = DefaultMaxResultBytes
	}
	h.sessionTimeout = bound.Read(opts.SessionTimeout, DefaultSessionTimeout)
	h.reauthorize, h.reauthorizeEvery = opts.Reauthorize, opts.ReauthorizeEvery
	if h.reauthorizeEvery <= 0 {
		h.reauthorizeEvery = DefaultReauthorizeEvery
	}
	if len(opts.SessionKey) > 0 {
		h.tagKey = append([]byte(nil), opts.SessionKey...)
	} else {
		_, _ = rand.Read(h.tagKey) // crypto/rand.Read never fails (Go ≥ 1.24)
	}
	h.instance = newInstanceID()
	h.life = lifetime.New()
	h.sdk = mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		if v, ok := r.Context().Value(viewContextKey{}).(*view); ok {
			return v.server
		}
		return nil
	}, &mcp.StreamableHTTPOptions{
		// No SessionTimeout: the SDK's idle timer counts only the POSTs
		// it serves, and tool calls are served in front of it
		// (fastcall.go); sweepIdleSessions closes idle sessions instead.
		// The SDK's DNS-rebinding guard refuses a loopback listener
		// reached with another Host, which is how tether runs behind a
		// reverse proxy. It protects unauthenticated local servers; every
		// request here carries an API key.
		DisableLocalhostProtection: true,
		// A POST is answered with one application/json body, not an SSE
		// stream: a tool call's answer is its result alone (tether sends
		// no progress or requests of its own within a call), and a stream
		// costs the gateway more per call (its headers, events and
		// flushes). Notifications go out on the session's standalone
		// stream (GET) either way.
		JSONResponse: true,
	})
	h.stateless = newStatelessHandler()
	h.life.Go(h.sweepIdleViews)
	if h.sessionTimeout > 0 {
		h.life.Go(h.sweepIdleSessions)
	}
	return h
}

// viewContextKey carries the request's view from ServeHTTP to the SDK's
// getServer callback.
type viewContextKey struct{}

// ServeHTTP authenticates the request, picks the (tenant, persona) view and
// lets the SDK serve it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenantID, persona, sid, ok := h.identify(w, r)
	if !ok {
		return
	}
	if r.Method == http.MethodPost && (isStateless(r) || len(r.Header.Values("Mcp-Protocol-Version")) > 1) && !normalizeRouting(w, r) {
		return
	}
	if h.intercept(w, r, tenantID, persona, sid) {
		return
	}
	if isStateless(r) {
		h.serveStateless(w, r, tenantID, persona)
		return
	}
	if sid == "" && r.Method == http.MethodPost {
		h.serveOpening(w, r, tenantID, persona)
		return
	}
	if h.isForeign(sid) {
		h.serveForeign(w, r, tenantID, persona)
		return
	}
	v, ok := h.acquire(w, r, tenantID, persona, false)
	if !ok {
		return
	}
	defer h.releaseView(v, false)
	if sid != "" && r.Method == http.MethodPost {
		defer h.endPOST(h.beginPOST(sid))
	}
	if r.Method == http.MethodGet {
		// The session's stream: it ends when the key no longer holds.
		var stop func()
		r, stop = h.watchCredentials(r)
		defer stop()
	}
	h.sdk.ServeHTTP(w, h.withView(r, v))
}

// identify reads the request's tenant, persona and session id, answering
// the request itself when they do not hold.
func (h *Handler) identify(w http.ResponseWriter, r *http.Request) (tenantID, persona, sid string, ok bool) {
	tenantID, ok = h.tenant(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "unauthorized", "a valid API key is required (x-api-key or Authorization: Bearer)")
		return "", "", "", false
	}
	persona, err := personaOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return "", "", "", false
	}
	// The SDK finds sessions by id alone. A session id carries its view's
	// tag, so another tenant's (or persona's) session does not exist for
	// this caller, even with its id in hand.
	sid = r.Header.Get("Mcp-Session-Id")
	if isStateless(r) && sid != "" {
		// The sessionless revision: a session id is ignored, not
		// echoed (its transport's backward-compatibility rules).
		r.Header.Del("Mcp-Session-Id")
		sid = ""
	}
	if sid != "" && !strings.HasPrefix(sid, h.tag(tenantID, persona)+"-") {
		writeError(w, http.StatusNotFound, "not_found", "session not found")
		return "", "", "", false
	}
	return tenantID, persona, sid, true
}

// serveOpening serves a POST without a session id, which may open a
// session: it holds the session a place under the key's cap, and records it
// as the response goes out.
func (h *Handler) serveOpening(w http.ResponseWriter, r *http.Request, tenantID, persona string) {
	key := h.countKey(r, tenantID)
	res, err := h.reserveSession(key)
	if err != nil {
		writeError(w, http.StatusTooManyRequests, "limit_exceeded", userMessage(err))
		return
	}
	defer h.release(res)
	v, ok := h.acquire(w, r, tenantID, persona, true)
	if !ok {
		return
	}
	defer h.releaseView(v, true)
	ow := &openingWriter{ResponseWriter: w, opened: func(id string) bool { return h.track(id, res, v) }}
	h.sdk.ServeHTTP(ow, h.withView(r, v))
	ow.finish()
}

// acquire returns the request's view, or answers the request when there
// is none to be had. The caller releases the view.
func (h *Handler) acquire(w http.ResponseWriter, r *http.Request, tenantID, persona string, opening bool) (*view, bool) {
	v, err := h.view(r.Context(), tenantID, persona, opening)
	switch {
	case err == nil:
		return v, true
	case errors.Is(err, errClosed):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "tether is shutting down")
	case errors.Is(err, errLimit):
		writeError(w, http.StatusTooManyRequests, "limit_exceeded", userMessage(err))
	default:
		h.log.WarnContext(r.Context(), "gateway: list agent tools", "tenant_id", tenantID, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the tool list is unavailable; try again")
	}
	return nil, false
}

// withView hands v to the SDK's getServer callback, and a POST's trace
// context and request id to its messages (trace.go).
func (h *Handler) withView(r *http.Request, v *view) *http.Request {
	r = r.WithContext(context.WithValue(r.Context(), viewContextKey{}, v))
	if r.Method == http.MethodPost {
		stamp(r)
		// Over the agent's own value, if it sent one: the key is the
		// binding of the request states this request may be given.
		r.Header.Set(keyHeader, h.keyID(r))
	}
	return r
}

// keyID names the request's API key ("" when Options.Key is nil).
func (h *Handler) keyID(r *http.Request) string {
	if h.keyOf == nil {
		return ""
	}
	return h.keyOf(r)
}

// userMessage is a limit refusal without its sentinel's prefix.
func userMessage(err error) string {
	return strings.TrimPrefix(err.Error(), errLimit.Error()+": ")
}

// personaOf reads ?persona= or the X-Persona-Id header ("" for none).
func personaOf(r *http.Request) (string, error) {
	q := r.URL.Query().Get("persona")
	hd := r.Header.Get(PersonaHeader)
	p := q
	switch {
	case q != "" && hd != "" && q != hd:
		return "", errors.New("persona is given twice, with different values (?persona= and " + PersonaHeader + ")")
	case q == "":
		p = hd
	}
	if len(p) > maxPersonaLen {
		return "", errors.New("persona id is too long")
	}
	return p, nil
}

// tag identifies a view in its session ids without revealing the tenant.
func (h *Handler) tag(tenantID, persona string) string {
	m := hmac.New(sha256.New, h.tagKey)
	m.Write([]byte(tenantID))
	m.Write([]byte{0})
	m.Write([]byte(persona))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// writeError answers with tether's JSON error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": message})
}

// HandleChange re-syncs, in the background, every view of the changed
// tenant (of every tenant after registry.ChangesMissed); the SDK then
// tells connected agents that the tool list changed, if it did. Give it
// to registry.Service.OnChange; it does not block.
func (h *Handler) HandleChange(c registry.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.life.Closed() {
		return
	}
	if c.Kind == registry.ChangesMissed {
		for _, byPersona := range h.views {
			for _, v := range byPersona {
				h.requestSyncLocked(v)
			}
		}
		return
	}
	for _, v := range h.views[c.TenantID] {
		h.requestSyncLocked(v)
	}
}

// Close ends every agent session (each after its calls in flight return)
// and stops background syncs. Requests after Close answer 503.
func (h *Handler) Close() {
	h.mu.Lock()
	if h.life.Closed() {
		h.mu.Unlock()
		h.life.Close()
		return
	}
	h.life.Stop()
	var servers []*mcp.Server
	for _, byPersona := range h.views {
		for _, v := range byPersona {
			servers = append(servers, v.server)
		}
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		for ss := range s.Sessions() {
			wg.Go(func() { _ = ss.Close() })
		}
	}
	wg.Wait()
	h.life.Close()
}
