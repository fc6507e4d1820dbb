package inlinehttp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/inlinehttp"
)

// server is an httptest server that counts the connections it accepted.
type server struct {
	*httptest.Server
	accepted atomic.Int64
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.accepted.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// holdRequests returns hold, which keeps a handler until its request ends
// or release is called (defer it: a server's Close waits for handlers).
func holdRequests() (hold func(*http.Request), release func()) {
	ch := make(chan struct{})
	return func(r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-ch:
			}
		}, func() {
			close(ch)
		}
}

func newClient(base *http.Transport) *http.Client {
	return &http.Client{Transport: inlinehttp.New(base)}
}

func post(t *testing.T, c *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestPostsReuseOneConnection(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("sse") != "" {
			// An event stream, chunked, flushed event by event, as MCP
			// servers answer a POST.
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %s-%d\n\n", b, i)
				w.(http.Flusher).Flush()
			}
			return
		}
		fmt.Fprintf(w, "echo %s", b)
	})
	c := newClient(&http.Transport{})
	for i := range 20 {
		code, body := post(t, c, s.URL, fmt.Sprint(i))
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, fmt.Sprintf("echo %d", i), body)
		_, body = post(t, c, s.URL+"?sse=1", fmt.Sprint(i))
		assert.Equal(t, fmt.Sprintf("data: %d-0\n\ndata: %d-1\n\ndata: %d-2\n\n", i, i, i), body)
	}
	assert.Equal(t, int64(1), s.accepted.Load(), "40 sequential POSTs, one connection")
}

func TestConcurrentPostsKeepTheirConnections(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	c := newClient(&http.Transport{MaxIdleConnsPerHost: 64})
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				want := fmt.Sprintf("%d/%d", w, i)
				resp, err := c.Post(s.URL, "text/plain", strings.NewReader(want))
				if !assert.NoError(t, err) {
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.NoError(t, err)
				assert.Equal(t, want, string(b))
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, s.accepted.Load(), int64(workers), "at most one connection per concurrent caller")
}

func TestEmptyAnswersNeedNotBeRead(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted) // a notification's answer
	})
	c := newClient(&http.Transport{})
	for range 5 {
		resp, err := c.Post(s.URL, "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		assert.Equal(t, http.StatusAccepted, resp.StatusCode)
		resp.Body.Close() // unread
	}
	assert.Equal(t, int64(1), s.accepted.Load())
}

func TestABodyClosedEarlyClosesItsConnection(t *testing.T) {
	hold, release := holdRequests()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("endless") != "" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			hold(r)
			return
		}
		fmt.Fprint(w, "ok")
	})
	defer release()
	c := newClient(&http.Transport{})
	resp, err := c.Post(s.URL+"?endless=1", "text/plain", nil)
	require.NoError(t, err)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: first\n", line)
	// A stream that never ends: Close must not wait for its end.
	require.NoError(t, resp.Body.Close())
	code, body := post(t, c, s.URL, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", body)
	assert.Equal(t, int64(2), s.accepted.Load(), "the cut stream's connection is not reused")
}

func TestAConnectionTheServerClosedIsNotReused(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
	c := newClient(&http.Transport{})
	post(t, c, s.URL, "")
	// The server drops its idle connections (as Node does after 5 s),
	// without a word to the client.
	s.CloseClientConnections()
	// Let the server's FIN reach the client's socket (not asserted: the
	// point is what the next request does once it has).
	time.Sleep(100 * time.Millisecond)
	for range 3 {
		code, _ := post(t, c, s.URL, "")
		assert.Equal(t, http.StatusOK, code)
	}
	assert.Equal(t, int64(2), s.accepted.Load())
}

func TestContextEndsTheWait(t *testing.T) {
	hold, release := holdRequests()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hold(r)
	})
	defer release()
	c := newClient(&http.Transport{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader("x"))
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the request be sent (not asserted)
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("the request did not end with its context")
	}
}

func TestContextEndsABodyRead(t *testing.T) {
	hold, release := holdRequests()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		hold(r)
	})
	defer release()
	c := newClient(&http.Transport{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, nil)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(resp.Body)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		assert.Error(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the body read did not end with the request's context")
	}
}

func TestInterimAnswersAreSkipped(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		fmt.Fprint(w, "final")
	})
	c := newClient(&http.Transport{})
	code, body := post(t, c, s.URL, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "final", body)
}

func TestOversizedHeaderRefused(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("a", 64<<10))
		fmt.Fprint(w, "ok")
	})
	c := newClient(&http.Transport{MaxResponseHeaderBytes: 16 << 10})
	_, err := c.Post(s.URL, "text/plain", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "headers exceeded the limit")
}

func TestResponseHeaderTimeout(t *testing.T) {
	hold, release := holdRequests()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hold(r)
	})
	defer release()
	c := newClient(&http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond})
	_, err := c.Post(s.URL, "text/plain", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timeout awaiting response headers")
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
}

func TestOnlyPostAndDeleteAreInline(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Method)
	})
	var baseDials atomic.Int64
	base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		baseDials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	c := newClient(base)
	resp, err := c.Get(s.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "GET", string(b))
	assert.Equal(t, int64(1), baseDials.Load(), "GET dialled by the base")
	_, body := post(t, c, s.URL, "")
	assert.Equal(t, "POST", body)
	assert.Equal(t, int64(2), baseDials.Load(), "POST dialled with the base's DialContext, on a connection of its own")
	req, err := http.NewRequest(http.MethodDelete, s.URL, nil)
	require.NoError(t, err)
	resp, err = c.Do(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "DELETE", string(b))
	assert.Equal(t, int64(2), baseDials.Load(), "DELETE made inline, on the connection the POST left")
}

func TestTLSSpeaksHTTP11AndTrustsTheBasesRoots(t *testing.T) {
	var protos sync.Map
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		fmt.Fprint(w, "secure")
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	defer s.Close()
	base := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	c := newClient(base)
	_, err := c.Post(s.URL, "text/plain", nil)
	require.Error(t, err, "the test CA is not trusted yet")
	// Trusting it on the base applies to the inline path.
	base.TLSClientConfig.RootCAs = s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for range 3 {
		code, body := post(t, c, s.URL, "")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "secure", body)
	}
	_, h2 := protos.Load("HTTP/2.0")
	assert.False(t, h2)
	_, h1 := protos.Load("HTTP/1.1")
	assert.True(t, h1)
}

func TestReadReadyOnceTheRestHasArrived(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: answer\n\n")
		w.(http.Flusher).Flush()
	})
	c := newClient(&http.Transport{})
	for range 3 {
		resp, err := c.Post(s.URL, "text/plain", nil)
		require.NoError(t, err)
		rr, ok := resp.Body.(interface{ ReadReady() bool })
		require.True(t, ok)
		br := bufio.NewReaderSize(resp.Body, 16)
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "data: answer\n", line)
		// The server has ended the stream: the rest arrives, and is read
		// without waiting.
		require.Eventually(t, rr.ReadReady, 30*time.Second, time.Millisecond)
		_, err = io.Copy(io.Discard, br)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, int64(1), s.accepted.Load())
}

// A connection whose exchange ends after CloseIdleConnections is closed,
// not kept, as net/http does: a session closing its client while a stream
// is still being read must not leave the connection open for good.
func TestCloseIdleConnectionsClosesThoseStillInUse(t *testing.T) {
	release := make(chan struct{})
	var closed atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: last\n\n")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	tr := inlinehttp.New(&http.Transport{})
	resp, err := (&http.Client{Transport: tr}).Post(s.URL, "text/plain", nil)
	require.NoError(t, err)
	tr.CloseIdleConnections() // the session is closed while its stream is read
	close(release)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "data: first\n\ndata: last\n\n", string(b))
	resp.Body.Close()
	require.Eventually(t, func() bool { return closed.Load() == 1 }, 30*time.Second, 5*time.Millisecond,
		"the connection is closed once its exchange is over")
}

// A request whose context has ended is not sent, as net/http does not
// send it: a tool call given up on must not run.
func TestARequestWhoseContextEndedIsNotSent(t *testing.T) {
	var got atomic.Int64
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		fmt.Fprint(w, "ok")
	})
	c := newClient(&http.Transport{})
	post(t, c, s.URL, "") // a kept connection
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader("x"))
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		require.ErrorIs(t, err, context.Canceled)
	}
	post(t, c, s.URL, "") // after the others, were they sent
	assert.Equal(t, int64(2), got.Load(), "the requests made with an ended context reached the server")
}

func TestTLSConnectionsAreReused(t *testing.T) {
	var accepted atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secure")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepted.Add(1)
		}
	}
	s.StartTLS()
	defer s.Close()
	base := &http.Transport{TLSClientConfig: s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}
	c := newClient(base)
	for range 10 {
		code, body := post(t, c, s.URL, "")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "secure", body)
	}
	assert.Equal(t, int64(1), accepted.Load())
}

// A POST redirected with 307 or 308 is sent again, body and all, to the
// new location, under the client's CheckRedirect.
func TestRedirectedPosts(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/307":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/308":
			http.Redirect(w, r, "/final", http.StatusPermanentRedirect)
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b)
		}
	})
	c := newClient(&http.Transport{})
	var checked atomic.Int64
	c.CheckRedirect = func(*http.Request, []*http.Request) error { checked.Add(1); return nil }
	for _, p := range []string{"/307", "/308"} {
		code, body := post(t, c, s.URL+p, "payload")
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "POST payload", body)
	}
	assert.Equal(t, int64(2), checked.Load())
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return fmt.Errorf("refused") }
	_, err := c.Post(s.URL+"/307", "text/plain", strings.NewReader("x"))
	require.ErrorContains(t, err, "refused")
	assert.Equal(t, int64(1), s.accepted.Load())
}

// ReadReady may see bytes at hand that are only the start of what the
// next Read needs (here a chunk header cut short); that Read does not wait
// for the rest for good, and the connection is not kept.
func TestReadReadyOnARestCutShort(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cut") == "" {
			fmt.Fprint(w, "ok")
			return
		}
		nc, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		defer nc.Close()
		fmt.Fprint(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"+
			"e\r\ndata: answer\n\n\r\n1")
		bw.Flush()
		<-release
	})
	c := newClient(&http.Transport{})
	resp, err := c.Post(s.URL+"?cut=1", "text/plain", nil)
	require.NoError(t, err)
	rr := resp.Body.(interface{ ReadReady() bool })
	br := bufio.NewReaderSize(resp.Body, 16)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: answer\n", line)
	_, err = br.ReadString('\n')
	require.NoError(t, err)
	require.True(t, rr.ReadReady(), "the start of a chunk header is at hand")
	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 64))
		errc <- err
	}()
	select {
	case err := <-errc:
		require.Error(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("a Read after ReadReady waited for a rest that never came")
	}
	resp.Body.Close()
	code, body := post(t, c, s.URL, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", body)
	assert.Equal(t, int64(2), s.accepted.Load(), "the cut connection is not reused")
}

// A server may answer before it has read the request (a 401 or 413 to a
// large body) and then close the connection: the answer is what the
// caller gets, as from net/http, not the failure to write the rest.
func TestAnAnswerBeforeTheBodyIsRead(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	c := newClient(&http.Transport{})
	for range 3 {
		resp, err := c.Post(s.URL, "application/json", strings.NewReader(strings.Repeat("x", 16<<20)))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, `Bearer error="insufficient_scope"`, resp.Header.Get("WWW-Authenticate"))
	}
}

// A request whose body fails to be read is not sent again, and does not
// wait for an answer to a request the server never got whole.
func TestARequestBodyThatFails(t *testing.T) {
	var got atomic.Int64
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		_, _ = io.ReadAll(r.Body)
		fmt.Fprint(w, "ok")
	})
	c := newClient(&http.Transport{})
	post(t, c, s.URL, "") // a kept connection
	errBody := fmt.Errorf("the body broke")
	for _, before := range []int{0, 64 << 10} {
		req, _ := http.NewRequest(http.MethodPost, s.URL, io.MultiReader(
			strings.NewReader(strings.Repeat("x", before)), iotest.ErrReader(errBody)))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("again")), nil }
		req.ContentLength = int64(before) + 10
		_, err := c.Do(req)
		require.ErrorContains(t, err, errBody.Error())
	}
	code, body := post(t, c, s.URL, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", body)
}

// Whatever an exchange came to (answered, cut, cancelled while waiting
// or reading, a server that closes), no connection is left open once the
// client lets its idle ones go.
func TestNoConnectionLeftOpen(t *testing.T) {
	var opened, closed atomic.Int64
	hold, release := holdRequests()
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read whole, so that the server watches for the client's close.
		_, _ = io.ReadAll(r.Body)
		switch r.URL.Query().Get("k") {
		case "close":
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "bye")
		case "unframed": // a body that ends with the connection
			w.Header().Set("Connection", "close")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "until the end")
		case "hang":
			hold(r)
		case "stream":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			hold(r)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	defer release()
	tr := inlinehttp.New(&http.Transport{})
	c := &http.Client{Transport: tr}
	for i := range 10 {
		for _, k := range []string{"", "close", "unframed", ""} {
			code, _ := post(t, c, s.URL+"?k="+k, "x")
			assert.Equal(t, http.StatusOK, code)
		}
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"?k=hang", strings.NewReader("x"))
		time.AfterFunc(time.Duration(i)*time.Millisecond, cancel)
		_, err := c.Do(req)
		require.ErrorIs(t, err, context.Canceled)
		ctx, cancel = context.WithCancel(context.Background())
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"?k=stream", strings.NewReader("x"))
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = resp.Body.Read(make([]byte, 4))
		cancel()
		_, err = io.ReadAll(resp.Body)
		require.Error(t, err)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	require.Eventually(t, func() bool { return opened.Load() == closed.Load() }, 30*time.Second, 5*time.Millisecond,
		"connections left open")
	t.Logf("%d connections", opened.Load())
}

// A kept connection idle for the base's IdleConnTimeout is closed then,
// as net/http closes it, not only when the next request comes.
func TestIdleConnectionsExpire(t *testing.T) {
	var opened, closed atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	c := newClient(&http.Transport{IdleConnTimeout: 200 * time.Millisecond})
	for range 3 {
		for range 5 {
			code, _ := post(t, c, s.URL, "")
			assert.Equal(t, http.StatusOK, code)
		}
		opens := opened.Load()
		require.Eventually(t, func() bool { return closed.Load() == opens }, 30*time.Second, 5*time.Millisecond,
			"the idle connection is closed")
	}
}

// A request ended by its context fails with the context's cause, as from
// net/http: a caller may tell a deadline from a cancellation by it.
func TestContextCause(t *testing.T) {
	hold, release := holdRequests()
	defer release()
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		hold(r)
	})
	c := newClient(&http.Transport{})
	why := fmt.Errorf("the caller gave up")
	for _, before := range []bool{true, false} {
		ctx, cancel := context.WithCancelCause(context.Background())
		if before {
			cancel(why)
		} else {
			time.AfterFunc(50*time.Millisecond, func() { cancel(why) })
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, strings.NewReader("x"))
		_, err := c.Do(req)
		require.ErrorIs(t, err, why)
	}
}

// A connection a server switched to another protocol (101) carries no
// further HTTP exchange.
func TestASwitchedConnectionIsNotReused(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("switch") == "" {
			fmt.Fprint(w, "ok")
			return
		}
		nc, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprint(bw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
		bw.Flush()
		// Whatever the other protocol says, later: not an HTTP answer.
		time.Sleep(100 * time.Millisecond)
		fmt.Fprint(bw, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged")
		bw.Flush()
		time.Sleep(time.Second)
		nc.Close()
	})
	c := newClient(&http.Transport{})
	resp, err := c.Post(s.URL+"?switch=1", "text/plain", nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	resp.Body.Close()
	code, body := post(t, c, s.URL, "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok", body)
	assert.Equal(t, int64(2), s.accepted.Load())
}

// A chunked answer's trailers reach the caller, and its connection is kept.
func TestTrailers(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		fmt.Fprint(w, "data")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
	})
	c := newClient(&http.Transport{})
	for range 3 {
		resp, err := c.Post(s.URL, "text/plain", nil)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "data", string(b))
		assert.Equal(t, "abc", resp.Trailer.Get("X-Checksum"))
	}
	assert.Equal(t, int64(1), s.accepted.Load())
}
