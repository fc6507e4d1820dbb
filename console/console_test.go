package console_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/console"
)

func TestParseFrameAncestors(t *testing.T) {
	cases := []struct {
		name, in, want string
		bad            bool
	}{
		{name: "empty is none", in: "", want: "'none'"},
		{name: "none", in: "'none'", want: "'none'"},
		{name: "self and a host", in: "  'self'   https://app.example.com ", want: "'self' https://app.example.com"},
		{name: "wildcard subdomain and port", in: "https://*.example.com:8443", want: "https://*.example.com:8443"},
		{name: "scheme", in: "https:", want: "https:"},
		{name: "another directive", in: "'self'; script-src *", bad: true},
		{name: "a comma", in: "https://a.example.com,https://b.example.com", bad: true},
		{name: "unsafe-inline", in: "'unsafe-inline'", bad: true},
		{name: "none with others", in: "'none' 'self'", bad: true},
		{name: "quote in a path", in: "https://a.example.com/'x", bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := console.ParseFrameAncestors(c.in)
			if c.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
	_, err := console.Handler(console.Options{FrameAncestors: "'self'; sandbox"})
	require.Error(t, err, "the handler refuses what the parser refuses")
}

func get(t *testing.T, h http.Handler, path string, header map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestHandler: the page and its files come with the console's security
// headers; frame-ancestors is the operator's; unknown names are 404; a
// matching ETag is 304.
func TestHandler(t *testing.T) {
	h, err := console.Handler(console.Options{})
	require.NoError(t, err)
	res := get(t, h, "/console/", nil)
	require.Equal(t, http.StatusOK, res.StatusCode)
	body, _ := io.ReadAll(res.Body)
	assert.Contains(t, string(body), `<script type="module" src="app.js"></script>`)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	csp := strings.Split(res.Header.Get("Content-Security-Policy"), "; ")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		assert.Contains(t, csp, d)
	}
	assert.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
	assert.Equal(t, "same-origin-allow-popups", res.Header.Get("Cross-Origin-Opener-Policy"), "the OAuth popup posts back to its opener")

	js := get(t, h, "/console/app.js", nil)
	require.Equal(t, http.StatusOK, js.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", js.Header.Get("Content-Type"))
	etag := js.Header.Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, http.StatusNotModified, get(t, h, "/console/app.js", map[string]string{"If-None-Match": etag}).StatusCode)

	for _, p := range []string{"/console/nope.js", "/console/../console.go", "/console/static/app.js"} {
		assert.Equal(t, http.StatusNotFound, get(t, h, p, nil).StatusCode, p)
	}

	embed, err := console.Handler(console.Options{FrameAncestors: "'self' https://app.example.com"})
	require.NoError(t, err)
	res = get(t, embed, "/console/", nil)
	assert.Contains(t, strings.Split(res.Header.Get("Content-Security-Policy"), "; "), "frame-ancestors 'self' https://app.example.com")
	assert.Empty(t, res.Header.Get("X-Frame-Options"), "X-Frame-Options would forbid the embedding the operator allowed")
}

// TestNoHTMLSinksOrRemoteResources reads the console's sources: nothing
// is built from HTML strings, and nothing is loaded from another origin
// (the browser test checks the running page; this catches a sink on a
// path it does not take).
func TestNoHTMLSinksOrRemoteResources(t *testing.T) {
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment|DOMParser`)
	remote := regexp.MustCompile(`(src|href)=["']?(https?:)?//`)
	var files int
	err := fs.WalkDir(console.Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := fs.ReadFile(console.Files, name)
		require.NoError(t, err)
		assert.Empty(t, sinks.FindAllString(string(b), -1), "%s uses an HTML sink", name)
		assert.Empty(t, remote.FindAllString(string(b), -1), "%s loads from another origin", name)
		if strings.HasSuffix(name, ".html") {
			assert.NotRegexp(t, `<script>|<script [^>]*>[^<]|style=|<style`, string(b), "%s: no inline script or style", name)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, files, 5)
}
