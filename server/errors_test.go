package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/server"
)

// errorRow is what each dialect must answer for one registry error kind.
type errorRow struct {
	name          string // the sentinel's name in package registry
	kind          error
	ferniStatus   int
	ferniCode     string
	featherStatus int
	featherError  string
}

// errorRows is the error table as the API promises it, written out here so
// that a change to server/errors.go has to be a change to this test too.
var errorRows = []errorRow{
	{"ErrNotFound", registry.ErrNotFound, 404, "NOT_FOUND", 404, "not_found"},
	{"ErrNameExists", registry.ErrNameExists, 409, "MCP_NAME_EXISTS", 409, "conflict"},
	{"ErrInvalidEndpoint", registry.ErrInvalidEndpoint, 400, "MCP_INVALID_ENDPOINT", 400, "invalid_url"},
	{"ErrValidation", registry.ErrValidation, 400, "VALIDATION_ERROR", 400, "bad_request"},
	{"ErrUnsupported", registry.ErrUnsupported, 400, "VALIDATION_ERROR", 400, "bad_request"},
	{"ErrUnauthorized", registry.ErrUnauthorized, 401, "UNAUTHORIZED", 401, "unauthorized"},
	{"ErrForbidden", registry.ErrForbidden, 403, "FORBIDDEN", 403, "forbidden"},
	{"ErrLimitExceeded", registry.ErrLimitExceeded, 409, "LIMIT_EXCEEDED", 409, "limit_exceeded"},
	{"ErrNotActive", registry.ErrNotActive, 400, "MCP_SERVER_DISABLED", 422, "not_active"},
	{"ErrToolUnavailable", registry.ErrToolUnavailable, 400, "VALIDATION_ERROR", 400, "tool_unavailable"},
	{"ErrInvalidArguments", registry.ErrInvalidArguments, 400, "VALIDATION_ERROR", 400, "invalid_arguments"},
	{"ErrInvalidState", registry.ErrInvalidState, 400, "VALIDATION_ERROR", 400, "invalid_request_state"},
	{"ErrStaleDefinition", registry.ErrStaleDefinition, 409, "STALE_DEFINITION", 409, "stale_definition"},
	{"ErrUpstreamTimeout", registry.ErrUpstreamTimeout, 504, "MCP_TIMEOUT", 504, "upstream_timeout"},
	{"ErrUpstreamConnection", registry.ErrUpstreamConnection, 502, "MCP_CONNECTION_FAILED", 502, "upstream_error"},
	{"ErrUpstreamInvalid", registry.ErrUpstreamInvalid, 502, "MCP_INVALID_RESPONSE", 502, "upstream_error"},
	{"ErrUpstreamRefused", registry.ErrUpstreamRefused, 502, "MCP_INVALID_ENDPOINT", 502, "upstream_error"},
	{"ErrUpstreamAuth", registry.ErrUpstreamAuth, 502, "MCP_AUTH_FAILED", 502, "upstream_error"},
	{"ErrUpstreamError", registry.ErrUpstreamError, 502, "MCP_SERVER_ERROR", 502, "upstream_error"},
}

// notInTheErrorTable are registry error kinds that never reach a JSON
// error response, and why.
var notInTheErrorTable = map[string]string{
	"ErrOAuthState":     "the OAuth callback answers it with its own 400 page",
	"ErrReauthRequired": "the Authorizer's signal to the registry, which reports ErrUpstreamAuth instead",
}

// failingProbes is the real registry with Test and RefreshTools failing
// with err: routes where every kind of failure can happen (Feather's
// refresh-tools is the one that declares a not_active 422).
type failingProbes struct {
	server.Probes
	err error
}

func (f failingProbes) Test(context.Context, string, string) (*registry.TestOutcome, error) {
	return nil, f.err
}

func (f failingProbes) RefreshTools(context.Context, string, string) (*registry.Connection, error) {
	return nil, f.err
}

// failureAnswers sends a test (Ferni) and a refresh-tools (Feather) to a
// server whose probes fail with err, and returns the two responses
// (checked against openapi.yaml by the harness).
func failureAnswers(t *testing.T, err error) (ferniResp, featherResp response) {
	t.Helper()
	ts := newTestServer(t, withServer(func(o *server.Options) {
		o.Probes = failingProbes{Probes: o.Probes, err: err}
	}))
	const id = "00000000-0000-4000-8000-000000000001"
	ferniResp = ts.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test"})
	featherResp = ts.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/refresh-tools"})
	return ferniResp, featherResp
}

// TestErrorTable: every registry error kind becomes its status and code in
// each dialect's error shape, with the registry's message.
func TestErrorTable(t *testing.T) {
	for _, row := range errorRows {
		t.Run(row.name, func(t *testing.T) {
			msg := "what went wrong with " + row.name
			ferniResp, featherResp := failureAnswers(t, &registry.Error{Kind: row.kind, Message: msg})

			require.Equal(t, row.ferniStatus, ferniResp.status, "%s", ferniResp.body)
			b := ferniResp.json(t)
			assert.Equal(t, false, b["success"])
			assert.Equal(t, map[string]any{"code": row.ferniCode, "message": msg}, b["error"])

			require.Equal(t, row.featherStatus, featherResp.status, "%s", featherResp.body)
			assert.Equal(t, map[string]any{"error": row.featherError, "message": msg}, featherResp.json(t))
		})
	}
}

// TestErrorTableCoversEveryKind: a new error kind in package registry
// needs a row (or a reason here why it never reaches a response).
func TestErrorTableCoversEveryKind(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "registry", "*.go"))
	require.NoError(t, err)
	var declared []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					if strings.HasPrefix(name.Name, "Err") && name.IsExported() {
						declared = append(declared, name.Name)
					}
				}
			}
		}
	}
	require.NotEmpty(t, declared)
	var covered []string
	for _, row := range errorRows {
		covered = append(covered, row.name)
	}
	for _, name := range declared {
		if _, exempt := notInTheErrorTable[name]; !exempt {
			assert.Contains(t, covered, name, "registry.%s has no row in the error table test", name)
		}
	}
	for _, name := range covered {
		assert.Contains(t, declared, name, "the error table test names registry.%s, which does not exist", name)
	}
}

// TestErrorMessages: the message shown is the registry's own for a
// registry error, the error's text for a wrapped upstream failure (the
// client words those for users), and nothing of an unexpected error, which
// is a 500.
func TestErrorMessages(t *testing.T) {
	upstream := fmt.Errorf("%w: the server closed the connection", registry.ErrUpstreamConnection)
	ferniResp, featherResp := failureAnswers(t, upstream)
	assert.Equal(t, http.StatusBadGateway, ferniResp.status)
	assert.Equal(t, upstream.Error(), ferniResp.json(t)["error"].(map[string]any)["message"])
	assert.Equal(t, map[string]any{"error": "upstream_error", "message": upstream.Error()}, featherResp.json(t))

	internal := errors.New("database is locked at /var/lib/tether/secret-path.db")
	ferniResp, featherResp = failureAnswers(t, fmt.Errorf("delete: %w", internal))
	require.Equal(t, http.StatusInternalServerError, ferniResp.status)
	assert.Equal(t, map[string]any{"code": "INTERNAL_ERROR", "message": "internal error"}, ferniResp.json(t)["error"])
	require.Equal(t, http.StatusInternalServerError, featherResp.status)
	assert.Equal(t, map[string]any{"error": "internal_error", "message": "internal error"}, featherResp.json(t))
	assert.NotContains(t, string(ferniResp.body)+string(featherResp.body), "secret-path")
}

// TestHTTPErrorShapes: failures before any handler runs (routing, body
// limits, media type, malformed JSON) answer in the dialect's error shape.
func TestHTTPErrorShapes(t *testing.T) {
	ts := newTestServer(t)
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
		{name: "ferni no key", r: req{method: http.MethodGet, path: ferniBase, noKey: true}, status: 401, ferniCode: "UNAUTHORIZED"},
		{name: "feather unknown key", r: req{method: http.MethodGet, path: featherBase, key: "tth_not-a-real-key-at-all"}, status: 401, featherErr: "unauthorized"},
		{name: "no key beats a bad body", r: req{method: http.MethodPost, path: featherBase + "/custom-mcp", noKey: true, raw: []byte(`{"bogus":true}`)}, status: 401, featherErr: "unauthorized"},
		{name: "no key beats an unknown route", r: req{method: http.MethodGet, path: "/v1/integrations/nope", noKey: true}, status: 401, featherErr: "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(tc.r)
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

// TestOversizedChunkedBody: a body without a Content-Length is cut at the
// limit too.
func TestOversizedChunkedBody(t *testing.T) {
	ts := newTestServer(t)
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
	httpReq, err := http.NewRequest(http.MethodPost, ts.url+ferniBase, pr)
	require.NoError(t, err)
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("x-api-key", ts.key)
	resp, err := http.DefaultClient.Do(httpReq)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Zero(t, httpReq.ContentLength, "a body of unknown length is sent chunked")
	_ = pr.Close()
}

// TestRateLimitedShape: a request over the key's budget is 429 in the
// dialect's shape, with Retry-After.
func TestRateLimitedShape(t *testing.T) {
	ts := newTestServer(t, withServer(func(o *server.Options) { o.RateLimit = server.Rate{N: 1, Per: time.Hour} }))
	require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodGet, path: ferniBase}).status)
	r := ts.do(req{method: http.MethodGet, path: ferniBase})
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	assert.Equal(t, "RATE_LIMITED", r.ferniCode(t))
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	r = ts.do(req{method: http.MethodGet, path: featherBase})
	require.Equal(t, http.StatusTooManyRequests, r.status, "%s", r.body)
	assert.Equal(t, "rate_limited", r.json(t)["error"])
	assert.Equal(t, "0", r.header.Get("X-RateLimit-Remaining"))
}
