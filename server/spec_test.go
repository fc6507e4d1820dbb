package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tether "github.com/tether-dev/tether"
	"github.com/tether-dev/tether/server"
)

// TestEveryOperationIsRouted loads openapi.yaml and checks that every
// operation has a route, and that no route exists outside the spec.
func TestEveryOperationIsRouted(t *testing.T) {
	// openapi.yaml itself: the embedded copy in gen/ leaves out /mcp, which
	// the gateway serves rather than generated code.
	spec, err := openapi3.NewLoader().LoadFromData(tether.OpenAPIYAML)
	require.NoError(t, err)
	var want []string
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			want = append(want, method+" "+path)
		}
	}
	srv, err := server.New(server.Options{})
	require.NoError(t, err)
	got := srv.Routes()
	sort.Strings(want)
	sort.Strings(got)
	assert.Equal(t, want, got)
	require.NotEmpty(t, want)
}

// TestSpecIsValid: openapi.yaml is a valid OpenAPI 3.1 document, so that
// teams can generate clients from it.
func TestSpecIsValid(t *testing.T) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(tether.OpenAPIYAML)
	require.NoError(t, err)
	require.NoError(t, spec.Validate(loader.Context))
	assert.True(t, strings.HasPrefix(spec.OpenAPI, "3.1"))
}

// TestOpsRoutes: GET /openapi.yaml serves the file byte for byte, and the
// ops routes answer without an API key.
func TestOpsRoutes(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(req{method: http.MethodGet, path: "/openapi.yaml", noKey: true})
	require.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, tether.OpenAPIYAML, r.body)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml"))
	assert.Equal(t, "ok", ts.do(req{method: http.MethodGet, path: "/healthz", noKey: true}).json(t)["status"])
	assert.Equal(t, "ok", ts.do(req{method: http.MethodGet, path: "/readyz", noKey: true}).json(t)["status"])
}

// TestReadyz: /readyz is 503 while Ready fails, naming what is not ready
// (the keyring or the database) but none of the details, which go to the
// log only.
func TestReadyz(t *testing.T) {
	var ready atomic.Pointer[error] // set by the test, read by the handler
	ts := newTestServer(t, withServer(func(o *server.Options) {
		o.Ready = func(context.Context) error { return *ready.Load() }
	}))
	cases := []struct {
		name   string
		err    error
		status int
		says   string
	}{
		{"ready", nil, http.StatusOK, "ok"},
		{"keyring", fmt.Errorf("%w: row 42 is sealed with key k9", server.ErrKeyringNotReady), http.StatusServiceUnavailable, "keyring"},
		{"database", errors.New("open /var/lib/tether/tether.db: permission denied"), http.StatusServiceUnavailable, "database"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ready.Store(&tc.err)
			r := ts.do(req{method: http.MethodGet, path: "/readyz", noKey: true})
			require.Equal(t, tc.status, r.status, "%s", r.body)
			assert.Contains(t, r.json(t)["status"], tc.says)
			assert.NotContains(t, string(r.body), "k9")
			assert.NotContains(t, string(r.body), "/var/lib")
		})
	}
	assert.Equal(t, http.StatusOK, ts.do(req{method: http.MethodGet, path: "/healthz", noKey: true}).status, "healthz does not depend on readiness")
}
