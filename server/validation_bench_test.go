package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// BenchmarkValidateCreate measures the request validator on a Ferni
// create body (the largest schema) against the same echo round without it,
// to keep validation from dominating request time (DESIGN.md: kin-openapi's
// 3.1 path costs ~165 µs a request; the 3.0-relabelled copy ~11 µs).
func BenchmarkValidateCreate(b *testing.B) {
	body := `{"name":"my-crm-tools","description":"CRM","transport":"http","endpoint":"https://mcp.example.com/mcp",` +
		`"headers":{"X-API-Key":"{{secrets.K}}"},"secrets":{"K":"v"},"autoConnect":true,"timeout":30000}`
	validator, err := newValidator()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		mw   echo.MiddlewareFunc
	}{
		{"bare echo", func(next echo.HandlerFunc) echo.HandlerFunc { return next }},
		{"validated", validator},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := echo.New()
			e.Use(bc.mw)
			e.POST(ferniPrefix+"mcp-servers", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
			b.ReportAllocs()
			for b.Loop() {
				rq := httptest.NewRequest(http.MethodPost, ferniPrefix+"mcp-servers", strings.NewReader(body))
				rq.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, rq)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
