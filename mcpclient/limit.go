package mcpclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
)

// The readers here cap what a server can make tether buffer. The go-sdk
// reads plain JSON responses with io.ReadAll and has its own, larger caps on
// SSE events and stdio lines that fail without saying why; these readers
// trip first and record the reason on the tracker, so the failure is
// reported as registry.ErrUpstreamInvalid "response larger than 8 MiB".

// sdkSlack is added to the cap when configuring the go-sdk's own limits, so
// ours always trip first and the reason is known.
const sdkSlack = 64 << 10

// bodyLimiter caps a whole response body (a JSON response to one request).
// With checkJSON it also keeps the body (at most limit bytes) and, at its
// end, records a body that is not JSON: the go-sdk closes the session on a
// decode failure and reports only "connection closed", which would blame
// the network for what is the server's invalid answer.
type bodyLimiter struct {
	rc        io.ReadCloser
	limit     int64
	n         int64
	tr        *tracker
	checkJSON bool
	buf       []byte
}

func (b *bodyLimiter) Read(p []byte) (int, error) {
	if b.n > b.limit {
		return 0, &tooLargeError{limit: b.limit}
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		e := &tooLargeError{limit: b.limit}
		b.tr.fail(e)
		return 0, e
	}
	if b.checkJSON {
		b.buf = append(b.buf, p[:n]...)
		if err == io.EOF && len(bytes.TrimSpace(b.buf)) > 0 && !json.Valid(b.buf) {
			b.tr.fail(errNotJSON)
		}
	}
	return n, err
}

// errNotJSON is recorded for a JSON response whose body is not JSON.
var errNotJSON = errors.New("invalid MCP response: the server answered with a body that is not JSON")

func (b *bodyLimiter) Close() error { return b.rc.Close() }

// ReadReady passes on the body's readyReader.
func (b *bodyLimiter) ReadReady() bool { return readReady(b.rc) }

// framer caps the size of each frame in a byte stream: an SSE event (ended
// by a blank line) or a newline-delimited JSON line (stdio). Only the bytes
// since the last frame boundary count, so a long-lived stream may carry any
// number of messages.
type framer struct {
	limit  int64
	events bool // SSE: frames end at a blank line; else at every newline
	tr     *tracker

	n         int64 // bytes in the current frame
	lineEmpty bool  // no byte since the last line break
	lastCR    bool  // the previous byte was \r (so a \n completes "\r\n")
	err       error
}

func newFramer(limit int64, events bool, tr *tracker) *framer {
	return &framer{limit: limit, events: events, tr: tr, lineEmpty: true}
}

// scan accounts for p and reports the error once a frame is over the limit.
func (f *framer) scan(p []byte) error {
	if f.err != nil {
		return f.err
	}
	for _, c := range p {
		switch {
		case c == '\n' && f.lastCR:
			f.lastCR = false
		case c == '\n' || c == '\r':
			f.lastCR = c == '\r'
			if !f.events || f.lineEmpty {
				f.n = 0
			}
			f.lineEmpty = true
		default:
			f.lastCR = false
			f.lineEmpty = false
			f.n++
			if f.n > f.limit {
				f.err = &tooLargeError{limit: f.limit}
				f.tr.fail(f.err)
				return f.err
			}
		}
	}
	return nil
}

// framedReader applies a framer to a reader.
type framedReader struct {
	rc io.ReadCloser
	f  *framer
}

func (r *framedReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.f.tr.sawResponse()
	}
	if ferr := r.f.scan(p[:n]); ferr != nil {
		return 0, ferr
	}
	return n, err
}

func (r *framedReader) Close() error { return r.rc.Close() }

// ReadReady passes on the body's readyReader.
func (r *framedReader) ReadReady() bool { return readReady(r.rc) }

// tailBuffer keeps the last bytes written to it: the end of a stdio
// server's stderr, which usually says why it gave up.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	// dropped: bytes were written before those in buf.
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
		t.dropped = true
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.dropped = true
	}
	return n, nil
}

// contents returns what the buffer holds and whether earlier bytes were
// dropped.
func (t *tailBuffer) contents() (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf), t.dropped
}
