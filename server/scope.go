package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/tether-dev/tether/registry"
)

// adminPrefix is where the operator API lives.
const adminPrefix = "/admin/v1/"

func isAdminPath(path string) bool {
	return strings.HasPrefix(path, adminPrefix) || path == strings.TrimSuffix(adminPrefix, "/")
}

// authenticateAdmin admits a request under /admin/v1/ that carries the
// admin key as a bearer token. Without a configured admin key the admin
// API does not exist (404); API keys, of any scope, are not admin keys.
func (s *Server) authenticateAdmin(c echo.Context, next echo.HandlerFunc) error {
	if s.adminKeyHash == nil || s.admin == nil {
		return failure(errRouteNotFound, "no such route")
	}
	token := ""
	auth := c.Request().Header.Get("Authorization")
	if scheme, t, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(t)
	}
	// Hashes compared in constant time: neither the key's length nor its
	// bytes leak through timing.
	sum := sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare(sum[:], s.adminKeyHash) != 1 {
		return &registry.Error{Kind: registry.ErrUnauthorized, Message: "missing or invalid admin key: send Authorization: Bearer ADMIN_KEY"}
	}
	ctx := registry.WithActor(c.Request().Context(), registry.Actor{Type: registry.ActorAdmin})
	c.SetRequest(c.Request().WithContext(ctx))
	return next(c)
}

// agentRoutes are what an agent-scoped key may call, as "METHOD route"
// (echo's route templates): tether's MCP endpoint, the tool list and the
// invoke route.
var agentRoutes = map[string]bool{
	http.MethodPost + " " + mcpPath:                               true,
	http.MethodGet + " " + mcpPath:                                true,
	http.MethodDelete + " " + mcpPath:                             true,
	http.MethodGet + " " + featherPrefix + "/tools":               true,
	http.MethodPost + " " + featherPrefix + "/tools/:slug/invoke": true,
}

// allows reports whether a key of scope sc may call route (echo's template
// of the matched route) with method.
func allows(sc registry.Scope, method, route string) bool {
	return sc != registry.ScopeAgent || agentRoutes[method+" "+route]
}
