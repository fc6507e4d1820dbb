package netguard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/internal/bound"
)

// ClientOptions configures an HTTP client from [Guard.HTTPClient].
type ClientOptions struct {
	// Timeout bounds the whole exchange, body included (http.Client.Timeout).
	// 0 means none: callers usually bound requests by context. Leave it 0 for
	// clients handed to github.com/coder/websocket, which rejects it, and for
	// long-lived streams (SSE).
	Timeout time.Duration
	// Credentialed marks clients whose requests carry credentials (bearer
	// tokens, API keys, injected headers). They follow no redirect to another
	// origin (scheme, host and port), so a server cannot bounce the
	// credentials somewhere else; net/http only strips a few well-known
	// headers on such redirects, and none that a RoundTripper injects.
	Credentialed bool
	// MaxRedirects caps the redirects followed. 0 means 5; negative means
	// none are followed and the client returns the redirect response itself
	// (http.ErrUseLastResponse).
	MaxRedirects int
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request is sent. 0 means 60 seconds, negative means none. Raise it for
	// servers that answer a slow tool call with a plain JSON body, whose
	// headers only come when the call is done.
	ResponseHeaderTimeout time.Duration
}

// Transport timeouts. Connect time is bounded by Options.DialTimeout.
const (
	tlsHandshakeTimeout          = 10 * time.Second
	defaultResponseHeaderTimeout = 60 * time.Second
	idleConnTimeout              = 90 * time.Second
	expectContinueTimeout        = 1 * time.Second
	maxResponseHeaderBytes       = 1 << 20
	defaultMaxRedirects          = 5
)

// Idle connections one client keeps per host, and in all. Go's default of
// 2 per host makes a warm MCP session under concurrent calls open a new
// connection (a dial through the guard) for most of them; 64 covers the
// calls agents make at once to one upstream. Every client has its own pool
// (mcpclient builds one per session: one origin, one set of credentials),
// so a kept connection is never reused beyond the client that opened it.
const (
	maxIdleConnsPerHost = 64
	maxIdleConns        = 2 * maxIdleConnsPerHost
)

// HTTPClient returns a new [http.Client] that reaches the network only through
// the guard. Its Transport dials with [Guard.DialContext], so every connection
// is checked at dial time; it never takes a proxy from the environment (the
// check would then see only the proxy); TLS handshake, response header and
// idle timeouts are set, and up to 64 idle connections per host are kept
// for reuse. Its CheckRedirect re-applies [Guard.CheckURL] to every
// hop, refuses any https→http downgrade and, for credentialed clients, any
// hop to another origin.
//
// Each call builds a new Transport with its own connection pool: build a
// client once per purpose and reuse it. The Transport is an *http.Transport,
// which tests may adjust (e.g. to trust a test CA).
func (g *Guard) HTTPClient(o ClientOptions) *http.Client {
	rht := bound.Read(o.ResponseHeaderTimeout, defaultResponseHeaderTimeout)
	tr := &http.Transport{
		// Never from the environment: with a proxy, the dial-time check would
		// only ever see the proxy's address.
		Proxy:                  nil,
		DialContext:            g.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ResponseHeaderTimeout:  rht,
		IdleConnTimeout:        idleConnTimeout,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		ExpectContinueTimeout:  expectContinueTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	maxRedirects := o.MaxRedirects
	if maxRedirects == 0 {
		maxRedirects = defaultMaxRedirects
	}
	rp := &redirectPolicy{g: g, credentialed: o.Credentialed, max: maxRedirects}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: rp.check,
		Timeout:       o.Timeout,
	}
}

type redirectPolicy struct {
	g            *Guard
	credentialed bool
	max          int
}

// check is http.Client.CheckRedirect. req is the next hop; via holds the
// requests made so far, oldest first.
func (p *redirectPolicy) check(req *http.Request, via []*http.Request) error {
	if p.max < 0 {
		return http.ErrUseLastResponse
	}
	// len(via) requests have been made, so len(via)-1 redirects followed.
	if len(via) > p.max {
		return fmt.Errorf("netguard: stopped after %d redirects", p.max)
	}
	if _, err := p.g.CheckURL(req.URL.String(), HTTPSchemes); err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			return &RefusedError{Reason: "redirect to " + origin(req.URL) + ": " + re.Reason}
		}
		return err
	}
	prev := via[len(via)-1].URL
	if prev.Scheme == "https" && req.URL.Scheme == "http" {
		return refuse("redirect from %s to %s downgrades https to http", origin(prev), origin(req.URL))
	}
	if p.credentialed {
		if from, to := origin(via[0].URL), origin(req.URL); from != to {
			return refuse("redirect from %s to %s leaves the origin of a request that carries credentials", from, to)
		}
	}
	return nil
}

// origin is scheme://host:port with the default port made explicit and the
// host lowercased, so equal origins compare equal as strings. Only the origin
// goes into error messages: paths and queries may carry secrets.
func origin(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		if d, ok := defaultPorts[u.Scheme]; ok {
			port = strconv.Itoa(int(d))
		}
	} else if n, err := strconv.ParseUint(port, 10, 16); err == nil {
		port = strconv.FormatUint(n, 10)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host + ":" + port
}
