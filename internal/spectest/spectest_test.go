package spectest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCheckResponse(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": []string{"application/json"}}
	cases := []struct {
		name         string
		method, path string
		status       int
		body         string
		ok           bool
	}{
		{"conforming", http.MethodGet, "/healthz", 200, `{"status":"ok"}`, true},
		{"missing required field", http.MethodGet, "/healthz", 200, `{}`, false},
		{"wrong type", http.MethodGet, "/healthz", 200, `{"status":1}`, false},
		{"ferni error shape in feather", http.MethodGet, "/v1/integrations/connections", 404, `{"success":false,"error":{"code":"NOT_FOUND","message":"x"}}`, false},
		{"feather error shape", http.MethodGet, "/v1/integrations/connections", 404, `{"error":"not_found","message":"x"}`, true},
		{"route outside the spec is not checked", http.MethodGet, "/nope", 404, `not json`, true},
		{"undeclared status", http.MethodGet, "/healthz", 418, `{"status":"ok"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckResponse(tc.method, tc.path, nil, tc.status, jsonHeader, []byte(tc.body))
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// The OAuth callback's page is checked for its status and headers; its
// body is HTML.
func TestCheckResponseHTML(t *testing.T) {
	page := []byte("<!doctype html><p>done</p>")
	header := http.Header{"Content-Type": []string{"text/html; charset=UTF-8"}, "Referrer-Policy": []string{"no-referrer"},
		"Cache-Control": []string{"no-store"}, "Content-Security-Policy": []string{"default-src 'none'"}}
	assert.NoError(t, CheckResponse(http.MethodGet, "/v1/integrations/oauth/callback?state=s", nil, 400, header, page))
	assert.Error(t, CheckResponse(http.MethodGet, "/v1/integrations/oauth/callback?state=s", nil, 201, header, page))
}
