package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"

	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/tether-dev/tether/registry"
)

type ctxKey int

const (
	tenantKey ctxKey = iota
	apiKeyIDKey
)

// apiKeyID is the identity rate limits count against: the key's hash, so
// one budget per key whichever header carried it.
func apiKeyID(ctx context.Context) string {
	id, _ := ctx.Value(apiKeyIDKey).(string)
	return id
}

// APIKeyID names the API key a request authenticated with (its hash, hex),
// or "" for none: the gateway counts /mcp sessions per key.
func APIKeyID(ctx context.Context) string {
	return hex.EncodeToString([]byte(apiKeyID(ctx)))
}

// TenantID returns the id of the tenant a request authenticated as (the
// gateway, mounted behind this server's middleware, uses it).
func TenantID(ctx context.Context) (string, bool) {
	if t := tenantFrom(ctx); t != nil {
		return t.ID, true
	}
	return "", false
}

// StillAuthorized reports whether the API key r carried still
// authenticates, as the tenant r was authenticated as: false once it is
// revoked or expired. The gateway asks it while a stream r opened is open
// (gateway.Options.Reauthorize).
func StillAuthorized(keys APIKeys, r *http.Request) bool {
	t := tenantFrom(r.Context())
	if t == nil {
		return false
	}
	p, err := keys.AuthenticateKey(r.Context(), apiKeyOf(r))
	return err == nil && p.Tenant.ID == t.ID
}

// tenantFrom returns the authenticated tenant of a request context.
func tenantFrom(ctx context.Context) *registry.Tenant {
	t, _ := ctx.Value(tenantKey).(*registry.Tenant)
	return t
}

// isOpsPath reports whether a path is served without an API key.
func isOpsPath(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/openapi.yaml", "/metrics", "/oauth/client-metadata.json", featherPrefix + "/oauth/callback":
		return true
	}
	return isConsolePath(path)
}

// apiKeyOf reads the key from x-api-key or Authorization: Bearer.
func apiKeyOf(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	auth := r.Header.Get("Authorization")
	if scheme, token, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return ""
}

// authenticate resolves the API key to a tenant, and refuses what the
// key's scope does not allow (403); under /admin/v1/ it checks the admin
// key instead. It runs before validation, so a request without a valid
// key is 401 whatever else is wrong with it.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Request().URL.Path
		if isOpsPath(path) {
			return next(c)
		}
		if isAdminPath(path) {
			return s.authenticateAdmin(c, next)
		}
		key := apiKeyOf(c.Request())
		p, err := s.keys.AuthenticateKey(c.Request().Context(), key)
		if err != nil {
			return err
		}
		if !allows(p.Scope, c.Request().Method, c.Path()) {
			return &registry.Error{Kind: registry.ErrForbidden,
				Message: "this API key has the agent scope: it may only list and call tools (/mcp, GET /v1/integrations/tools, POST /v1/integrations/tools/{slug}/invoke)"}
		}
		ctx := context.WithValue(c.Request().Context(), tenantKey, &p.Tenant)
		ctx = context.WithValue(ctx, apiKeyIDKey, string(registry.HashKey(key)))
		ctx = registry.WithActor(ctx, p.Actor())
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// limitBody reads the request body up front, up to maxBodyBytes, so an
// oversized body is a clean 413 whether or not it declared its length, and
// the validator and handlers work on bytes already in memory.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		if r.ContentLength > maxBodyBytes {
			return failure(errTooLarge, "request body is larger than the %s limit", humanBytes(maxBodyBytes))
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil {
			return failure(errMalformed, "could not read the request body: %v", err)
		}
		if len(data) > maxBodyBytes {
			return failure(errTooLarge, "request body is larger than the %s limit", humanBytes(maxBodyBytes))
		}
		_ = r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(data))
		r.ContentLength = int64(len(data))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		return next(c)
	}
}

// requireJSON answers 415 for a request body that is not JSON.
func requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength == 0 || r.Method == http.MethodGet || r.Method == http.MethodDelete {
			return next(c)
		}
		ct := r.Header.Get(echo.HeaderContentType)
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return failure(errMediaType, "send the request body as application/json (got Content-Type %q)", ct)
		}
		return next(c)
	}
}

func requestID(c echo.Context) string { return c.Response().Header().Get(echo.HeaderXRequestID) }

// logRequests writes a log line per request: at debug for requests that
// succeeded (routine, and on the agent path one per tool call: building
// and writing a line for each costs more than the rest of the logging
// together), at info for client errors (4xx), at error for server errors.
// It logs the path without its query string: OAuth callbacks carry codes
// there.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		status := c.Response().Status
		if s.metrics != nil {
			s.metrics.ObserveHTTP(s.labels.route(c.Path()), s.labels.method(c.Request().Method), status, d)
		}
		level := slog.LevelDebug
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelInfo
		}
		ctx := c.Request().Context()
		if !s.log.Enabled(ctx, level) {
			return nil
		}
		// request_id and trace_id come from ctx (logctx).
		s.log.LogAttrs(ctx, level, "request",
			slog.String("method", truncate(c.Request().Method, maxLoggedMethod)),
			slog.String("path", c.Request().URL.Path),
			slog.String("route", c.Path()),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.Int64("bytes_out", c.Response().Size))
		return nil
	}
}

// maxLoggedMethod bounds the method as logged: the request line is the
// client's, and this middleware runs before authentication.
const maxLoggedMethod = 16

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// metricLabels folds a request's method and route into bounded label sets.
// Request metrics are recorded before authentication, so any value taken
// from the request as is would let an anonymous caller grow the metrics
// (and tether's memory) without bound: a made-up method is "other", a path
// no route matched is "unmatched".
type metricLabels struct {
	methods map[string]bool // the methods some route serves
	routes  map[string]bool // the route templates
}

// newMetricLabels collects the label sets from the registered routes.
func newMetricLabels(routes []*echo.Route) metricLabels {
	l := metricLabels{methods: map[string]bool{}, routes: map[string]bool{}}
	for _, r := range routes {
		l.methods[r.Method] = true
		l.routes[r.Path] = true
	}
	// Echo's catch-all routes answer 404 and 405; they are no route of ours.
	delete(l.routes, "/*")
	delete(l.methods, echo.RouteNotFound)
	return l
}

// method is m when a route serves it, else "other".
func (l metricLabels) method(m string) string {
	if l.methods[m] {
		return m
	}
	return "other"
}

// route is the route template when it is one of ours, else "unmatched".
func (l metricLabels) route(r string) string {
	if l.routes[r] {
		return r
	}
	return "unmatched"
}
