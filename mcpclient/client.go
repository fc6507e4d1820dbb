package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/sandbox"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Defaults for [Options].
const (
	DefaultMaxMessageBytes = 8 << 20
	DefaultMaxToolPages    = 100
	DefaultClientName      = "tether"
	DefaultClientVersion   = "dev"
)

// Options configures a [Client].
type Options struct {
	// Guard is required: every network connection goes through it, and
	// endpoints are checked against its URL policy before any I/O.
	Guard *netguard.Guard
	// StdioCommands is the stdio allow-list (entries as in
	// [registry.StdioPolicy]), matched exactly against Connection.Command.
	// Empty disables stdio.
	StdioCommands []string
	// StdioFixedArgs: a connection's args must match an allow-list entry.
	StdioFixedArgs bool
	// Sandbox runs stdio servers; stdio is refused without one.
	Sandbox *sandbox.Sandbox
	// SandboxUnavailable says why there is no Sandbox; starts of stdio
	// servers are refused with it.
	SandboxUnavailable error
	// MaxStdioPerTenant caps the stdio servers one tenant runs at once
	// (0: no cap).
	MaxStdioPerTenant int
	// MaxMessageBytes caps any single MCP message: a JSON response body, an
	// SSE event, a websocket message, a stdio line. 0 means 8 MiB.
	MaxMessageBytes int64
	// MaxToolPages caps the tools/list pages fetched for one listing. 0
	// means 100.
	MaxToolPages int
	// ClientName and ClientVersion are sent as clientInfo in initialize.
	// Defaults "tether" and "dev".
	ClientName, ClientVersion string
	// Logger receives debug and warning records (fallbacks, cut-off
	// listings). It never receives header values or secrets. nil discards.
	Logger *slog.Logger
	// TracerProvider traces upstream conversations (trace.go); nil
	// records no span but still passes the caller's trace context on.
	TracerProvider trace.TracerProvider
}

// Client connects to customer MCP servers. It is safe for concurrent use;
// create one with [New] and share it.
type Client struct {
	guard      *netguard.Guard
	stdio      *registry.StdioPolicy
	sandbox    *sandbox.Sandbox
	noSandbox  error
	stdioSlots stdioSlots
	maxMessage int64
	maxPages   int
	impl       mcp.Implementation
	log        *slog.Logger
	tracer     trace.Tracer
}

// New returns a Client for opts. It panics if opts.Guard is nil: a client
// that could reach the network unguarded must not exist.
func New(opts Options) *Client {
	if opts.Guard == nil {
		panic("mcpclient: Options.Guard is required")
	}
	c := &Client{
		guard:      opts.Guard,
		sandbox:    opts.Sandbox,
		noSandbox:  opts.SandboxUnavailable,
		stdioSlots: stdioSlots{max: opts.MaxStdioPerTenant},
		maxMessage: opts.MaxMessageBytes,
		maxPages:   opts.MaxToolPages,
		impl:       mcp.Implementation{Name: opts.ClientName, Version: opts.ClientVersion},
		log:        opts.Logger,
	}
	policy, err := registry.NewStdioPolicy(opts.StdioCommands, opts.StdioFixedArgs)
	if err != nil {
		// cmd validates the flag first; a bad list here is a programming
		// error, and it must not widen what runs.
		panic("mcpclient: " + err.Error())
	}
	c.stdio = policy
	if c.maxMessage <= 0 {
		c.maxMessage = DefaultMaxMessageBytes
	}
	if c.maxPages <= 0 {
		c.maxPages = DefaultMaxToolPages
	}
	if c.impl.Name == "" {
		c.impl.Name = DefaultClientName
	}
	if c.impl.Version == "" {
		c.impl.Version = DefaultClientVersion
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	c.tracer = tp.Tracer("github.com/tether-dev/tether/mcpclient")
	return c
}

var _ registry.Prober = (*Client)(nil)

// Probe implements [registry.Prober]: it connects (initialize), lists every
// tool (following cursors, within the page cap) and closes.
// conn.TimeoutMS bounds the whole probe, fallbacks included.
func (c *Client) Probe(ctx context.Context, conn *registry.Connection) (*registry.ProbeResult, error) {
	return c.probe(ctx, conn, connectOptions{rawProbe: true})
}

// probe is Probe with the session made as o says (rawProbe off: always
// through go-sdk, which the tests compare the raw probe with).
func (c *Client) probe(ctx context.Context, conn *registry.Connection, o connectOptions) (_ *registry.ProbeResult, err error) {
	start := time.Now()
	ctx, span := c.startSpan(ctx, "mcp probe", "", conn)
	defer func() { endSpan(span, nil, err) }()
	ctx, cancel := withTimeout(ctx, connTimeout(conn))
	defer cancel()
	s, err := c.connect(ctx, conn, o)
	if err != nil {
		return nil, upstream(err)
	}
	noteSession(ctx, s)
	tools, ttl, err := s.listTools(ctx)
	if err != nil {
		closeBehind(s)
		return nil, upstream(err)
	}
	defer release(s)
	if span.IsRecording() {
		span.SetAttributes(attrToolCount.Int(len(tools)))
	}
	return &registry.ProbeResult{
		Transport:       s.transport,
		ServerInfo:      s.ServerInfo(),
		ProtocolVersion: s.ProtocolVersion(),
		Tools:           tools,
		ToolsTTL:        ttl,
		Latency:         time.Since(start),
	}, nil
}

// CallTool implements [registry.Prober]: it connects, calls one tool and
// closes, and returns the MCP CallToolResult as a JSON object (see
// [Session.CallTool]). conn.TimeoutMS bounds the connection and,
// separately, the call. A tool that fails is a result with isError set,
// not an error.
func (c *Client) CallTool(ctx context.Context, conn *registry.Connection, tool string, args map[string]any) (res map[string]any, err error) {
	ctx, span := c.startSpan(ctx, "tools/call "+tool, "tools/call", conn, attrToolName.String(tool))
	defer func() { endSpan(span, res, err) }()
	s, err := c.connect(ctx, conn, connectOptions{})
	if err != nil {
		return nil, upstream(err)
	}
	noteSession(ctx, s)
	res, err = s.CallTool(ctx, tool, args)
	if err != nil {
		closeBehind(s)
		return nil, upstream(err)
	}
	s.Close()
	return res, nil
}

// resultObject turns an MCP result into the JSON object registry.Prober
// returns: the one encoding a tool result gets in this package.
func resultObject(res *mcp.CallToolResult) (map[string]any, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode tool result: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode tool result: %w", err)
	}
	return out, nil
}

// upstream keeps the promise of [registry.Prober] that every error wraps an
// ErrUpstream* sentinel: an error of tether's own on the way (an unknown
// transport, a closed pool) becomes a connection failure, its message kept.
func upstream(err error) error {
	if err == nil || registry.UpstreamKind(err) != nil {
		return err
	}
	return &Error{Kind: registry.ErrUpstreamConnection, cause: err, msg: err.Error()}
}

// closeBehind closes a session that failed without making the caller wait:
// a server that did not answer will not answer a polite close either, and
// the caller was promised an answer within the timeout.
func closeBehind(s *Session) {
	go s.Close()
}

// release ends a probe's session once the probe has its answer. The
// teardown (over streamable HTTP a DELETE, a round trip; over legacy SSE
// and websocket the end of a stream) runs in the background, without a
// word: it need not hold up whoever asked, and a teardown that fails
// changes nothing about the answer (the session's goroutines end either
// way, within sessionCloseGrace). A stdio server is stopped before
// returning, so that its slot under MaxStdioPerTenant is free for the next
// start.
func release(s *Session) {
	if s.transport == registry.TransportStdio {
		s.Close()
		return
	}
	s.quiet = true
	go s.Close()
}

// Connect opens a session: the transport is chosen (with fallback for http
// and sse) and the MCP handshake done within conn.TimeoutMS. The session
// stays open until [Session.Close], so it can be kept warm; over streamable
// HTTP it also listens for server notifications.
func (c *Client) Connect(ctx context.Context, conn *registry.Connection) (*Session, error) {
	return c.connect(ctx, conn, connectOptions{standaloneSSE: true})
}

// connectOptions are the differences between one-shot and kept sessions.
type connectOptions struct {
	// standaloneSSE opens streamable HTTP's GET stream for server-initiated
	// messages; a probe has no use for it.
	standaloneSSE bool
	// onToolsChanged hears the server's notifications/tools/list_changed.
	// It runs on the session's receiving goroutine: it must return quickly
	// and must not use the session (hand the work to another goroutine).
	// Servers may send it often, even right after every initialize, so
	// the pool debounces.
	onToolsChanged func()
	// rawProbe: the session is a probe's (a handshake and tools/list,
	// then closed), which over streamable HTTP from a remembered version
	// is made without go-sdk (rawprobe.go).
	rawProbe bool
	// protocolVersion is the version the handshake starts from ("" for the
	// newest, which begins with server/discover); set per attempt by
	// [startVersion].
	protocolVersion string
}

// connTimeout is the connection's timeout, the registry default when unset.
func connTimeout(conn *registry.Connection) time.Duration {
	ms := conn.TimeoutMS
	if ms <= 0 {
		ms = registry.DefaultTimeoutMS
	}
	return time.Duration(ms) * time.Millisecond
}

// plan lists the transports to try, in order.
func plan(t registry.Transport) ([]registry.Transport, error) {
	switch t {
	case registry.TransportHTTP:
		return []registry.Transport{registry.TransportStreamableHTTP, registry.TransportSSE}, nil
	case registry.TransportSSE:
		return []registry.Transport{registry.TransportSSE, registry.TransportStreamableHTTP}, nil
	case registry.TransportStreamableHTTP, registry.TransportWebSocket, registry.TransportStdio:
		return []registry.Transport{t}, nil
	}
	return nil, fmt.Errorf("mcpclient: unknown transport %q", string(t))
}

func (c *Client) connect(ctx context.Context, conn *registry.Connection, o connectOptions) (*Session, error) {
	timeout := connTimeout(conn)
	ctx, cancel := withTimeout(ctx, timeout)
	defer cancel()

	steps, err := plan(conn.Transport)
	if err != nil {
		return nil, err
	}
	steps = rememberedFirst(steps, conn.ConnectedTransport)
	// Policy first, before any I/O, so a refusal is immediate and the server
	// sees nothing.
	var endpoint *url.URL
	switch conn.Transport {
	case registry.TransportStdio:
		if err := c.checkStdio(conn); err != nil {
			return nil, err
		}
	default:
		schemes := netguard.HTTPSchemes
		if conn.Transport == registry.TransportWebSocket {
			schemes = netguard.WebSocketSchemes
		}
		endpoint, err = c.guard.CheckURL(conn.Endpoint, schemes)
		if err != nil {
			var re *netguard.RefusedError
			if errors.As(err, &re) {
				return nil, &Error{Kind: registry.ErrUpstreamRefused, cause: err, msg: refusedText(re)}
			}
			return nil, &Error{Kind: registry.ErrUpstreamRefused, cause: err, msg: "refused by network policy: " + err.Error()}
		}
	}

	headers := connHeaders(conn)
	red := newRedactor(redactValues(conn, headers, endpoint)...)
	var first *Error
	for i, t := range steps {
		var remembered bool
		o.protocolVersion, remembered = startVersion(conn, t)
		var s *Session
		if o.rawProbe && rawProbeStart(conn, t, o.protocolVersion) {
			s, err = c.rawConnect(ctx, conn, endpoint, headers, timeout, red, o.protocolVersion)
		} else {
			s, err = c.attempt(ctx, conn, t, endpoint, headers, timeout, red, o)
		}
		if err != nil && remembered && retryNewest(ctx, err) {
			// The remembered version no longer works (the server was
			// upgraded and dropped it): negotiate from the newest.
			c.log.DebugContext(ctx, "remembered MCP protocol version refused, negotiating afresh",
				"endpoint", endpointForLog(conn, endpoint), "version", o.protocolVersion)
			o.protocolVersion = ""
			s, err = c.attempt(ctx, conn, t, endpoint, headers, timeout, red, o)
		}
		if err == nil {
			return s, nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return nil, err
		}
		if i == 0 {
			first = e
		} else {
			return nil, combine(first, e)
		}
		if i+1 < len(steps) && e.notSpoken && ctx.Err() == nil {
			c.log.DebugContext(ctx, "mcp transport not spoken, falling back",
				"endpoint", displayURL(endpoint), "tried", string(t), "next", string(steps[i+1]), "reason", e.Error())
			continue
		}
		return nil, e
	}
	panic("unreachable")
}

// newestVersion is the first MCP revision without initialize: a
// handshake for it starts with server/discover (SEP-2575).
const newestVersion = "2026-07-28"

// legacyVersion is the newest revision with an initialize handshake.
const legacyVersion = "2025-11-25"

// rememberedFirst moves the transport that worked last time to the front
// of the plan, so a server reached over its fallback transport is not
// asked the other one first on every connect.
func rememberedFirst(steps []registry.Transport, remembered registry.Transport) []registry.Transport {
	i := slices.Index(steps, remembered)
	if i <= 0 {
		return steps
	}
	out := make([]registry.Transport, 0, len(steps))
	out = append(out, remembered)
	out = append(out, steps[:i]...)
	return append(out, steps[i+1:]...)
}

// startVersion is the protocol version a handshake over t starts from:
//   - legacy SSE predates 2026-07-28, so it never starts with
//     server/discover (go-sdk's SSE client closes the stream on the HTTP
//     error some servers answer it with, and initialize never comes);
//   - a connection whose last successful handshake over t settled on a
//     pre-2026-07-28 version starts there, skipping a server/discover the
//     server is known to refuse;
//   - anything else starts from the newest ("").
//
// A re-sync clears what was remembered (registry.Service.RefreshTools), so
// a server that upgrades is noticed.
//
// remembered tells that the version came from the last handshake (and may
// no longer hold).
func startVersion(conn *registry.Connection, t registry.Transport) (version string, remembered bool) {
	last := conn.ProtocolVersion
	known := last != "" && last < newestVersion && conn.ConnectedTransport == t
	switch {
	case t == registry.TransportSSE && known:
		return last, false // nothing newer to fall back to over SSE
	case t == registry.TransportSSE:
		return legacyVersion, false
	case known:
		return last, true
	}
	return "", false
}

// retryNewest tells whether a failed handshake from a remembered version
// is worth one more from the newest: the server answered, and refused the
// handshake itself (a JSON-RPC error, or HTTP 400), and time is left. A
// server that is down, gone or refusing the credentials is not asked
// twice.
func retryNewest(ctx context.Context, err error) bool {
	var e *Error
	if ctx.Err() != nil || !errors.As(err, &e) {
		return false
	}
	return e.Kind == registry.ErrUpstreamError ||
		(e.Kind == registry.ErrUpstreamInvalid && e.HTTPStatus == http.StatusBadRequest)
}

// combine reports a failed fallback. If the fallback transport is not
// spoken either, the server speaks neither and the requested transport's
// error leads; otherwise the fallback got further (the server speaks it but
// something else went wrong) and its error leads.
func combine(first, second *Error) *Error {
	lead, other := second, first
	note := "after " + describeTransport(first.Transport) + " failed: "
	if second.notSpoken {
		lead, other = first, second
		note = describeTransport(second.Transport) + " fallback: "
	}
	e := *lead
	e.msg = lead.msg + " (" + note + trimKind(other) + ")"
	e.notSpoken = false
	return &e
}

// trimKind is an error's message without its sentinel prefix.
func trimKind(e *Error) string {
	p := e.Kind.Error() + ": "
	if len(e.msg) > len(p) && e.msg[:len(p)] == p {
		return e.msg[len(p):]
	}
	return e.msg
}

// redactValues are the strings no error message may contain: secret
// values, expanded header values, the endpoint's query.
func redactValues(conn *registry.Connection, headers http.Header, endpoint *url.URL) []string {
	var out []string
	for _, v := range conn.Secrets {
		out = append(out, v)
	}
	for _, vs := range headers {
		for _, v := range vs {
			out = append(out, v)
			// "Bearer <token>": a server that echoes the bare token must
			// not get it into a message either.
			if _, cred, ok := strings.Cut(v, " "); ok && len(cred) >= 8 {
				out = append(out, cred)
			}
		}
	}
	if endpoint != nil && endpoint.RawQuery != "" {
		out = append(out, endpoint.RawQuery)
	}
	return out
}
