package server_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/server"
)

// TestConsoleRoutes: GET / and /console redirect to /console/; the
// console's files are served without an API key, by the Console handler
// (404 without one); the API next to them still wants a key.
func TestConsoleRoutes(t *testing.T) {
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, base, path string) (*http.Response, string) {
		t.Helper()
		res, err := noFollow.Get(base + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	var served []string
	ts := newTestServer(t, withServer(func(o *server.Options) {
		o.Console = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served = append(served, r.URL.Path)
			_, _ = io.WriteString(w, "console file")
		})
	}))
	for _, p := range []string{"/", "/console"} {
		res, _ := get(t, ts.url, p)
		assert.Equal(t, http.StatusFound, res.StatusCode, p)
		assert.Equal(t, "/console/", res.Header.Get("Location"), p)
	}
	for _, p := range []string{"/console/", "/console/app.js"} {
		res, body := get(t, ts.url, p)
		assert.Equal(t, http.StatusOK, res.StatusCode, p)
		assert.Equal(t, "console file", body, p)
	}
	assert.Equal(t, []string{"/console/", "/console/app.js"}, served)
	res, _ := get(t, ts.url, "/v1/integrations/connections")
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "the API still needs a key")

	bare := newTestServer(t)
	res, _ = get(t, bare.url, "/console/app.js")
	assert.Equal(t, http.StatusNotFound, res.StatusCode, "no console handler")
	res, _ = get(t, bare.url, "/")
	assert.Equal(t, http.StatusFound, res.StatusCode)
}
