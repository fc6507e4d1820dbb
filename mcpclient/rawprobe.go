package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	sjson "github.com/segmentio/encoding/json"
	"github.com/tether-dev/tether/registry"
)

// A probe at wire speed. A connection test of a streamable HTTP server
// whose protocol version is remembered from its last handshake is a few
// POSTs: initialize, notifications/initialized and tools/list (one per
// page) for a version before 2026-07-28; server/discover and tools/list
// for 2026-07-28. tether makes them as raw JSON-RPC on the caller's
// goroutine, through the same guarded HTTP client a go-sdk session would
// use (headers, caps, redirects, tracker), and decodes each result with
// the decoder go-sdk uses (github.com/segmentio/encoding, with go-sdk's
// flag and depth limit) into go-sdk's own types. go-sdk's client, for the
// same messages, hands each between goroutines and allocates a 32 KiB
// buffer for every one of the several decodings of every message (its
// internal/json): about 300 KB per probe, most of the garbage a probe
// made.
//
// What the probe reports stays what go-sdk's client gives: the requests
// are the ones it sends (bodies and headers), in the same order, with the
// same fallbacks (server/discover refused: initialize), HTTP failures and
// JSON-RPC errors become the same errors, and the tool list is decoded by
// the same decoder into the same types; TestRawProbeIsGoSDKProbe holds the
// two equal. Everything else (kept sessions, calls, the first handshake of
// a server, other transports) stays on go-sdk.

// rawHandshake is the state of a session made by rawConnect.
type rawHandshake struct {
	sessionID string
	result    *mcp.InitializeResult
	// missing: the server answered that it knows the session no more
	// (a 404 to a request with its id); go-sdk then sends no DELETE.
	missing bool
}

// rawInitializeParams are initialize's params as go-sdk sends them:
// tether's capabilities (none) are an empty object, which
// mcp.ClientCapabilities does not encode to (go-sdk converts it first).
type rawInitializeParams struct {
	Capabilities    json.RawMessage     `json:"capabilities"`
	ClientInfo      *mcp.Implementation `json:"clientInfo"`
	ProtocolVersion string              `json:"protocolVersion"`
}

// rawProbeStart tells whether a probe over t, whose handshake starts from
// version (as startVersion gave it), is made raw: over streamable HTTP,
// from a remembered version with an initialize handshake, or from the
// newest ("": server/discover first) when the connection last spoke a
// revision without one over t. (A first handshake, whose server is not
// known yet, stays on go-sdk.)
func rawProbeStart(conn *registry.Connection, t registry.Transport, version string) bool {
	if t != registry.TransportStreamableHTTP {
		return false
	}
	if version != "" {
		return version < newestVersion
	}
	return conn.ConnectedTransport == t && conn.ProtocolVersion >= newestVersion
}

// rawConnect makes the handshake from version without go-sdk. It returns an
// *Error on failure, as attempt does.
func (c *Client) rawConnect(ctx context.Context, conn *registry.Connection, endpoint *url.URL, headers http.Header, timeout time.Duration, red *redactor, version string) (*Session, error) {
	tr := newTracker(timeout)
	hc := c.httpClient(endpoint, registry.TransportStreamableHTTP, headers, timeout, tr)
	s := &Session{
		transport: registry.TransportStreamableHTTP,
		timeout:   timeout,
		maxPages:  c.maxPages,
		tr:        tr,
		red:       red,
		log:       c.log.With("transport", string(registry.TransportStreamableHTTP), "endpoint", endpointForLog(conn, endpoint)),
		stop:      func() {}, // no goroutine of its own to stop
		cleanup:   func() { closeIdle(hc) },
		raw:       &rawHTTP{hc: hc, endpoint: endpoint.String()},
		impl:      &c.impl,
		hand:      &rawHandshake{},
	}

	ctx, cancel := s.opContext(ctx)
	defer cancel()
	mark := tr.mark()
	fail := func(err error) (*Session, error) {
		// As go-sdk's Connect: a session the server opened is closed
		// (its DELETE), off the caller's path.
		s.quiet = true
		go s.Close()
		return nil, err
	}
	if version == "" {
		// As go-sdk's Connect from the newest revision: server/discover
		// (once more at a version the server names, if it refuses this
		// one), and on any other failure the legacy handshake.
		version = newestVersion
		for range 2 {
			res, err := s.rawDiscover(ctx, mark, version)
			if err == nil {
				s.hand.result = res
				return s, nil
			}
			var rpcErr *wireError
			if !errors.As(err, &rpcErr) || rpcErr.Code != mcp.CodeUnsupportedProtocolVersion || len(rpcErr.Data) == 0 {
				break
			}
			var data mcp.UnsupportedProtocolVersionData
			if json.Unmarshal(rpcErr.Data, &data) != nil {
				break
			}
			if version = mutualVersion(data.Supported); version < newestVersion {
				break
			}
		}
		version = legacyVersion
	}
	var res mcp.InitializeResult
	params := &rawInitializeParams{Capabilities: clientCapsV2, ClientInfo: &c.impl, ProtocolVersion: version}
	if err := s.rawRequest(ctx, mark, "initialize", "", params, &res); err != nil {
		return fail(err)
	}
	if !slices.Contains(mcp.SupportedProtocolVersions(), res.ProtocolVersion) {
		return fail(classify(ctx, fmt.Errorf("unsupported protocol version: %q", res.ProtocolVersion), tr, mark, s.transport, red))
	}
	s.hand.result = &res
	if err := s.rawNotify(ctx, mark, "notifications/initialized", &mcp.InitializedParams{}); err != nil {
		return fail(err)
	}
	return s, nil
}

// rawDiscover is go-sdk's discover: server/discover at version, and the
// handshake's result it makes of the answer (the newest version both
// speak, the server's info from _meta). A server that speaks no version
// with server/discover is go-sdk's "unsupported protocol version" error.
func (s *Session) rawDiscover(ctx context.Context, mark uint64, version string) (*mcp.InitializeResult, error) {
	params := &mcp.DiscoverParams{Meta: mcp.Meta{
		mcp.MetaKeyProtocolVersion:    version,
		mcp.MetaKeyClientInfo:         s.impl,
		mcp.MetaKeyClientCapabilities: clientCapsV2,
	}}
	var res mcp.DiscoverResult
	if err := s.rawRequest(ctx, mark, "server/discover", version, params, &res); err != nil {
		return nil, err
	}
	negotiated := version
	if !slices.Contains(res.SupportedVersions, version) {
		negotiated = mutualVersion(res.SupportedVersions)
	}
	if negotiated < newestVersion {
		return nil, &wireError{Code: mcp.CodeUnsupportedProtocolVersion, Message: "unsupported protocol version"}
	}
	out := &mcp.InitializeResult{Capabilities: res.Capabilities, Instructions: res.Instructions, ProtocolVersion: negotiated}
	if v := res.Meta[mcp.MetaKeyServerInfo]; v != nil {
		// go-sdk's decodeMetaValue: re-encoded and decoded; not an
		// implementation, no server info.
		var info mcp.Implementation
		if b, err := json.Marshal(v); err == nil && sdkUnmarshal(b, &info) == nil {
			out.ServerInfo = &info
		}
	}
	return out, nil
}

// mutualVersion is the newest version go-sdk speaks of those a server
// named ("" for none): go-sdk's negotiateMutuallySupportedVersion.
func mutualVersion(supported []string) string {
	for _, v := range mcp.SupportedProtocolVersions() {
		if slices.Contains(supported, v) {
			return v
		}
	}
	return ""
}

// rawListPage is one tools/list page of a raw session. From 2026-07-28 it
// carries the _meta go-sdk adds to every request (injectRequestMeta): the
// keys set stay.
func (s *Session) rawListPage(ctx context.Context, mark uint64, params *mcp.ListToolsParams) (*mcp.ListToolsResult, error) {
	version := s.protocolVersion()
	if version >= newProtocol {
		params.Meta = s.requestMeta(params.Meta, version)
	}
	var res mcp.ListToolsResult
	if err := s.rawRequest(ctx, mark, "tools/list", version, params, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// rawRequest sends one request of a raw session and decodes its result
// into result as go-sdk does. Every failure is an *Error.
//
// version is the Mcp-Protocol-Version header, as go-sdk sets it: none on
// initialize (its version is in the body), the negotiated one after, the
// one asked for on server/discover.
func (s *Session) rawRequest(ctx context.Context, mark uint64, method, version string, params, result any) error {
	id := rawIDBase + s.raw.nextID.Add(1)
	body, err := json.Marshal(rawRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return classify(ctx, fmt.Errorf("sending %q: %v", method, err), s.tr, mark, s.transport, s.red)
	}
	a, err := s.exchange(ctx, mark, method, "", version, id, body, nil)
	if err != nil {
		return err
	}
	if a.Error != nil {
		return classify(ctx, fmt.Errorf("calling %q: %w", method, a.Error), s.tr, mark, s.transport, s.red)
	}
	if err := sdkUnmarshal(a.Result, result); err != nil {
		return classify(ctx, fmt.Errorf("calling %q: %w", method, err), s.tr, mark, s.transport, s.red)
	}
	return nil
}

// wireVersion is the negotiated version ("" before the handshake's
// answer), which a raw session's requests carry as Mcp-Protocol-Version.
func (s *Session) wireVersion() string {
	if s.hand.result == nil {
		return ""
	}
	return s.hand.result.ProtocolVersion
}

// rawNotify sends a notification of a raw session and checks its answer
// as go-sdk does: an HTTP failure is an error; a success other than 202 or
// 204 is accepted (go-sdk only logs it).
func (s *Session) rawNotify(ctx context.Context, mark uint64, method string, params any) error {
	summary := "sending " + fmt.Sprintf("%q", method)
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
	if err != nil {
		return classify(ctx, fmt.Errorf("%s: %v", summary, err), s.tr, mark, s.transport, s.red)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, rawRequestKey{}, true), http.MethodPost, s.raw.endpoint, bytes.NewReader(body))
	if err != nil {
		return classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	s.rawHeaders(req.Header, s.wireVersion(), method, "")
	resp, err := s.raw.hc.Do(req)
	if err != nil {
		return classify(ctx, fmt.Errorf("%s: %w: %w", summary, errRejected, err), s.tr, mark, s.transport, s.red)
	}
	if err := s.checkStatus(summary, resp); err != nil {
		resp.Body.Close()
		return classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	if err := s.noteSessionID(resp); err != nil {
		resp.Body.Close()
		return classify(ctx, err, s.tr, mark, s.transport, s.red)
	}
	// A 202 has no body. Whatever else came is not waited for, as go-sdk
	// closes it unread (a server may answer with a stream it keeps open):
	// what is already there is read, so that the connection can carry the
	// next request, and the rest off the caller's path (bounded by the
	// detached request's end, drainGrace after ctx).
	if resp.ContentLength == 0 {
		resp.Body.Close() // nothing to read: no goroutine for it
	} else {
		finishBody(resp.Body)
	}
	return nil
}

// noteSessionID keeps the session id a raw session's server gave, as
// go-sdk's streamable client does: the first one given is the session's,
// and a different one later is an error.
func (s *Session) noteSessionID(resp *http.Response) error {
	if s.hand == nil {
		return nil
	}
	id := resp.Header.Get("Mcp-Session-Id")
	switch {
	case id == "":
	case s.hand.sessionID == "":
		s.hand.sessionID = id
	case s.hand.sessionID != id:
		return fmt.Errorf("mismatching session IDs %q and %q", s.hand.sessionID, id)
	}
	return nil
}

// rawClose ends a raw session as go-sdk's streamable client does: a DELETE
// with the session id, if the server gave one and has not said it is
// gone, within sessionCloseGrace.
func (s *Session) rawClose() error {
	if s.hand.sessionID == "" || s.hand.missing {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionCloseGrace)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.raw.endpoint, nil)
	if err != nil {
		return err
	}
	if v := s.wireVersion(); v != "" {
		req.Header.Set("Mcp-Protocol-Version", v)
	}
	req.Header.Set("Mcp-Session-Id", s.hand.sessionID)
	resp, err := s.raw.hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// sdkMaxDepth is go-sdk's nesting limit on the JSON it decodes
// (internal/json defaultMaxDepth).
const sdkMaxDepth = 1000

// errSDKMaxDepth is go-sdk's error for JSON nested deeper.
var errSDKMaxDepth = fmt.Errorf("json: exceeded maximum nesting depth of %d", sdkMaxDepth)

// sdkUnmarshal decodes a result into v as go-sdk's internal/json.Unmarshal
// does (the same decoder and flag), without its 32 KiB read buffer: the
// whole input is at hand. go-sdk's depth limit was checked on the whole
// message (readCall), which nests deeper than its result.
func sdkUnmarshal(data []byte, v any) error {
	// The result is one value, cut out of its message: nothing follows it.
	_, err := sjson.Parse(data, v, sjson.DontMatchCaseInsensitiveStructFields)
	return err
}

// checkDepth reports errSDKMaxDepth if objects and arrays in data nest
// deeper than max: go-sdk's own pass, which skips strings.
func checkDepth(data []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return errSDKMaxDepth
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
