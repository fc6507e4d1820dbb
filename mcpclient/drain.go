package mcpclient

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// drainGrace is how long a response body may still be read after the
// request's context has ended. See detach.
const drainGrace = time.Second

// detached is the lifetime of a request given its own context by detach.
// A nil *detached (a request that was not detached) does nothing.
type detached struct {
	cancel context.CancelCauseFunc
	stop   func() bool // stops watching the caller's context

	mu    sync.Mutex
	got   bool // the response headers arrived
	done  bool // end was called
	timer *time.Timer
}

// detach gives a POST a context of its own, so that the connection it
// runs on can be reused.
//
// The go-sdk sends each call as a POST bound to the call's context and
// reads the answer, often an SSE stream, on another goroutine: the call
// returns as soon as its response event is read, and its context is
// cancelled (Session.CallTool bounds every operation) while that goroutine
// is still reading the end of the stream. net/http closes a connection
// whose request is cancelled before its body is read to the end, so under
// concurrent calls most connections would be dropped and the next call
// would dial.
//
// Until the response headers arrive, the returned request is cancelled
// with the caller's context (and its cause), as before. Once they have,
// cancellation waits drainGrace for the body to be read and closed: a
// stream that ends normally returns its connection to the pool, and one
// that does not (a call given up on) is still cut. Call end once the
// response body is closed, or when the round trip failed.
func detach(req *http.Request) (*http.Request, *detached) {
	parent := req.Context()
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	d := &detached{cancel: cancel}
	d.stop = context.AfterFunc(parent, func() {
		cause := context.Cause(parent)
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case d.done:
		case d.got:
			d.timer = time.AfterFunc(drainGrace, func() { cancel(cause) })
		default:
			cancel(cause)
		}
	})
	return req.WithContext(ctx), d
}

// responded notes that the response headers arrived.
func (d *detached) responded() {
	if d == nil {
		return
	}
	d.mu.Lock()
	d.got = true
	d.mu.Unlock()
}

// end releases the request's context.
func (d *detached) end() {
	if d == nil {
		return
	}
	d.stop()
	d.mu.Lock()
	d.done = true
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.cancel(context.Canceled)
}

// body wraps a response body so that closing it ends the request.
func (d *detached) body(rc io.ReadCloser) io.ReadCloser {
	if d == nil {
		return rc
	}
	return &endingBody{ReadCloser: rc, end: d.end}
}

// endingBody calls end once the body it wraps is closed.
type endingBody struct {
	io.ReadCloser
	once sync.Once
	end  func()
}

// ReadReady passes on the body's readyReader.
func (b *endingBody) ReadReady() bool { return readReady(b.ReadCloser) }

func (b *endingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.end)
	return err
}

// readyReader is a body that tells whether a Read would return without
// waiting for the server (internal/inlinehttp's bodies do).
type readyReader interface{ ReadReady() bool }

// readReady reports whether r is a readyReader ready to be read.
func readReady(r io.Reader) bool {
	rr, ok := r.(readyReader)
	return ok && rr.ReadReady()
}

// finishBody reads the rest of a response whose answer has been read, and
// closes it, so that its connection can carry the next request. The rest
// is usually already there (a server ends the stream after the answer):
// then it is read here, on the caller's goroutine, without waking another;
// otherwise (a body that cannot tell, or a server still sending) on a
// goroutine of its own, while the caller goes on.
func finishBody(rest io.ReadCloser) {
	var buf [512]byte
	for readReady(rest) {
		if _, err := rest.Read(buf[:]); err != nil {
			rest.Close()
			return
		}
	}
	go func() {
		_, _ = io.Copy(io.Discard, rest)
		rest.Close()
	}()
}

// restWait bounds finishBodyNow's wait for the rest of a stream.
const restWait = 20 * time.Millisecond

// finishBodyNow is finishBody for a caller whose next request follows at
// once (a probe's handshake): the rest is read on the caller's goroutine,
// since the end of a stream is normally a moment behind its answer (a
// server writes the answer's event, then ends the stream), and waiting
// for it keeps the connection for that request, where finishBody's
// goroutine would still hold it and the request would dial. A rest that
// takes longer than restWait is cut (the connection closed; the next
// request dials).
func finishBodyNow(rest io.ReadCloser) {
	cut := time.AfterFunc(restWait, func() { rest.Close() })
	_, _ = io.Copy(io.Discard, rest)
	cut.Stop()
	rest.Close()
}
