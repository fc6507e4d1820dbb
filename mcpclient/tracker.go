package mcpclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tether-dev/tether/registry"
)

// tracker records what one transport attempt saw of the server: HTTP
// failures, an oversized message, a stdio process exit. The go-sdk reports
// most of these as plain strings ("sending \"initialize\": Not Found"), so
// errors are classified from what the tracker saw rather than from the
// error text. One tracker lives as long as its session.
type tracker struct {
	// timeout is the connection's timeout, for messages.
	timeout time.Duration

	mu        sync.Mutex
	seq       uint64
	responded bool
	failure   *httpFailure
	auth      *httpFailure
	exit      string

	// fatal is cancelled with the cause when the server sends something the
	// session cannot survive (an oversized message), so operations waiting on
	// the SDK stop at once instead of waiting for reconnects or the timeout.
	fatal    context.Context
	setFatal context.CancelCauseFunc
}

func newTracker(timeout time.Duration) *tracker {
	t := &tracker{timeout: timeout}
	t.fatal, t.setFatal = context.WithCancelCause(context.Background())
	return t
}

// httpFailure is one HTTP response that was not what MCP expects.
type httpFailure struct {
	seq             uint64
	method, url     string // url without query or user info
	status          int
	contentType     string // set when the status was fine but the body type was not
	wwwAuthenticate string
	// notSpoken: the response says the server does not speak the transport
	// that was tried (e.g. 404 to the streamable POST).
	notSpoken bool
}

// mark returns a position; failureSince and authSince only report what was
// recorded after it, so an operation is not blamed on an earlier response
// (a tolerated 400 to server/discover, say).
func (t *tracker) mark() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seq
}

func (t *tracker) sawResponse() {
	t.mu.Lock()
	t.responded = true
	t.mu.Unlock()
}

func (t *tracker) hasResponded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.responded
}

func (t *tracker) recordFailure(f httpFailure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	f.seq = t.seq
	if f.status == 401 || f.status == 403 {
		t.auth = &f
		return
	}
	t.failure = &f
}

func (t *tracker) failureSince(mark uint64) *httpFailure {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failure != nil && t.failure.seq > mark {
		return t.failure
	}
	return nil
}

func (t *tracker) authSince(mark uint64) *httpFailure {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.auth != nil && t.auth.seq > mark {
		return t.auth
	}
	return nil
}

// processExited records how a stdio server ended, e.g. "the command exited
// (exit status 1): Error: API_KEY is not set".
func (t *tracker) processExited(desc string) {
	t.mu.Lock()
	t.exit = desc
	t.mu.Unlock()
}

func (t *tracker) exited() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exit
}

// fail records a fatal condition; the first one wins.
func (t *tracker) fail(err error) { t.setFatal(err) }

func (t *tracker) fatalErr() error {
	if t.fatal.Err() == nil {
		return nil
	}
	return context.Cause(t.fatal)
}

// toError describes the failure: 5xx and 429 mean the server is there but
// failing (connection failed); any other status or a wrong body type means
// it does not answer MCP at this URL (invalid response).
func (f *httpFailure) toError(cause error) *Error {
	var e *Error
	switch {
	case f.contentType != "":
		e = newError(registry.ErrUpstreamInvalid, cause, "server answered %s %s with Content-Type %q, %s",
			f.method, f.url, f.contentType, wantedBody(f.method))
	case f.status >= 500 || f.status == 429:
		e = newError(registry.ErrUpstreamConnection, cause, "server returned HTTP %d for %s %s", f.status, f.method, f.url)
	default:
		e = newError(registry.ErrUpstreamInvalid, cause, "server returned HTTP %d for %s %s", f.status, f.method, f.url)
	}
	e.HTTPStatus = f.status
	e.notSpoken = f.notSpoken
	return e
}

func wantedBody(method string) string {
	if method == "GET" {
		return "not an event stream"
	}
	return "not JSON or an event stream"
}

// tooLargeError is the fatal error for a message over the cap.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("response larger than %s", sizeText(e.limit))
}
