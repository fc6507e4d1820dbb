package mcpclient

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/internal/inlinehttp"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/trace"
)

// roundTripper sits between the go-sdk HTTP transports (and the websocket
// handshake) and the guard's http.Transport. The SDK transports have no
// header field and read bodies without a cap, so this is where tether adds
// the connection's headers, caps response bodies, and records the HTTP
// failures that the SDK only reports as text.
type roundTripper struct {
	base http.RoundTripper
	// origin is the endpoint's scheme://host:port (ws mapped to http): the
	// only origin that gets the connection's headers. A legacy SSE server
	// names its message endpoint, which may be anywhere.
	origin  string
	headers http.Header
	kind    registry.Transport // streamable_http, sse or websocket
	// endpoint is the URL the transport was configured with; for legacy SSE
	// a GET to it must answer with an event stream.
	endpoint string
	limit    int64
	tr       *tracker
}

// errNotEventStream fails the legacy SSE GET when the answer is not an event
// stream: the SDK would otherwise try to parse an HTML page as events and
// report a "malformed line".
var errNotEventStream = errors.New("not an event stream")

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := rt.tr.fatalErr(); err != nil {
		// The session is broken (an oversized message); don't let the SDK
		// reconnect and fetch it again.
		return nil, err
	}
	withHeaders := len(rt.headers) > 0 && originOf(req.URL) == rt.origin
	traced := trace.SpanContextFromContext(req.Context()).IsValid()
	if withHeaders || traced {
		// A RoundTripper must not modify the caller's request.
		req = req.Clone(req.Context())
		if withHeaders {
			for name, values := range rt.headers {
				req.Header[name] = values
			}
		}
		if traced {
			// After the connection's headers: the trace context is
			// tether's to set (trace.go).
			injectHeader(req)
		}
	}
	var d *detached
	if req.Method == http.MethodPost {
		req, d = detach(req)
	}
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		d.end()
		return nil, err
	}
	d.responded()
	rt.tr.sawResponse()
	noteStatus(req.Context(), resp.StatusCode)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// A websocket upgrade: the body is the connection itself, and the
		// websocket library needs it unwrapped (an io.ReadWriteCloser).
		// Only GETs upgrade, and they are not detached.
		return resp, nil
	}
	if err := rt.check(req, resp); err != nil {
		resp.Body.Close()
		d.end()
		return nil, err
	}
	ct := mediaType(resp.Header.Get("Content-Type"))
	if ct == "text/event-stream" {
		// Streams may live as long as the session: cap each event, not the
		// whole body.
		resp.Body = &framedReader{rc: resp.Body, f: newFramer(rt.limit, true, rt.tr)}
	} else {
		// A raw request (rawcall.go) reports a body that is not JSON
		// itself; the body need not be kept for it.
		resp.Body = &bodyLimiter{rc: resp.Body, limit: rt.limit, tr: rt.tr,
			checkJSON: resp.StatusCode == http.StatusOK && ct == "application/json" && !isRawRequest(req.Context())}
	}
	resp.Body = d.body(resp.Body)
	return resp, nil
}

// check records responses that are not what the transport expects. Only
// requests whose failure decides the outcome are recorded: for streamable
// HTTP the POSTs (the standalone GET stream is optional and its 405 is
// normal). It returns an error only for the legacy SSE GET.
func (rt *roundTripper) check(req *http.Request, resp *http.Response) error {
	if rt.kind == registry.TransportStreamableHTTP && req.Method != http.MethodPost {
		return nil
	}
	f := httpFailure{method: req.Method, url: displayURL(req.URL), status: resp.StatusCode}
	isEndpoint := req.URL.String() == rt.endpoint
	ct := mediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode != 401 && resp.StatusCode != 403 &&
		req.Header.Get("Mcp-Method") == "server/discover":
		// Servers older than protocol 2026-07-28 reject server/discover;
		// the SDK then tries initialize, whose answer is the one that counts.
	case resp.StatusCode >= 400:
		if resp.StatusCode == 401 || resp.StatusCode == 403 {
			// Every field: a Bearer challenge may follow another
			// scheme's in a field of its own (RFC 9110 §11.6.1), and
			// WWW-Authenticate is a list, so the fields join with commas.
			f.wwwAuthenticate = strings.Join(resp.Header.Values("WWW-Authenticate"), ", ")
		}
		// A 4xx to the request that opens the transport is the MCP spec's
		// signal that the server speaks the other HTTP transport. 401/403
		// (credentials), 408 and 429 (load) say nothing about that.
		f.notSpoken = isEndpoint && resp.StatusCode < 500 && !slices.Contains([]int{401, 403, 408, 429}, resp.StatusCode) &&
			(rt.kind == registry.TransportStreamableHTTP || req.Method == http.MethodGet)
		rt.tr.recordFailure(f)
	case rt.kind == registry.TransportStreamableHTTP && resp.StatusCode == http.StatusOK &&
		ct != "application/json" && ct != "text/event-stream":
		f.contentType = resp.Header.Get("Content-Type")
		f.notSpoken = isEndpoint
		rt.tr.recordFailure(f)
	case rt.kind == registry.TransportSSE && req.Method == http.MethodGet && isEndpoint &&
		resp.StatusCode < 300 && ct != "text/event-stream":
		f.contentType = resp.Header.Get("Content-Type")
		f.notSpoken = true
		rt.tr.recordFailure(f)
		return errNotEventStream
	}
	return nil
}

func mediaType(v string) string {
	switch v {
	case "application/json", "text/event-stream":
		// As servers send them: no parameters to parse (ParseMediaType
		// allocates a map for them), on every answer.
		return v
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(v))
	}
	return mt
}

// httpClient returns a guarded client for one transport attempt, its
// requests passing through a roundTripper. Every client is credentialed:
// even one without headers now may be given some by a later edit, and
// refusing cross-origin redirects costs MCP servers nothing.
func (c *Client) httpClient(endpoint *url.URL, kind registry.Transport, headers http.Header, timeout time.Duration, tr *tracker) *http.Client {
	hc := c.guard.HTTPClient(netguard.ClientOptions{
		Credentialed: true,
		// No overall timeout: streams live as long as the session, and
		// github.com/coder/websocket rejects one. Deadlines come from
		// contexts; this only stops a server that never sends headers.
		// A little later than the context deadline, which should fire
		// first and say "timeout" with the configured duration.
		ResponseHeaderTimeout: timeout + time.Second,
	})
	hc.Transport = &roundTripper{
		// POSTs (every MCP request over streamable HTTP, legacy SSE's
		// messages) are short exchanges: made on the caller's goroutine,
		// without net/http's hand-offs (internal/inlinehttp). Streams and
		// upgrades go through the guard's transport itself.
		base:     inlinehttp.New(hc.Transport.(*http.Transport)),
		origin:   originOf(endpoint),
		headers:  headers,
		kind:     kind,
		endpoint: endpoint.String(),
		limit:    c.maxMessage,
		tr:       tr,
	}
	return hc
}

// closeIdle releases the pooled connections of a client from httpClient.
func closeIdle(hc *http.Client) {
	if rt, ok := hc.Transport.(*roundTripper); ok {
		if t, ok := rt.base.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
}

// connHeaders expands the connection's header templates with its secrets.
func connHeaders(conn *registry.Connection) http.Header {
	h := http.Header{}
	for name, value := range conn.Headers {
		h.Set(name, registry.Interpolate(value, conn.Secrets))
	}
	return h
}

// originOf is scheme://host:port with the default port explicit, ws and wss
// taken as http and https (a websocket handshake is an HTTP request).
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "ws":
		scheme = "http"
	case "wss":
		scheme = "https"
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	} else if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// displayURL is u without user info, query or fragment, for messages and
// logs: a query string may carry a token.
func displayURL(u *url.URL) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return v.String()
}

// describeTransport names a transport for messages.
func describeTransport(t registry.Transport) string {
	switch t {
	case registry.TransportStreamableHTTP:
		return "streamable HTTP"
	case registry.TransportSSE:
		return "legacy SSE"
	case registry.TransportWebSocket:
		return "websocket"
	case registry.TransportStdio:
		return "stdio"
	}
	return fmt.Sprintf("transport %q", string(t))
}
