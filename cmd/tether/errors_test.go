package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorShapes checks that every input path answers in the dialect's
// error shape with the right status.
func TestErrorShapes(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	big := bytes.Repeat([]byte("a"), 2<<20)
	cases := []struct {
		name        string
		r           req
		status      int
		ferniCode   string // for Ferni paths
		featherErr  string // for Feather paths: the ErrorResponse error, or "" for a 422 detail list
		featherType string // for 422s: the first detail type
	}{
		{name: "ferni malformed json", r: req{method: http.MethodPost, path: ferniBase, raw: []byte(`{"name":`)}, status: 400, ferniCode: "VALIDATION_ERROR"},
		{name: "feather malformed json", r: req{method: http.MethodPost, path: featherBase + "/custom-mcp", raw: []byte(`{"nickname":`)}, status: 422, featherType: "json_invalid"},
		{name: "ferni empty body", r: req{method: http.MethodPost, path: ferniBase, raw: []byte{}}, status: 400, ferniCode: "VALIDATION_ERROR"},
		{name: "feather empty body", r: req{method: http.MethodPost, path: featherBase + "/custom-mcp"}, status: 422, featherType: "missing"},
		{name: "ferni wrong content type", r: req{method: http.MethodPost, path: ferniBase, raw: []byte(`{}`), contentType: "text/plain"}, status: 415, ferniCode: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "feather wrong content type", r: req{method: http.MethodPost, path: featherBase + "/custom-mcp", raw: []byte(`{}`), contentType: "application/x-www-form-urlencoded"}, status: 415, featherErr: "unsupported_media_type"},
		{name: "ferni oversized", r: req{method: http.MethodPost, path: ferniBase, raw: big}, status: 413, ferniCode: "PAYLOAD_TOO_LARGE"},
		{name: "feather oversized", r: req{method: http.MethodPost, path: featherBase + "/custom-mcp", raw: big}, status: 413, featherErr: "payload_too_large"},
		{name: "ferni unknown route", r: req{method: http.MethodGet, path: ferniBase + "/x/y/z"}, status: 404, ferniCode: "NOT_FOUND"},
		{name: "feather unknown route", r: req{method: http.MethodGet, path: "/v1/integrations/whatever"}, status: 404, featherErr: "not_found"},
		{name: "ferni method not allowed", r: req{method: http.MethodPatch, path: ferniBase, raw: []byte(`{}`)}, status: 405, ferniCode: "METHOD_NOT_ALLOWED"},
		{name: "feather method not allowed", r: req{method: http.MethodPut, path: featherBase, raw: []byte(`{}`)}, status: 405, featherErr: "method_not_allowed"},
		{name: "ferni json array body", r: req{method: http.MethodPost, path: ferniBase, raw: []byte(`[1,2]`)}, status: 400, ferniCode: "VALIDATION_ERROR"},
		{name: "feather number out of range", r: req{method: http.MethodPost, path: featherBase + "/00000000-0000-4000-8000-000000000000/test-mcp-call", raw: []byte(`{"slug":"x","input":{"a":1e400}}`)}, status: 422, featherType: "value_error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.key = key
			r := h.do(tc.r)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			assert.Equal(t, "application/json", strings.Split(r.header.Get("Content-Type"), ";")[0])
			b := r.json(t)
			switch {
			case tc.ferniCode != "":
				assert.Equal(t, false, b["success"])
				assert.Equal(t, tc.ferniCode, b["error"].(map[string]any)["code"])
				assert.NotEmpty(t, b["error"].(map[string]any)["message"])
			case tc.featherErr != "":
				assert.Equal(t, tc.featherErr, b["error"])
				assert.NotEmpty(t, b["message"])
			default:
				assert.Equal(t, tc.featherType, b["detail"].([]any)[0].(map[string]any)["type"])
			}
		})
	}
}

// TestOversizedChunkedBody sends a body without a Content-Length.
func TestOversizedChunkedBody(t *testing.T) {
	h := startTether(t)
	key := h.newKey("acme")
	pr, pw := io.Pipe()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 40 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	httpReq, err := http.NewRequest(http.MethodPost, h.base+ferniBase, pr)
	require.NoError(t, err)
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("x-api-key", key)
	resp, err := h.httpClient().Do(httpReq)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Zero(t, httpReq.ContentLength, "a body of unknown length is sent chunked")
}
