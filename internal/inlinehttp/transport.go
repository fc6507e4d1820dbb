// Package inlinehttp makes HTTP/1.1 exchanges on the caller's goroutine.
//
// net/http's Transport hands every exchange between three goroutines: the
// caller's, and the connection's write and read loops. Under light load each
// hand-off wakes a parked thread, and on a small machine those wake-ups are
// most of what a short exchange costs: tether's end-to-end benchmark (an agent
// calling a tool through tether, whose answer is one short POST to the
// upstream) spent about a sixth of tether's CPU and ~75 µs of each call's
// latency on them. [Transport] writes the request and reads the response on
// the goroutine that asked, over connections it keeps for reuse; a
// connection's read then wakes the caller directly.
//
// Message framing is the standard library's ([http.Request.Write] and
// [http.ReadResponse]); this package only keeps connections. It speaks
// HTTP/1.1 only, also over TLS, and only for POST and DELETE (an MCP
// session's end: one short exchange, made on a connection the session's
// POSTs left open instead of a new one): requests that open long-lived
// streams (GET) or upgrade (websocket), and any other method, go to the base
// [http.Transport] unchanged, which may speak HTTP/2.
package inlinehttp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Transport is an [http.RoundTripper] that makes POST and DELETE exchanges inline and
// passes every other request to its base. Dialling, TLS, timeouts and pool
// sizes are the base's: DialContext, TLSClientConfig, TLSHandshakeTimeout,
// ResponseHeaderTimeout, IdleConnTimeout, MaxIdleConnsPerHost and
// MaxResponseHeaderBytes are read from it on each use, so a change to the
// base (a test trusting its CA) applies here too. The base must not use a
// proxy: the inline path always connects directly.
type Transport struct {
	base *http.Transport

	mu   sync.Mutex
	idle map[string][]*conn // by scheme://host:port, most recently used last
	// closeIdle: CloseIdleConnections was called and no request made
	// since; a connection whose exchange ends is closed, not kept (as
	// net/http does), so that one still in use when its client was let go
	// does not stay open.
	closeIdle bool
}

// New returns a Transport over base.
func New(base *http.Transport) *Transport {
	return &Transport{base: base, idle: map[string][]*conn{}}
}

// Base is the transport that carries what is not made inline.
func (t *Transport) Base() *http.Transport { return t.base }

// conn is one kept connection.
type conn struct {
	key    string
	nc     net.Conn
	raw    syscall.RawConn // the TCP socket under nc, for the liveness check; nil if unknown
	budget *budgetReader
	br     *bufio.Reader
	bw     *bufio.Writer // writes through written
	// written counts what an exchange's write got onto the socket.
	written countingWriter
	idleAt  time.Time
	// idleTimer closes the connection once it has been kept unused for
	// the base's IdleConnTimeout (set on its first put, reset on each).
	idleTimer *time.Timer
}

// errHeaderTooLarge ends a response whose header exceeds the base's
// MaxResponseHeaderBytes.
var errHeaderTooLarge = errors.New("inlinehttp: server response headers exceeded the limit")

// RoundTrip implements [http.RoundTripper].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	scheme := req.URL.Scheme
	if (req.Method != http.MethodPost && req.Method != http.MethodDelete) || (scheme != "http" && scheme != "https") || req.URL.Host == "" {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	if ctx.Err() != nil {
		// As net/http: a request whose context has ended is not sent (a
		// kept connection would otherwise carry it before the context's
		// AfterFunc closed it).
		closeBody(req)
		return nil, context.Cause(ctx)
	}
	c, reused, err := t.get(ctx, req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.exchange(ctx, c, req)
	if err != nil && reused && errors.As(err, new(nothingWritten)) && (req.GetBody != nil || req.Body == nil) {
		// A kept connection the server had closed, found so only when the
		// request was being written: nothing reached the server, so the
		// request is sent again on a new connection, as net/http does.
		req = req.Clone(ctx)
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			req.Body = body
		}
		if c, err = t.dial(ctx, req); err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err = t.exchange(ctx, c, req)
	}
	return resp, err
}

// nothingWritten is a write failure before any byte reached the socket.
type nothingWritten struct{ error }

func (e nothingWritten) Unwrap() error { return e.error }

// exchange writes req on c and reads the response header. The response body
// reads from c; c is kept for reuse once the body has been read to its end,
// and closed otherwise.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	// Whatever blocks on the connection (writing, waiting for the header,
	// reading the body) ends when ctx does.
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx) // as net/http
		}
		return nil, err
	}
	written := &c.written
	written.n, written.err = 0, nil
	werr := req.Write(c.bw)
	if werr == nil {
		werr = c.bw.Flush()
	}
	if werr != nil {
		if written.err == nil || ctx.Err() != nil {
			// Not the connection's failure (the request's body could
			// not be read), or the context's.
			return fail(werr)
		}
		if written.n == 0 {
			return fail(nothingWritten{werr})
		}
		// The server may have answered before reading the whole request
		// (a 401 or 413 to a large body) and closed the connection: its
		// answer, already sent, is what the caller gets, as from net/http,
		// whose read loop would have read it. The connection is not kept.
	}
	if d := t.base.ResponseHeaderTimeout; d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	c.budget.n = t.maxHeaderBytes() + int64(c.br.Size())
	var resp *http.Response
	for {
		r, err := http.ReadResponse(c.br, req)
		if err != nil {
			if werr != nil {
				return fail(werr) // no answer: the write's failure says why
			}
			if errors.Is(err, errHeaderTooLarge) {
				return fail(errHeaderTooLarge)
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fail(headerTimeout{})
			}
			return fail(err)
		}
		// 1xx answers (but 101) are interim: the final one follows.
		if r.StatusCode >= 100 && r.StatusCode < 200 && r.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		resp = r
		break
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.budget.n = -1
	// A switched connection (101) speaks HTTP no more.
	keep := werr == nil && !resp.Close && !req.Close && resp.ProtoAtLeast(1, 1) &&
		resp.StatusCode != http.StatusSwitchingProtocols
	b := &body{rc: resp.Body, t: t, c: c, stop: stop, keep: keep}
	if resp.Body == http.NoBody {
		// No body to read (a 202 to a notification, a 204): the exchange
		// is over; a caller need not read an empty body to its end for
		// the connection to be kept.
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// headerTimeout is the base's ResponseHeaderTimeout passing; a net.Error
// whose Timeout is true, as net/http's.
type headerTimeout struct{}

func (headerTimeout) Error() string   { return "inlinehttp: timeout awaiting response headers" }
func (headerTimeout) Timeout() bool   { return true }
func (headerTimeout) Temporary() bool { return true }

// maxHeaderBytes is the base's limit on a response header, net/http's
// default when unset.
func (t *Transport) maxHeaderBytes() int64 {
	if n := t.base.MaxResponseHeaderBytes; n > 0 {
		return n
	}
	return 10 << 20
}

// get returns a kept connection to req's origin that is still open, or a
// new one.
func (t *Transport) get(ctx context.Context, req *http.Request) (c *conn, reused bool, err error) {
	key := originKey(req)
	t.mu.Lock()
	t.closeIdle = false // a connection is wanted again
	for {
		list := t.idle[key]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		c = list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		t.mu.Unlock()
		// If it has fired, expire finds c gone from the list and
		// leaves it.
		c.idleTimer.Stop()
		if time.Since(c.idleAt) < t.idleTimeout() && c.alive() {
			return c, true, nil
		}
		c.nc.Close()
		t.mu.Lock()
	}
	c, err = t.dial(ctx, req)
	return c, false, err
}

// dial opens a new connection to req's origin, with TLS for https.
func (t *Transport) dial(ctx context.Context, req *http.Request) (*conn, error) {
	host, addr := hostPort(req)
	dial := t.base.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var raw syscall.RawConn
	if sc, ok := nc.(syscall.Conn); ok {
		raw, _ = sc.SyscallConn()
	}
	if req.URL.Scheme == "https" {
		cfg := &tls.Config{}
		if t.base.TLSClientConfig != nil {
			cfg = t.base.TLSClientConfig.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		// This connection speaks HTTP/1.1 only.
		cfg.NextProtos = []string{"http/1.1"}
		tc := tls.Client(nc, cfg)
		hctx := ctx
		if d := t.base.TLSHandshakeTimeout; d > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &conn{key: originKey(req), nc: nc, raw: raw}
	c.budget = &budgetReader{r: nc, n: -1}
	c.br = bufio.NewReader(c.budget)
	c.written.w = nc
	c.bw = bufio.NewWriter(&c.written)
	return c, nil
}

// put keeps c for reuse, closing kept connections that idled too long and
// any beyond the base's per-host limit (the least recently used go first).
func (t *Transport) put(c *conn) {
	now := time.Now()
	c.idleAt = now
	limit := t.base.MaxIdleConnsPerHost
	if limit <= 0 {
		limit = http.DefaultMaxIdleConnsPerHost
	}
	var stale []*conn
	t.mu.Lock()
	if t.closeIdle {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(t.idleTimeout(), func() { t.expire(c) })
	} else {
		c.idleTimer.Reset(t.idleTimeout())
	}
	list := append(t.idle[c.key], c)
	for len(list) > 0 && (len(list) > limit || now.Sub(list[0].idleAt) >= t.idleTimeout()) {
		stale = append(stale, list[0])
		list[0] = nil
		list = list[1:]
	}
	t.idle[c.key] = list
	t.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
}

// expire closes c if it is still kept unused: a connection idle for the
// base's IdleConnTimeout is closed then, as net/http closes it, not when
// the next request to its origin comes (maybe never: the server's end and
// the socket would stay open till then).
func (t *Transport) expire(c *conn) {
	t.mu.Lock()
	list := t.idle[c.key]
	i := slices.Index(list, c)
	if i < 0 {
		t.mu.Unlock()
		return // taken for a request, or closed already
	}
	t.idle[c.key] = slices.Delete(list, i, i+1)
	t.mu.Unlock()
	c.nc.Close()
}

func (t *Transport) idleTimeout() time.Duration {
	if d := t.base.IdleConnTimeout; d > 0 {
		return d
	}
	return 90 * time.Second
}

// CloseIdleConnections closes the kept connections, and the base's; a
// connection in use now is closed when its exchange ends, unless a request
// is made first.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*conn{}
	t.closeIdle = true
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	t.base.CloseIdleConnections()
}

// alive reports whether a kept connection can carry another request: open,
// and with nothing unread on it. A server closes idle connections when it
// pleases (Node's default is after 5 s); net/http notices because its read
// loop is always reading, but nothing reads a connection kept here, so it is
// looked at, without blocking, before it is reused.
func (c *conn) alive() bool {
	if c.br.Buffered() > 0 {
		return false // bytes nobody asked for
	}
	return c.raw == nil || peek(c.raw) == socketEmpty
}

// socketState is what a socket holds for its reader.
type socketState int

const (
	socketEmpty    socketState = iota // open, nothing to read yet
	socketReadable                    // bytes to read
	socketClosed                      // end of stream, or an error
)

// body is a response body read from a kept connection; at its end the
// connection goes back to the pool.
type body struct {
	rc   io.ReadCloser
	t    *Transport
	c    *conn
	stop func() bool
	keep bool

	mu   sync.Mutex
	done bool // the exchange is over
	eof  bool // ... because the body was read to its end
	// soon: ReadReady reported bytes at hand, so the next Read waits for
	// the server at most readyWait (see ReadReady).
	soon bool
}

// readyWait bounds the wait of a Read that ReadReady said would not wait:
// the bytes at hand may be only the start of what the Read needs (a chunk
// header or a TLS record cut short), whose rest is normally an instant
// behind, and may never come.
const readyWait = 20 * time.Millisecond

// errBodyClosed is a Read after Close.
var errBodyClosed = errors.New("inlinehttp: read on a closed response body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	done, eof, soon := b.done, b.eof, b.soon
	b.soon = false
	b.mu.Unlock()
	if eof {
		return 0, io.EOF // and the connection carries another exchange
	}
	if done {
		return 0, errBodyClosed
	}
	if soon {
		_ = b.c.nc.SetReadDeadline(time.Now().Add(readyWait))
	}
	n, err := b.rc.Read(p)
	if soon {
		// Before the connection may be kept (at EOF).
		_ = b.c.nc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		// A deadline passed leaves the framing mid-way: the connection
		// is closed, as for any other failure.
		b.finish(err == io.EOF)
	}
	return n, err
}

// ReadReady reports whether a Read would return without waiting for the
// server: the end was reached, or bytes are at hand. A caller that has what
// it needs from a stream uses it to read the rest (often just the end of
// the chunked encoding) on its own goroutine when it is already there, and
// on another one only when it is not. The bytes at hand may be only part
// of what the next Read needs (a chunk header or TLS record cut short):
// once ReadReady has reported them, that Read waits for the rest at most
// readyWait, and fails (closing the connection) if it has not come, so
// that the caller is never held by a server that stops mid-way.
func (b *body) ReadReady() bool {
	// Under mu: a Close on another goroutine (a context ending) reads the
	// connection's buffer too.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return true
	}
	b.soon = b.c.br.Buffered() > 0 || (b.c.raw != nil && peek(b.c.raw) != socketEmpty)
	return b.soon
}

// Close ends the exchange. A body not read to its end cannot leave the
// connection reusable (the rest would be read as the next response), and
// the standard library's body would read the rest to close it, which a
// stream may never end: the connection is closed first.
func (b *body) Close() error {
	b.finish(false)
	return nil
}

func (b *body) finish(atEOF bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	b.eof = atEOF
	// stop reports false once ctx ended and the connection is (being)
	// closed: it is not kept then.
	if atEOF && b.stop() && b.keep {
		_ = b.rc.Close() // at EOF: reads nothing more
		b.t.put(b.c)
		return
	}
	b.stop()
	b.c.nc.Close()
	_ = b.rc.Close() // the connection is closed: returns at once
}

// budgetReader fails reads once n bytes have been read (n < 0: no limit):
// the response header may not exceed the limit.
type budgetReader struct {
	r io.Reader
	n int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n < 0 {
		return b.r.Read(p)
	}
	if b.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// countingWriter counts the bytes that reached w, and keeps w's failure.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

// originKey is scheme://host:port, the default port explicit.
func originKey(req *http.Request) string {
	_, addr := hostPort(req)
	return req.URL.Scheme + "://" + strings.ToLower(addr)
}

// hostPort is the host to name in TLS and the address to dial.
func hostPort(req *http.Request) (host, addr string) {
	host = req.URL.Hostname()
	port := req.URL.Port()
	if port == "" {
		port = "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
	}
	return host, net.JoinHostPort(host, port)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}
