package mcpclient

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func TestConnectReportsToolListChanges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport registry.Transport
		sse       bool
	}{
		{name: "streamable", transport: registry.TransportStreamableHTTP},
		{name: "sse", transport: registry.TransportSSE, sse: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer("changing")
			h := streamableHandler(s, nil)
			if tt.sse {
				h = sseHandler(s)
			}
			srv, _ := serve(t, h)
			c := newTestClient(t, Options{})
			var changed atomic.Int64
			sess, err := c.connect(context.Background(), &registry.Connection{
				Transport: tt.transport, Endpoint: srv.URL, TimeoutMS: 5000,
			}, connectOptions{standaloneSSE: true, onToolsChanged: func() { changed.Add(1) }})
			require.NoError(t, err)
			defer sess.Close()

			addBigTool(s, 10)
			require.Eventually(t, func() bool { return changed.Load() > 0 }, 5*time.Second, 10*time.Millisecond)
			tools, err := sess.ListTools(context.Background())
			require.NoError(t, err)
			assert.Len(t, tools, 4)
		})
	}
}

func TestSessionWaitEndsWithTheConnection(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t, sseHandler(newTestServer("short-lived")))
	c := newTestClient(t, Options{})
	sess, err := c.Connect(context.Background(), &registry.Connection{
		Transport: registry.TransportSSE, Endpoint: srv.URL, TimeoutMS: 5000,
	})
	require.NoError(t, err)
	defer sess.Close()
	done := make(chan struct{})
	go func() {
		_ = sess.wait()
		close(done)
	}()
	srv.CloseClientConnections()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return after the server hung up")
	}
}

func TestUpstreamAndTrimKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantKind   error
		wantDetail string
	}{
		{name: "timeout", err: newError(registry.ErrUpstreamTimeout, nil, "no answer within %dms", 1000),
			wantKind: registry.ErrUpstreamTimeout, wantDetail: "no answer within 1000ms"},
		{name: "server error", err: newError(registry.ErrUpstreamError, nil, "unknown tool (code -32602)"),
			wantKind: registry.ErrUpstreamError, wantDetail: "unknown tool (code -32602)"},
		{name: "foreign error", err: errors.New("boom"), wantKind: registry.ErrUpstreamConnection, wantDetail: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := upstream(tt.err)
			assert.ErrorIs(t, err, tt.wantKind)
			assert.Equal(t, tt.err.Error(), err.Error())
			var e *Error
			if errors.As(err, &e) {
				assert.Equal(t, tt.wantDetail, trimKind(e))
			}
		})
	}
	assert.NoError(t, upstream(nil))
}
