package server

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// consolePath is where the console is served (package console's files).
const consolePath = "/console/"

// isConsolePath reports whether a path is the root redirect or one of the
// console's static files: they need no API key (the page asks for one and
// sends it with each API call) and are not validated against the spec.
func isConsolePath(path string) bool {
	return path == "/" || path == "/console" || strings.HasPrefix(path, consolePath)
}

// mountConsole routes GET / and GET /console to /console/, and the
// console's files to h (nil: 404).
func mountConsole(e *echo.Echo, h http.Handler) {
	toConsole := func(c echo.Context) error { return c.Redirect(http.StatusFound, consolePath) }
	e.GET("/", toConsole)
	e.GET("/console", toConsole)
	serve := echo.HandlerFunc(func(c echo.Context) error {
		return c.String(http.StatusNotFound, "the console is not served here\n")
	})
	if h != nil {
		serve = echo.WrapHandler(h)
	}
	// The console's files sit flat in one folder, so one path segment
	// names each of them.
	e.GET(consolePath, serve)
	e.GET(consolePath+":file", serve)
}
