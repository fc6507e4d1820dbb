package netguard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get fetches u with c and returns the body; the caller checks err.
func get(t *testing.T, c *http.Client, u string) (string, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b), nil
}

// trust makes c accept the certificate of the TLS test server s.
func trust(t *testing.T, c *http.Client, s *testServer) {
	t.Helper()
	tr, ok := c.Transport.(*http.Transport)
	require.True(t, ok)
	tr.TLSClientConfig.RootCAs = s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func TestHTTPClientDialTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		allow  string
		host   string // the URL's host; the server listens on 127.0.0.1
		reason string // "" means the request must succeed
	}{
		{name: "loopback literal refused", host: "127.0.0.1", reason: "127.0.0.1 is a loopback address"},
		{name: "loopback literal allowed", allow: "127.0.0.0/8", host: "127.0.0.1"},
		{name: "rebinding name refused", host: "rebind.test", reason: "host rebind.test resolves to a loopback address"},
		{name: "rebinding name allowed", allow: "127.0.0.0/8", host: "rebind.test"},
		{name: "allow list for another address", allow: "127.0.0.2/32", host: "rebind.test", reason: "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "127.0.0.1", false, nil)
			g := New(Options{
				AllowCIDRs:  mustCIDRs(t, tt.allow),
				LookupNetIP: fakeResolver(map[string][]string{"rebind.test": {"127.0.0.1"}}),
			})
			target := fmt.Sprintf("http://%s:%d/mcp", tt.host, srv.port())
			if tt.host == "rebind.test" {
				// The name passes the URL policy: only the dial-time check
				// can catch where it points.
				_, err := g.CheckURL(target, HTTPSchemes)
				require.NoError(t, err)
			}

			body, err := get(t, g.HTTPClient(ClientOptions{Timeout: 10 * time.Second}), target)
			if tt.reason == "" {
				require.NoError(t, err)
				assert.Equal(t, "ok", body)
				assert.EqualValues(t, 1, srv.hits.Load())
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), tt.reason)
			// net/http wraps the dial error in *url.Error: errors.Is must
			// see through it, and the server must never see a connection.
			var ue *url.Error
			require.True(t, errors.As(err, &ue))
			var re *RefusedError
			require.True(t, errors.As(err, &re))
			// Dial is the address as given: a name's refusal does not say
			// what the name resolved to.
			assert.Equal(t, fmt.Sprintf("%s:%d", tt.host, srv.port()), re.Dial)
			if tt.host != "127.0.0.1" {
				assert.NotContains(t, err.Error(), "127.0.0.1")
			}
			assert.Zero(t, srv.conns.Load())
			assert.Zero(t, srv.hits.Load())
		})
	}
}

func TestHTTPClientRedirects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		allow        string
		credentialed bool
		tlsFrom      bool // the redirecting server speaks TLS (it must then be on 127.0.0.1)
		fromIP       string
		targetIP     string
		// location builds the Location header from the redirecting and the
		// target servers.
		location func(from, target *testServer) string
		reason   string // "" means the redirect is followed
	}{
		{
			name: "to a denied literal", allow: "127.0.0.2/32", fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, to *testServer) string { return to.URL + "/internal" },
			reason:   "redirect to http://127.0.0.1:",
		},
		{
			name: "to a name resolving inward", allow: "127.0.0.2/32", fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, to *testServer) string { return fmt.Sprintf("http://rebind.test:%d/", to.port()) },
			reason:   "host rebind.test resolves to a loopback address",
		},
		{
			name: "to a metadata address", allow: "127.0.0.0/8", fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, _ *testServer) string { return "http://169.254.169.254/latest/meta-data/" },
			reason:   "link-local",
		},
		{
			name: "to a low port", allow: "127.0.0.0/8", fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, _ *testServer) string { return "http://127.0.0.1:25/" },
			reason:   "port 25",
		},
		{
			name: "to another scheme", allow: "127.0.0.0/8", fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, _ *testServer) string { return "gopher://127.0.0.1:7070/_" },
			reason:   "scheme",
		},
		{
			name: "cross-origin followed without credentials", allow: "127.0.0.0/8", fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, to *testServer) string { return to.URL + "/moved" },
		},
		{
			name: "cross-origin refused with credentials", allow: "127.0.0.0/8", credentialed: true, fromIP: "127.0.0.2", targetIP: "127.0.0.1",
			location: func(_, to *testServer) string { return to.URL + "/moved" },
			reason:   "leaves the origin",
		},
		{
			name: "other port refused with credentials", allow: "127.0.0.0/8", credentialed: true, fromIP: "127.0.0.1", targetIP: "127.0.0.1",
			location: func(_, to *testServer) string { return to.URL + "/moved" },
			reason:   "leaves the origin",
		},
		{
			name: "same origin followed with credentials", allow: "127.0.0.0/8", credentialed: true, fromIP: "127.0.0.1", targetIP: "127.0.0.1",
			location: func(from, _ *testServer) string { return from.URL + "/same" },
		},
		{
			name: "https to http refused", allow: "127.0.0.0/8", tlsFrom: true, fromIP: "127.0.0.1", targetIP: "127.0.0.2",
			location: func(_, to *testServer) string { return to.URL + "/plain" },
			reason:   "downgrades https to http",
		},
		{
			name: "https to http refused with credentials", allow: "127.0.0.0/8", credentialed: true, tlsFrom: true, fromIP: "127.0.0.1", targetIP: "127.0.0.2",
			location: func(_, to *testServer) string { return to.URL + "/plain" },
			reason:   "downgrades https to http",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := startServer(t, tt.targetIP, false, nil)
			var from *testServer
			from = startServer(t, tt.fromIP, tt.tlsFrom, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/same" {
					_, _ = fmt.Fprint(w, "same")
					return
				}
				http.Redirect(w, r, tt.location(from, target), http.StatusFound)
			})
			g := New(Options{
				AllowCIDRs:  mustCIDRs(t, tt.allow),
				LookupNetIP: fakeResolver(map[string][]string{"rebind.test": {tt.targetIP}}),
			})
			c := g.HTTPClient(ClientOptions{Credentialed: tt.credentialed, Timeout: 10 * time.Second})
			if tt.tlsFrom {
				trust(t, c, from)
			}

			body, err := get(t, c, from.URL+"/start")
			if tt.reason == "" {
				require.NoError(t, err)
				if body == "same" {
					assert.Zero(t, target.hits.Load())
				} else {
					assert.Equal(t, "ok", body)
					assert.EqualValues(t, 1, target.hits.Load())
				}
				return
			}
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), tt.reason)
			assert.EqualValues(t, 1, from.hits.Load(), "the first hop is allowed")
			assert.Zero(t, target.conns.Load(), "the redirect target must never be reached")
		})
	}
}

func TestHTTPClientMaxRedirects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		max        int
		hops       int // redirects the server sends before answering
		wantErr    bool
		wantStatus int
	}{
		{name: "default allows 5", max: 0, hops: 5, wantStatus: http.StatusOK},
		{name: "default stops at 6", max: 0, hops: 6, wantErr: true},
		{name: "explicit 2 allows 2", max: 2, hops: 2, wantStatus: http.StatusOK},
		{name: "explicit 2 stops at 3", max: 2, hops: 3, wantErr: true},
		{name: "negative returns the redirect", max: -1, hops: 1, wantStatus: http.StatusFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, r *http.Request) {
				var n int
				_, _ = fmt.Sscanf(r.URL.Path, "/hop/%d", &n)
				if n < tt.hops {
					http.Redirect(w, r, fmt.Sprintf("/hop/%d", n+1), http.StatusFound)
					return
				}
				_, _ = fmt.Fprint(w, "done")
			})
			c := New(Options{AllowCIDRs: mustCIDRs(t, "127.0.0.0/8")}).HTTPClient(ClientOptions{MaxRedirects: tt.max})
			resp, err := c.Get(srv.URL + "/hop/0")
			if tt.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "stopped after")
				assert.NotErrorIs(t, err, ErrRefused)
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
		})
	}
}

// The transport must never take a proxy from the environment: the dial-time
// check would then only ever see the proxy. Not parallel: it sets the
// environment, and runs before the parallel tests, so nothing has cached the
// proxy settings yet.
func TestHTTPClientIgnoresEnvironmentProxy(t *testing.T) {
	proxy := startServer(t, "127.0.0.1", false, nil)
	srv := startServer(t, "127.0.0.1", false, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, "direct")
	})
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	g := New(Options{
		AllowCIDRs:  mustCIDRs(t, "127.0.0.0/8"),
		LookupNetIP: fakeResolver(map[string][]string{"upstream.test": {"127.0.0.1"}}),
	})
	c := g.HTTPClient(ClientOptions{})
	tr, ok := c.Transport.(*http.Transport)
	require.True(t, ok)
	assert.Nil(t, tr.Proxy)

	// A name, not a loopback literal: ProxyFromEnvironment never proxies
	// loopback literals, so only a name makes this check able to fail.
	body, err := get(t, c, fmt.Sprintf("http://upstream.test:%d/", srv.port()))
	require.NoError(t, err)
	assert.Equal(t, "direct", body)
	assert.Zero(t, proxy.conns.Load())
}

func TestHTTPClientTransportBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       ClientOptions
		wantHeader time.Duration
	}{
		{name: "defaults", opts: ClientOptions{}, wantHeader: defaultResponseHeaderTimeout},
		{name: "explicit header timeout", opts: ClientOptions{ResponseHeaderTimeout: 5 * time.Minute}, wantHeader: 5 * time.Minute},
		{name: "no header timeout", opts: ClientOptions{ResponseHeaderTimeout: -1}, wantHeader: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(Options{}).HTTPClient(tt.opts)
			tr, ok := c.Transport.(*http.Transport)
			require.True(t, ok)
			assert.Nil(t, tr.Proxy)
			assert.NotNil(t, tr.DialContext)
			assert.Nil(t, tr.DialTLSContext, "TLS must run over the guarded dialer")
			assert.Positive(t, tr.TLSHandshakeTimeout)
			assert.Positive(t, tr.IdleConnTimeout)
			assert.Equal(t, tt.wantHeader, tr.ResponseHeaderTimeout)
			assert.NotNil(t, c.CheckRedirect)
		})
	}
}
