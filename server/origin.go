package server

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// Origins is the set of browser origins allowed to call tether (the MCP
// 2025-11-25 transport rules: a server MUST validate Origin and answer 403
// when it is present and invalid, against DNS rebinding). Requests without
// an Origin header (agents, curl, server-to-server) are not browsers and
// are always served.
type Origins struct {
	allowed map[string]bool
}

// NewOrigins builds the set from origins such as "https://app.example.com"
// (scheme, host and an optional port; no path). Where an origin's host is
// loopback (127.0.0.1, ::1 or localhost), its other loopback spellings on
// the same port are allowed too: a page opened at http://localhost:8080 is
// the same machine as http://127.0.0.1:8080, and a rebinding attacker's
// page can never carry a loopback origin.
func NewOrigins(origins ...string) (*Origins, error) {
	o := &Origins{allowed: map[string]bool{}}
	for _, raw := range origins {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("allowed origin %q: want scheme://host[:port], e.g. https://app.example.com", raw)
		}
		canon := canonicalOrigin(u)
		o.allowed[canon] = true
		if host := u.Hostname(); isLoopbackHost(host) {
			port := portOf(u)
			for _, alias := range []string{"127.0.0.1", "[::1]", "localhost"} {
				o.allowed[canonicalOrigin(&url.URL{Scheme: u.Scheme, Host: alias + ":" + port})] = true
			}
		}
	}
	return o, nil
}

// Allows reports whether a request's Origin header value may be served.
func (o *Origins) Allows(origin string) bool {
	if o == nil {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null" (sandboxed frames, file: pages)
	}
	return o.allowed[canonicalOrigin(u)]
}

// canonicalOrigin is scheme://host:port in lower case with the port
// always spelt out, so that https://A.example and https://a.example:443
// compare equal.
func canonicalOrigin(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ToLower(u.Scheme) + "://" + host + ":" + portOf(u)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CORS answers for allowed origins: requests carry API keys in headers,
// never cookies, so credentials are not allowed cross-origin.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, X-Api-Key, X-Persona-Id, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-Id, Traceparent, Tracestate"
	corsExposeHeaders = "Mcp-Session-Id, Mcp-Protocol-Version, X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, WWW-Authenticate, Location, Traceparent"
	corsMaxAge        = "600"
)

// allowHeaders is corsAllowHeaders and the Mcp-Param-* headers a
// preflight asks for: a 2026-07-28 agent mirrors a tool's x-mcp-header
// arguments into headers whose names the tool chooses (SEP-2243), which no
// fixed list can name.
func allowHeaders(requested []string) string {
	out := corsAllowHeaders
	for _, value := range requested {
		for name := range strings.SplitSeq(value, ",") {
			name = strings.TrimSpace(name)
			if len(name) > len("mcp-param-") && strings.EqualFold(name[:len("mcp-param-")], "mcp-param-") && validHeaderName(name) {
				out += ", " + name
			}
		}
	}
	return out
}

// validHeaderName reports an HTTP field name (RFC 9110 token).
func validHeaderName(name string) bool {
	for _, c := range name {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return name != ""
}

// checkOrigin refuses a browser request from an origin outside the
// allowed set with 403 (in the dialect's shape; on /mcp a JSON-RPC error),
// answers CORS preflights, and adds CORS headers for allowed origins. It
// runs before authentication: a preflight carries no key, and a foreign
// page learns nothing, not even whether its key was good.
func (s *Server) checkOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		origin := r.Header.Get("Origin")
		if origin == "" {
			return next(c)
		}
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		if !s.origins.Allows(origin) {
			if r.URL.Path == mcpPath {
				return c.JSONBlob(http.StatusForbidden,
					[]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Forbidden: origin not allowed"}}`))
			}
			return failure(errOriginForbidden, "origin %q is not allowed to call this server (see --allowed-origins)", origin)
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Values("Access-Control-Request-Headers")))
			h.Set("Access-Control-Max-Age", corsMaxAge)
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}
