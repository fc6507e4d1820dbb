// Package server is tether's HTTP layer: echo setup, middleware (request
// ids, logging, body limits, authentication, validation against the
// embedded OpenAPI spec), the two dialect adapters that translate between
// generated types and registry calls, and the one table that maps errors to
// each dialect's status and code. It holds no SQL, crypto or outbound I/O.
//
//	srv, err := server.New(server.Options{
//		Connections: svc, Tools: svc, Probes: svc, OAuth: svc, Agent: svc,
//		Keys: keys, Ready: st.Ping, Logger: log,
//	})
//	http.ListenAndServe(addr, srv)
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/internal/logctx"
	"github.com/tether-dev/tether/metrics"
	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/trace"
)

// mcpPath is where the gateway serves MCP.
const mcpPath = "/mcp"

// maxBodyBytes caps request bodies (413 beyond it).
const maxBodyBytes = 1 << 20

// Options configures a Server. The registry comes as the small interfaces
// its handlers call (deps.go), each satisfied by *registry.Service; a
// route whose interface is nil must not be called.
type Options struct {
	Connections Connections
	Tools       ConnectionTools
	Probes      Probes
	OAuth       OAuth
	Agent       Agent
	Keys        APIKeys
	// Audit serves the tenants' audit logs.
	Audit Audit
	// Admin and AdminKey enable the operator API under /admin/v1/,
	// authenticated by AdminKey as a bearer token; with no AdminKey those
	// routes answer 404.
	Admin    Admin
	AdminKey string
	// Ready reports whether the server can serve (database reachable, keys
	// usable); nil means always ready.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Metrics, when set, records request metrics and serves GET /metrics
	// (unless MetricsElsewhere: then /metrics answers 404 here).
	Metrics          *metrics.Metrics
	MetricsElsewhere bool
	// RateLimit and ProbeRateLimit are per-API-key budgets (zero: off).
	RateLimit, ProbeRateLimit Rate
	// RateCounter, when set, counts them for the whole fleet (see
	// RateCounter); nil counts in this process.
	RateCounter RateCounter
	// OAuthReturnURL, when set, is where the OAuth callback redirects.
	OAuthReturnURL string
	// ClientMetadata is tether's OAuth client ID metadata document.
	ClientMetadata map[string]any
	// MCP is tether's own MCP endpoint (the gateway), served at /mcp behind
	// the same authentication, rate limits and logging; nil answers 404.
	MCP http.Handler
	// Origins are the browser origins allowed to call the API and /mcp;
	// nil allows none (requests without Origin are always served).
	Origins *Origins
	// Console serves the web console's static files under /console/ (no
	// API key needed; package console); nil answers 404. GET / redirects
	// there either way.
	Console http.Handler
	// TracerProvider, when set, traces every request (tracing.go); nil
	// records no span but still passes an incoming traceparent on.
	TracerProvider trace.TracerProvider
}

// Server serves both API dialects over one registry.
type Server struct {
	reg   services
	keys  APIKeys
	audit Audit
	admin Admin
	// adminKeyHash is the SHA-256 of the admin key (nil: admin API off).
	adminKeyHash []byte
	ready        func(ctx context.Context) error
	log          *slog.Logger
	echo         *echo.Echo
	// handler is echo behind the tracing wrapper.
	handler http.Handler
	tracer  trace.TracerProvider

	metrics          *metrics.Metrics
	metricsElsewhere bool
	limit            *limiter
	probeLimit       *limiter
	oauthReturnURL   string
	clientMetadata   map[string]any
	origins          *Origins
	// labels bounds the request metrics' labels; set once routes exist.
	labels metricLabels
}

var _ gen.StrictServerInterface = (*Server)(nil)

// New builds the HTTP handler.
func New(opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logctx.Wrap(logger)
	s := &Server{
		reg:  services{Connections: opts.Connections, ConnectionTools: opts.Tools, Probes: opts.Probes, OAuth: opts.OAuth, Agent: opts.Agent},
		keys: opts.Keys, audit: opts.Audit, admin: opts.Admin, ready: opts.Ready, log: logger,
		metrics: opts.Metrics, metricsElsewhere: opts.MetricsElsewhere,
		limit: newLimiter(opts.RateLimit, opts.RateCounter, "requests", logger), probeLimit: newLimiter(opts.ProbeRateLimit, opts.RateCounter, "probes", logger),
		oauthReturnURL: opts.OAuthReturnURL, clientMetadata: opts.ClientMetadata,
		origins: opts.Origins,
	}
	if opts.AdminKey != "" {
		s.adminKeyHash = registry.HashKey(opts.AdminKey)
	}
	s.tracer = opts.TracerProvider
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	validator, err := newValidator()
	if err != nil {
		return nil, err
	}
	e.Use(
		middleware.RequestIDWithConfig(middleware.RequestIDConfig{TargetHeader: echo.HeaderXRequestID}),
		s.traceRequests,
		s.logRequests,
		middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, DisablePrintStack: true}),
		s.checkOrigin,
		s.authenticate,
		limitBody,
		s.rateLimit,
		requireJSON,
		validator,
	)
	gen.RegisterHandlers(e, gen.NewStrictHandler(s, nil))
	mcpHandler := echo.HandlerFunc(func(c echo.Context) error {
		return failure(errRouteNotFound, "tether's MCP endpoint is not enabled")
	})
	if opts.MCP != nil {
		mcpHandler = echo.WrapHandler(opts.MCP)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		e.Add(m, mcpPath, mcpHandler)
	}
	mountConsole(e, opts.Console)
	s.labels = newMetricLabels(e.Routes())
	s.echo = e
	s.handler = s.traceHandler(e)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes lists the registered routes as "METHOD /path/{param}", for the
// test that checks every operation in openapi.yaml is served.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		out = append(out, r.Method+" "+path)
	}
	return out
}
