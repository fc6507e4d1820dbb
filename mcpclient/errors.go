package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

// Error is the error type of this package: every error returned by
// [Client.Probe], [Client.CallTool], [Client.Connect], the [Session] methods
// and the [Pool] is one. Its Kind is one of registry's ErrUpstream*
// sentinels (test with [errors.Is]); its message begins with the kind's
// text and says what happened in words a user can act on ("invalid MCP
// response: server returned HTTP 404 for POST https://mcp.example.com/mcp").
// It never contains a secret or a header value.
type Error struct {
	// Kind is one of registry's ErrUpstream* sentinels. An
	// ErrUpstreamAuth error carries the WWW-Authenticate header; an
	// ErrUpstreamError one has the server's [*jsonrpc.Error] in its chain.
	Kind error
	// Transport is the transport the failure happened on ("" when the
	// connection was refused before a transport was tried).
	Transport registry.Transport
	// HTTPStatus is the status code of the HTTP response behind the failure,
	// if there was one.
	HTTPStatus int
	// WWWAuthenticate is the WWW-Authenticate header of a 401 or 403
	// response, kept for the OAuth flow (RFC 9728 resource_metadata).
	WWWAuthenticate string

	msg   string
	cause error
	// notSpoken marks failures that say "this server does not speak the
	// transport", the only ones a fallback may follow.
	notSpoken bool
}

// AuthChallenge returns the WWW-Authenticate header of a 401 or 403 answer
// ("" for any other failure): the registry reads step-up challenges
// (insufficient_scope) from it.
func (e *Error) AuthChallenge() string { return e.WWWAuthenticate }

// Error returns the user-facing message, e.g. "timeout: no answer within 2000ms".
func (e *Error) Error() string { return e.msg }

// Unwrap returns the sentinel and the underlying cause, so both
// errors.Is(err, registry.ErrUpstreamRefused) and errors.Is(err, netguard.ErrRefused) work.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.cause}
}

// newError builds an *Error whose message is the sentinel's text, a colon
// and the detail.
func newError(kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, cause: cause, msg: kind.Error() + ": " + fmt.Sprintf(format, args...)}
}

// timeoutCause is the cancellation cause of the deadlines this package sets,
// so a timeout can be told apart from the caller cancelling, and reported
// with the configured duration.
type timeoutCause struct{ d time.Duration }

func (t *timeoutCause) Error() string {
	return fmt.Sprintf("no answer within %dms", t.d.Milliseconds())
}

// withTimeout bounds ctx by d with a recognisable cause.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, &timeoutCause{d: d})
}

// classify turns any error from the SDK, the transports or the network into
// an *Error. ctx is the context of the failed operation; tr recorded what the
// server answered since mark. The order matters: an oversized message or a
// refused dial explains a broken connection better than the breakage itself,
// and a 401 better than the timeout that may follow it.
func classify(ctx context.Context, err error, tr *tracker, mark uint64, t registry.Transport, red *redactor) *Error {
	e := classifyRaw(ctx, err, tr, mark)
	e.Transport = t
	e.msg = red.redact(e.msg)
	return e
}

func classifyRaw(ctx context.Context, err error, tr *tracker, mark uint64) *Error {
	var done *Error
	if errors.As(err, &done) {
		return done
	}
	if fatal := tr.fatalErr(); fatal != nil {
		return newError(registry.ErrUpstreamInvalid, fatal, "%s", fatal.Error())
	}
	var refused *netguard.RefusedError
	if errors.As(err, &refused) {
		return &Error{Kind: registry.ErrUpstreamRefused, cause: err, msg: refusedText(refused)}
	}
	if errors.Is(err, netguard.ErrRefused) {
		return &Error{Kind: registry.ErrUpstreamRefused, cause: err, msg: "refused by network policy"}
	}
	if f := tr.authSince(mark); f != nil {
		e := newError(registry.ErrUpstreamAuth, err, "HTTP %d for %s %s", f.status, f.method, f.url)
		e.HTTPStatus, e.WWWAuthenticate = f.status, f.wwwAuthenticate
		return e
	}
	var tc *timeoutCause
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &tc) {
		return newError(registry.ErrUpstreamTimeout, context.DeadlineExceeded, "%s", tc.Error())
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return newError(registry.ErrUpstreamTimeout, context.DeadlineExceeded, "the caller's deadline passed before the server answered")
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &Error{Kind: registry.ErrUpstreamConnection, cause: context.Canceled, msg: "connection failed: cancelled"}
	}
	if isNetTimeout(err) {
		// A transport-level timeout (response headers, dial) that fired
		// just before the context's deadline: the same story for the user.
		return newError(registry.ErrUpstreamTimeout, err, "%s", (&timeoutCause{d: tr.timeout}).Error())
	}
	if f := tr.failureSince(mark); f != nil {
		return f.toError(err)
	}
	if x := tr.exited(); x != "" {
		return newError(registry.ErrUpstreamConnection, err, "%s", x)
	}
	if msg, ok := networkText(err); ok {
		return newError(registry.ErrUpstreamConnection, err, "%s", msg)
	}
	if rpcErr := serverRPCError(err); rpcErr != nil {
		return newError(registry.ErrUpstreamError, err, "%s (code %d)", rpcErr.Message, rpcErr.Code)
	}
	if tr.hasResponded() {
		return newError(registry.ErrUpstreamInvalid, err, "%s", err.Error())
	}
	return newError(registry.ErrUpstreamConnection, err, "%s", err.Error())
}

// sdkMarkers are the go-sdk's internal jsonrpc2 sentinels. They are
// *jsonrpc.Error values too, but mark local conditions (a write the transport
// rejected, a connection closing), not an answer from the server.
var sdkMarkers = map[int64]string{
	-32001: "unknown error",
	-32003: "client is closing",
	-32004: "server is closing",
	-32005: "rejected by transport",
}

// serverRPCError finds a JSON-RPC error the server sent in err's tree.
func serverRPCError(err error) *jsonrpc.Error {
	var found *jsonrpc.Error
	var walk func(error) bool
	walk = func(err error) bool {
		if err == nil {
			return false
		}
		if re, ok := err.(*jsonrpc.Error); ok {
			if msg, marker := sdkMarkers[re.Code]; !marker || msg != re.Message {
				found = re
				return true
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			return walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	walk(err)
	return found
}

// refusedText is the refusal without netguard's "dial <addr>" prefix:
// "refused by network policy: 127.0.0.1 is a loopback address".
func refusedText(re *netguard.RefusedError) string {
	return netguard.ErrRefused.Error() + ": " + re.Reason
}

// networkText finds the most specific network-level failure in err and
// describes it without the URL that net/http prefixes (its query may hold a
// secret): "dial tcp 127.0.0.1:1234: connect: connection refused".
func networkText(err error) (string, bool) {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Error(), true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.Error(), true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error(), true
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by the server", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection", true
	case errors.Is(err, mcp.ErrConnectionClosed), errors.Is(err, net.ErrClosed):
		return "the connection closed", true
	}
	return "", false
}

// isNetTimeout reports a timeout below the context: net/http's response
// header timeout, a dial timeout.
func isNetTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// sizeText renders a byte count the way limits are configured: "8 MiB".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// redactor removes secret values from error messages. Errors end up in API
// responses and the database (lastError, status_reason), and the SDK's
// messages are not written with secrets in mind.
type redactor struct {
	values []string
}

// minRedactLen skips very short values: replacing every "ab" in a message
// would mangle it, and a two-character secret protects nothing anyway.
const minRedactLen = 4

func newRedactor(values ...string) *redactor {
	r := &redactor{}
	for _, v := range values {
		if len(v) >= minRedactLen {
			r.values = append(r.values, v)
		}
	}
	// Longest first: "Bearer <token>" goes whole before "<token>" alone.
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

func (r *redactor) redact(s string) string {
	s, _ = r.scrub(s)
	return s
}
