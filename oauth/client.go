package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options configures a [Client].
type Options struct {
	// HTTPClient makes every request: discovery, registration, token and
	// revocation calls. In production it is the SSRF-guarded client from
	// netguard; its timeouts and redirect policy apply. nil makes every call
	// fail rather than fall back to http.DefaultClient, which would bypass
	// the guard.
	HTTPClient *http.Client
	// ClientName is the client_name sent in dynamic client registration.
	// Empty means "tether".
	ClientName string
	// Now tells the time, for token expiry. nil means time.Now.
	Now func() time.Time
	// TracerProvider traces each operation (trace.go); nil records no
	// span but still passes the caller's trace context on.
	TracerProvider trace.TracerProvider
}

// Client runs the network side of tether's OAuth 2.1 client: discovery,
// registration, code exchange, refresh and revocation. It holds no per-flow
// state, so one Client serves every connection; it is safe for concurrent
// use. Bound each call with its context.
type Client struct {
	hc     *http.Client
	name   string
	now    func() time.Time
	tracer trace.Tracer
}

// New returns a Client for opts.
func New(opts Options) *Client {
	c := &Client{hc: opts.HTTPClient, name: opts.ClientName, now: opts.Now}
	if c.hc == nil {
		c.hc = &http.Client{Transport: noTransport{}}
	} else {
		// A copy, so the caller's client stays as it was.
		hc := *c.hc
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = traced{base: base}
		c.hc = &hc
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	c.tracer = tp.Tracer("github.com/tether-dev/tether/oauth")
	if c.name == "" {
		c.name = "tether"
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// noTransport stands in for a missing Options.HTTPClient: failing loudly
// beats quietly reaching the network without the SSRF guard.
type noTransport struct{}

func (noTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("oauth: Options.HTTPClient is nil; refusing to make unguarded requests")
}

// Response body caps. Metadata documents are capped at 1 MiB (SECURITY.md,
// outbound rule 7); registration and token responses are small JSON objects
// and get the same cap.
const (
	maxMetadataBytes = 1 << 20
	maxResponseBytes = 1 << 20
	// maxDescription bounds how much of a server's error_description goes
	// into an error message: it is untrusted text shown to users.
	maxDescription = 200
)

// do sends req with the caller's client. A transport error loses its
// *url.Error wrapper, whose message quotes the whole URL (a server URL's path
// or query may hold a secret the user pasted); the cause, a netguard refusal
// included, stays reachable through errors.Is.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%s %s: %w", req.Method, origin(req.URL), ue.Err)
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, origin(req.URL), err)
	}
	return resp, nil
}

// readCapped reads at most limit bytes of body and fails if there is more,
// rather than silently parsing a truncated document.
func readCapped(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}

// drainClose discards a little of what is left of body so the connection can
// be reused, then closes it. The cap keeps a server from holding us on a
// long (or endless, for SSE) body.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	_ = body.Close()
}

// origin is scheme://host[:port] of u: the part of a URL that is safe to put
// in an error message.
func origin(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// originOf is [origin] for a raw URL; unparsable input yields a placeholder
// rather than the input itself.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return origin(u)
}

// describe renders an OAuth error code and description from a server for an
// error message: bounded, printable, and quoted so it cannot pose as our own
// text.
func describe(code, description string) string {
	s := fmt.Sprintf("error %q", clean(code, 64))
	if description != "" {
		s += fmt.Sprintf(" (%q)", clean(description, maxDescription))
	}
	return s
}

// clean truncates s to n bytes on a rune boundary and drops control
// characters.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// newRequest builds a request bound to ctx without echoing a bad URL.
func newRequest(ctx context.Context, method, rawURL string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		// http.NewRequest quotes the URL in its error.
		return nil, fmt.Errorf("build %s request to %s: invalid URL", method, originOf(rawURL))
	}
	return req, nil
}
