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
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// Registry is what the gateway needs of the registry (registry.Service
// implements it).
type Registry interface {
	// AgentTools lists the tenant's callable tools for a persona ("" for
	// all), from the registry's cache: it never contacts a server.
	AgentTools(ctx context.Context, tenantID, persona string) ([]registry.AgentTool, error)
	// CallAgentTool calls a tool by slug within the persona's view,
	// applying the author's defaults and pins.
	CallAgentTool(ctx context.Context, tenantID, persona, slug string, args map[string]any) (map[string]any, error)
}

// Defaults for [Options].
const (
	DefaultMaxResultBytes = 8 << 20
	DefaultSessionTimeout = 30 * time.Minute
	DefaultMaxViews       = 1024
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
	// MaxViews bounds the (tenant, persona) views kept; beyond it, views
	// without sessions are dropped. 0 means 1024.
	MaxViews int
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
	maxViews  int
	sdk       *mcp.StreamableHTTPHandler
	// tagKey keys the view tags in session ids.
	tagKey []byte

	mu     sync.Mutex
	views  map[string]map[string]*view // tenant → persona → view
	nviews int
	closed bool

	life context.Context
	stop context.CancelFunc
	bg   sync.WaitGroup
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
		maxViews:  opts.MaxViews,
		tagKey:    make([]byte, 32),
		views:     map[string]map[string]*view{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.impl.Name == "" {
		h.impl.Name = DefaultServerName
	}
	if h.impl.Version == "" {
		h.impl.Version = DefaultServerVersion
	}
	if h.maxResult <= 0 {
		h.maxResult = DefaultMaxResultBytes
	}
	if h.maxViews <= 0 {
		h.maxViews = DefaultMaxViews
	}
	sessionTimeout := opts.SessionTimeout
	switch {
	case sessionTimeout == 0:
		sessionTimeout = DefaultSessionTimeout
	case sessionTimeout < 0:
		sessionTimeout = 0
	}
	_, _ = rand.Read(h.tagKey) // crypto/rand.Read never fails (Go ≥ 1.24)
	h.life, h.stop = context.WithCancel(context.Background())
	h.sdk = mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		if v, ok := r.Context().Value(viewContextKey{}).(*view); ok {
			return v.server
		}
		return nil
	}, &mcp.StreamableHTTPOptions{
		SessionTimeout: sessionTimeout,
		// The SDK's DNS-rebinding guard refuses a loopback listener
		// reached with another Host, which is how tether runs behind a
		// reverse proxy. It protects unauthenticated local servers; every
		// request here carries an API key.
		DisableLocalhostProtection: true,
	})
	return h
}

// viewContextKey carries the request's view from ServeHTTP to the SDK's
// getServer callback.
type viewContextKey struct{}

// ServeHTTP authenticates the request, picks the (tenant, persona) view and
// lets the SDK serve it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tenantID, ok := h.tenant(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "unauthorized", "a valid API key is required (x-api-key or Authorization: Bearer)")
		return
	}
	persona, err := personaOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	// The SDK finds sessions by id alone. A session id carries its view's
	// tag, so another tenant's (or persona's) session does not exist for
	// this caller, even with its id in hand.
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && !strings.HasPrefix(sid, h.tag(tenantID, persona)+"-") {
		writeError(w, http.StatusNotFound, "not_found", "session not found")
		return
	}
	v, err := h.view(r.Context(), tenantID, persona)
	switch {
	case errors.Is(err, errClosed):
		writeError(w, http.StatusServiceUnavailable, "unavailable", "tether is shutting down")
		return
	case err != nil:
		h.log.WarnContext(r.Context(), "gateway: list agent tools", "tenant_id", tenantID, "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the tool list is unavailable; try again")
		return
	}
	h.sdk.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewContextKey{}, v)))
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
// tenant; the SDK then tells connected agents that the tool list changed,
// if it did. Give it to registry.Options.OnChange; it does not block.
func (h *Handler) HandleChange(c registry.Change) {
	if h == nil {
		return // wired before the handler existed
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
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
	if h.closed {
		h.mu.Unlock()
		h.bg.Wait()
		return
	}
	h.closed = true
	var servers []*mcp.Server
	for _, byPersona := range h.views {
		for _, v := range byPersona {
			servers = append(servers, v.server)
		}
	}
	h.mu.Unlock()
	h.stop()
	var wg sync.WaitGroup
	for _, s := range servers {
		for ss := range s.Sessions() {
			wg.Go(func() { _ = ss.Close() })
		}
	}
	wg.Wait()
	h.bg.Wait()
}
