package mcpclient

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// callBudget is the time a call had: the connection's timeout, or the
// caller's deadline when that is clearly shorter.
func callBudget(ctx context.Context, c *registry.Connection) time.Duration {
	budget := connTimeout(c)
	if d, ok := ctx.Deadline(); ok {
		// The registry sets the deadline to the connection's timeout a
		// moment before the call gets here; only a clearly shorter one
		// is the caller's own.
		if left := time.Until(d); left < budget*9/10 {
			budget = left
		}
	}
	return budget
}

// describeTimeout restates a timeout with the time the call had. The
// registry's deadline (the connection's timeout) fires a moment before the
// session's own, and the session then only knows "the caller's deadline".
// Other errors pass through.
func describeTimeout(err error, budget time.Duration) error {
	if !errors.Is(err, registry.ErrUpstreamTimeout) {
		return err
	}
	out := newError(registry.ErrUpstreamTimeout, err, "no answer within %dms", budget.Round(time.Millisecond).Milliseconds())
	var e *Error
	if errors.As(err, &e) {
		out.Transport = e.Transport
	}
	return out
}

// verdict is what a call's outcome says about its session.
type verdict int

const (
	verdictKeep    verdict = iota // the session works
	verdictTimeout                // a slow answer: keep it, unless it keeps happening
	verdictDrop                   // the session is unusable; a retry would fail the same way
	verdictRetry                  // the session broke; a new one may well work
)

// judge classifies a call's error. Only failures of the session itself
// (the server forgot it, the connection dropped) earn a retry: a timeout
// may be a slow tool that is still running, and a JSON-RPC error or a
// refused credential would come back the same on a new session.
func judge(ctx context.Context, err error) verdict {
	var me *Error
	switch {
	case err == nil:
		return verdictKeep
	case errors.Is(err, mcp.ErrSessionMissing), errors.As(err, &me) && me.HTTPStatus == 404:
		// The server forgot the session (restarted, expired it). Legacy
		// SSE says so with a plain 404 on its message endpoint.
		return verdictRetry
	case errors.Is(err, registry.ErrUpstreamTimeout):
		return verdictTimeout
	case ctx.Err() != nil:
		return verdictKeep // the caller left; nothing is known about the session
	case errors.Is(err, registry.ErrUpstreamError):
		return verdictKeep
	case errors.As(err, &me) && (me.HTTPStatus >= 500 || me.HTTPStatus == 429):
		// Overloaded or failing for now; the SDK keeps the session.
		return verdictKeep
	case errors.Is(err, registry.ErrUpstreamConnection):
		return verdictRetry
	}
	return verdictDrop
}

// maxTimeouts is how many consecutive timeouts make a session suspect: one
// is a slow tool, several in a row may be a connection that silently died.
const maxTimeouts = 2

// waitError reports a caller that stopped waiting for a handshake, in
// the same kinds as any other failure.
func waitError(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return newError(registry.ErrUpstreamTimeout, ctx.Err(), "the server did not complete the handshake in time")
	}
	return newError(registry.ErrUpstreamConnection, ctx.Err(), "cancelled")
}

// streamEndGrace is how long a call refused by a legacy SSE server waits to
// see whether the session's stream is ending (refusedAsStreamEnds).
const streamEndGrace = 250 * time.Millisecond

// refusedAsStreamEnds reports whether err, a call's failure on e's session,
// is a legacy SSE server refusing the call's POST (400 or 410) because the
// session is going: its event stream ends at the same moment or within
// streamEndGrace. go-sdk's SSE server answers "400 session closed" to a
// POST for a session whose stream has just dropped, and the client may
// read that answer before it reads the stream's end. The message was not
// taken (only a 202 takes a message on that transport), so the call is
// retried on a new session like any other broken one. A refusal on a
// stream that stays open is the server refusing the call: it costs the
// grace, and the session is dropped as before. (Other refusals, such as
// a credential refused or a body too large, say nothing of the stream.)
func refusedAsStreamEnds(e *entry, err error) bool {
	var me *Error
	if e.sess.transport != registry.TransportSSE || !errors.As(err, &me) || (me.HTTPStatus != http.StatusBadRequest && me.HTTPStatus != http.StatusGone) {
		return false
	}
	t := time.NewTimer(streamEndGrace)
	defer t.Stop()
	select {
	case <-e.ended:
		return true
	case <-t.C:
		return false
	}
}
