package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// sessionCloseGrace bounds the polite part of Session.Close (streamable
// HTTP's DELETE, the websocket close handshake); then everything is torn
// down regardless.
const sessionCloseGrace = 2 * time.Second

// Session is an open MCP session with one server. Its methods are safe for
// concurrent use; each is bounded by the connection's timeout (and by its
// ctx). A Session holds a connection, a stream or a process: always Close it.
type Session struct {
	cs        *mcp.ClientSession
	transport registry.Transport
	timeout   time.Duration
	maxPages  int
	tr        *tracker
	red       *redactor
	log       *slog.Logger
	// stop ends the session's lifetime context. Transports that tie their
	// stream to the Connect context (legacy SSE, websocket) were given that
	// context, not the caller's, so the session outlives the handshake.
	stop    context.CancelFunc
	cleanup func()
	// raw posts raw JSON-RPC (raw.go, rawcall.go); nil but for
	// streamable HTTP.
	raw *rawHTTP
	// impl is tether's clientInfo, which a 2026-07-28 request carries.
	impl *mcp.Implementation
	// hand is the handshake of a session made without go-sdk (a probe's,
	// rawprobe.go); nil when cs is set, and cs is nil when it is set.
	hand *rawHandshake

	closeOnce sync.Once
	// quiet: Close logs nothing (set by release before it closes).
	quiet bool
}

// attempt connects over one transport. It returns an *Error on failure.
func (c *Client) attempt(ctx context.Context, conn *registry.Connection, t registry.Transport, endpoint *url.URL,
	headers http.Header, timeout time.Duration, red *redactor, o connectOptions) (*Session, error) {
	tr := newTracker(timeout)
	mark := tr.mark()
	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	cleanup := func() {}
	var (
		transport mcp.Transport
		exited    chan struct{}
		raw       *rawHTTP
	)
	switch t {
	case registry.TransportStreamableHTTP:
		hc := c.httpClient(endpoint, t, headers, timeout, tr)
		transport = &mcp.StreamableClientTransport{
			Endpoint:             endpoint.String(),
			HTTPClient:           hc,
			MaxEventSize:         int(c.maxMessage + sdkSlack),
			DisableStandaloneSSE: !o.standaloneSSE,
		}
		raw = &rawHTTP{hc: hc, endpoint: endpoint.String()}
		cleanup = func() { closeIdle(hc) }
	case registry.TransportSSE:
		hc := c.httpClient(endpoint, t, headers, timeout, tr)
		transport = &mcp.SSEClientTransport{
			Endpoint:     endpoint.String(),
			HTTPClient:   hc,
			MaxEventSize: int(c.maxMessage + sdkSlack),
		}
		cleanup = func() { closeIdle(hc) }
	case registry.TransportWebSocket:
		hc := c.httpClient(endpoint, t, headers, timeout, tr)
		transport = &wsTransport{url: endpoint.String(), client: hc, limit: c.maxMessage, tr: tr}
		cleanup = func() { closeIdle(hc) }
	case registry.TransportStdio:
		p, err := c.startStdio(ctx, conn, tr, red)
		if err != nil {
			stop()
			return nil, classify(ctx, err, tr, mark, t, red)
		}
		transport, exited, cleanup = p.transport, p.exited, p.cleanup
	}

	copts := &mcp.ClientOptions{
		// Not nil: nil means the SDK's default, which declares roots.
		// tether is a server-side client with no user at hand: no roots,
		// no sampling, no elicitation.
		Capabilities: &mcp.ClientCapabilities{},
		Logger:       sdkLogger(c.log, red),
		// An input-required answer (2026-07-28) goes back to the agent
		// that can answer it, with its requestState (registry/roundtrip.go);
		// the SDK would try to answer it itself, with handlers tether has
		// not got.
		MultiRoundTrip: &mcp.MultiRoundTripOptions{Disabled: true},
	}
	if h := o.onToolsChanged; h != nil {
		copts.ToolListChangedHandler = func(context.Context, *mcp.ToolListChangedRequest) { h() }
	}
	client := mcp.NewClient(&c.impl, copts)
	type result struct {
		cs  *mcp.ClientSession
		err error
	}
	done := make(chan result, 1)
	go func() {
		cs, err := client.Connect(life, transport, &mcp.ClientSessionOptions{ProtocolVersion: o.protocolVersion})
		done <- result{cs, err}
	}()

	var err error
	select {
	case r := <-done:
		if r.err == nil {
			return &Session{
				cs:        r.cs,
				transport: t,
				timeout:   timeout,
				maxPages:  c.maxPages,
				tr:        tr,
				red:       red,
				log:       c.log.With("transport", string(t), "endpoint", endpointForLog(conn, endpoint)),
				stop:      stop,
				cleanup:   cleanup,
				raw:       raw,
				impl:      &c.impl,
			}, nil
		}
		if exited != nil {
			// A stdio server that quit explains itself in its exit status
			// and stderr; give the exit a moment to be recorded.
			select {
			case <-exited:
			case <-time.After(stdioExitWait):
			}
		}
		e := classify(ctx, r.err, tr, mark, t, red)
		stop()
		cleanup()
		return nil, e
	case <-ctx.Done():
		err = ctx.Err()
	case <-tr.fatal.Done():
		err = context.Cause(tr.fatal)
	}
	// The handshake is still running: cancel it and clean up once it has
	// returned, without making the caller wait.
	e := classify(ctx, err, tr, mark, t, red)
	stop()
	go func() {
		if r := <-done; r.cs != nil {
			_ = r.cs.Close()
		}
		cleanup()
	}()
	return nil, e
}

func endpointForLog(conn *registry.Connection, endpoint *url.URL) string {
	if endpoint == nil {
		return conn.Command
	}
	return displayURL(endpoint)
}

// Transport returns the transport this session runs on (streamable_http,
// sse, websocket or stdio).
func (s *Session) Transport() registry.Transport { return s.transport }

// ServerInfo returns what the server said about itself, redacted of the
// connection's secrets.
func (s *Session) ServerInfo() registry.ServerInfo {
	res := s.initResult()
	if res == nil || res.ServerInfo == nil {
		return registry.ServerInfo{}
	}
	return registry.ServerInfo{
		Name:    s.red.redact(res.ServerInfo.Name),
		Version: s.red.redact(res.ServerInfo.Version),
		Title:   s.red.redact(res.ServerInfo.Title),
	}
}

// ProtocolVersion returns the negotiated MCP protocol version.
func (s *Session) ProtocolVersion() string {
	if res := s.initResult(); res != nil {
		return s.red.redact(res.ProtocolVersion)
	}
	return ""
}

// opContext bounds one operation by the connection's timeout, and ends it
// at once if the server sends something fatal (an oversized message).
func (s *Session) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := withTimeout(ctx, s.timeout)
	stop := context.AfterFunc(s.tr.fatal, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// ListTools lists every tool, page by page. The go-sdk's iterator follows
// cursors blindly, so paging is done here: at most MaxToolPages pages, and a
// cursor seen before ends the listing. A listing cut short returns the tools
// seen so far, not an error: a server that pages forever still has tools.
// Tools are redacted of the connection's secrets.
func (s *Session) ListTools(ctx context.Context) ([]registry.ToolSpec, error) {
	tools, _, err := s.listTools(ctx)
	return tools, err
}

// maxToolsTTL caps a server's ttlMs before it becomes a time.Duration
// (which a huge one would overflow); the registry's bounds are far below.
const maxToolsTTL = 366 * 24 * time.Hour

// listTools is ListTools, also returning the listing's cache hint: the
// smallest positive ttlMs of its pages (zero: none). A ttlMs of 0 is what
// every server that sets no hint sends, so it is no hint here.
func (s *Session) listTools(ctx context.Context) (_ []registry.ToolSpec, ttl time.Duration, _ error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	mark := s.tr.mark()
	tools := []registry.ToolSpec{}
	seen := map[string]bool{}
	cursor := ""
	for page := 1; ; page++ {
		res, err := s.listPage(ctx, mark, &mcp.ListToolsParams{Meta: traceMeta(ctx), Cursor: cursor})
		if err != nil {
			return nil, 0, err
		}
		for _, t := range res.Tools {
			if t == nil {
				// A null in the list ("tools":[null]) decodes to no
				// tool: there is nothing to list (and nothing to
				// dereference: a probe in the health monitor's
				// goroutine would take tether down).
				continue
			}
			tools = append(tools, s.red.tool(convertTool(t)))
		}
		if ms := res.TTLMs; ms > 0 {
			d := time.Duration(min(int64(ms), int64(maxToolsTTL/time.Millisecond))) * time.Millisecond
			if ttl == 0 || d < ttl {
				ttl = d
			}
		}
		next := res.NextCursor
		switch {
		case next == "":
			return tools, ttl, nil
		case seen[next] || next == cursor:
			s.log.WarnContext(ctx, "tools/list repeated a cursor; listing stopped", "pages", page, "tools", len(tools))
			return tools, ttl, nil
		case page >= s.maxPages:
			s.log.WarnContext(ctx, "tools/list page cap reached; listing stopped", "pages", page, "tools", len(tools))
			return tools, ttl, nil
		}
		seen[next] = true
		cursor = next
	}
}

// CallTool calls one tool and returns the MCP CallToolResult as a JSON
// object, the form [registry.Prober] returns. A tool that fails is a result
// with isError set, not an error; errors are protocol and transport
// failures (an unknown tool, for instance, is registry.ErrUpstreamError).
// The result is redacted of the connection's secrets: the agent that asked
// is the tenant's, but secrets are write-only, and what a model reads ends
// up in transcripts and logs. Redaction walks the JSON object, so no
// content type is missed, and costs no encoding of its own.
func (s *Session) CallTool(ctx context.Context, name string, args map[string]any) (map[string]any, error) {
	// Streamable HTTP: sent and read raw (rawcall.go).
	return s.callToolVia(ctx, name, args, s.raw != nil)
}

// callToolVia is CallTool sent raw or through the go-sdk session.
func (s *Session) callToolVia(ctx context.Context, name string, args map[string]any, raw bool) (map[string]any, error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	mark := s.tr.mark()
	if args == nil {
		// A nil map in an interface is not nil to the SDK, and would be
		// sent as "arguments": null.
		args = map[string]any{}
	}
	params := &mcp.CallToolParams{Meta: traceMeta(ctx), Name: name, Arguments: args}
	if err := s.roundTrip(params, registry.UpstreamCallOf(ctx)); err != nil {
		return nil, err
	}
	var out map[string]any
	var err error
	if raw {
		out, err = s.callTool(ctx, mark, params)
	} else {
		out, err = s.sdkCallTool(ctx, mark, params)
	}
	if err != nil {
		return nil, err
	}
	return s.red.object(out), nil
}

// sdkCallTool is tools/call through the go-sdk session.
func (s *Session) sdkCallTool(ctx context.Context, mark uint64, params *mcp.CallToolParams) (map[string]any, error) {
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		return nil, classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	out, err := resultObject(res)
	if err != nil {
		return nil, newError(registry.ErrUpstreamInvalid, err, "%s", s.red.redact(err.Error()))
	}
	return out, nil
}

// Close ends the session: politely first (stdin closed, DELETE sent, close
// frame), then by force after a short grace (process group killed,
// connections dropped). It is idempotent and always releases everything;
// it reports no error, as a caller could do nothing about one.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		done := make(chan error, 1)
		if s.cs == nil {
			// A raw session has no goroutine of its own: the DELETE is
			// bounded by the grace itself.
			done <- s.rawClose()
		} else {
			go func() { done <- s.cs.Close() }()
		}
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, mcp.ErrConnectionClosed) && !s.quiet {
				s.log.Debug("mcp session close", "error", s.red.redact(err.Error()))
			}
		case <-time.After(sessionCloseGrace):
		}
		s.stop()
		s.cleanup()
	})
	return nil
}

// wait blocks until the session's connection ends: closed by
// [Session.Close], dropped by the server, or its process gone. The pool
// uses it to forget dead sessions before a call finds out the hard way.
func (s *Session) wait() error {
	if s.cs == nil {
		return errors.New("mcpclient: a raw session is not kept") // never pooled
	}
	return s.cs.Wait()
}

// sessionID is the session's Mcp-Session-Id ("" for none).
func (s *Session) sessionID() string {
	if s.cs == nil {
		return s.hand.sessionID
	}
	return s.cs.ID()
}

// initResult is what the server answered to the handshake.
func (s *Session) initResult() *mcp.InitializeResult {
	if s.cs == nil {
		return s.hand.result
	}
	return s.cs.InitializeResult()
}

// listPage fetches one page of tools/list, as an *Error on failure.
func (s *Session) listPage(ctx context.Context, mark uint64, params *mcp.ListToolsParams) (*mcp.ListToolsResult, error) {
	if s.cs == nil {
		return s.rawListPage(ctx, mark, params)
	}
	res, err := s.cs.ListTools(ctx, params)
	if err != nil {
		return nil, classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	return res, nil
}

// convertTool turns the SDK's tool into plain JSON objects.
func convertTool(t *mcp.Tool) registry.ToolSpec {
	out := registry.ToolSpec{
		Name:         t.Name,
		Title:        t.Title,
		Description:  t.Description,
		InputSchema:  toObject(t.InputSchema),
		OutputSchema: toObject(t.OutputSchema),
	}
	if t.Annotations != nil {
		// As listed: the title stays the tool's own, so that the
		// definition's fingerprint is of what the server sent; the
		// registry falls back to annotations.title for display.
		out.Annotations = toObject(t.Annotations)
	}
	return out
}

// toObject returns v as a JSON object, nil if it is not one.
func toObject(v any) map[string]any {
	if v == nil {
		return nil
	}
	if m, ok := v.(map[string]any); ok {
		return m
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// roundTrip adds the agent's side of a 2026-07-28 call to params: the
// capabilities it declared (go-sdk keeps a clientCapabilities _meta key it
// is given, instead of the client's own), and a retry's inputResponses and
// requestState. Older sessions declared tether's capabilities (none) at
// initialize, for good: nothing is added.
func (s *Session) roundTrip(params *mcp.CallToolParams, up *registry.UpstreamCall) error {
	if up == nil || s.ProtocolVersion() < newProtocol {
		return nil
	}
	if up.ClientCapabilities != nil {
		if params.Meta == nil {
			params.Meta = mcp.Meta{}
		}
		params.Meta[mcp.MetaKeyClientCapabilities] = up.ClientCapabilities
	}
	params.RequestState = up.RequestState
	if len(up.InputResponses) > 0 {
		b, err := json.Marshal(up.InputResponses)
		if err == nil {
			err = json.Unmarshal(b, &params.InputResponses)
		}
		if err != nil {
			return newError(registry.ErrInvalidArguments, err, "inputResponses: %s", err.Error())
		}
	}
	return nil
}
