package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// wsSubprotocol is the websocket subprotocol MCP servers expect.
const wsSubprotocol = "mcp"

// wsCloseGrace bounds the close handshake; a peer that does not answer it
// is cut off.
const wsCloseGrace = time.Second

// wsTransport is an [mcp.Transport] over github.com/coder/websocket, which
// the go-sdk does not have: one JSON-RPC message per text frame.
type wsTransport struct {
	url    string
	client *http.Client // guarded; its Timeout must be 0 for coder/websocket
	limit  int64
	tr     *tracker
}

// Connect dials the websocket. ctx must live as long as the connection: it
// is the handshake request's context.
func (t *wsTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	ws, _, err := websocket.Dial(ctx, t.url, &websocket.DialOptions{
		HTTPClient:   t.client,
		Subprotocols: []string{wsSubprotocol},
	})
	if err != nil {
		return nil, err
	}
	return newWSConn(ws, t.limit, t.tr), nil
}

// wsConn is an [mcp.Connection] over a websocket; tests use it on the
// server side too.
//
// coder/websocket closes the whole socket when the context of a Read or
// Write expires, so the per-call contexts the SDK passes are never given to
// it: one goroutine reads for the connection's lifetime, and writes run
// under the lifetime context while the caller waits on its own.
type wsConn struct {
	ws    *websocket.Conn
	limit int64
	tr    *tracker

	life context.Context
	stop context.CancelFunc

	incoming chan jsonrpc.Message
	done     chan struct{} // closed when the read loop ends
	readErr  error         // why it ended; written before done is closed

	closeOnce sync.Once
}

func newWSConn(ws *websocket.Conn, limit int64, tr *tracker) *wsConn {
	// coder/websocket's default read limit is 32 KiB, far below the size
	// of a real tools/list.
	ws.SetReadLimit(limit)
	life, stop := context.WithCancel(context.Background())
	c := &wsConn{
		ws:       ws,
		limit:    limit,
		tr:       tr,
		life:     life,
		stop:     stop,
		incoming: make(chan jsonrpc.Message),
		done:     make(chan struct{}),
	}
	go c.readLoop()
	return c
}

func (c *wsConn) readLoop() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(c.life)
		switch {
		case c.life.Err() != nil:
			c.readErr = io.EOF
			return
		case errors.Is(err, websocket.ErrMessageTooBig):
			tl := &tooLargeError{limit: c.limit}
			c.tr.fail(tl)
			c.readErr = tl
			return
		case err != nil:
			c.readErr = err
			return
		}
		c.tr.sawResponse()
		if typ != websocket.MessageText {
			c.readErr = errors.New("the server sent a binary websocket message; MCP messages are JSON text")
			_ = c.ws.Close(websocket.StatusUnsupportedData, "MCP messages are text")
			return
		}
		msg, err := jsonrpc.DecodeMessage(data)
		if err != nil {
			c.readErr = fmt.Errorf("the server sent a websocket message that is not JSON-RPC: %w", err)
			_ = c.ws.Close(websocket.StatusInvalidFramePayloadData, "not JSON-RPC")
			return
		}
		select {
		case c.incoming <- msg:
		case <-c.life.Done():
			c.readErr = io.EOF
			return
		}
	}
}

// Read implements [mcp.Connection].
func (c *wsConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case msg := <-c.incoming:
		return msg, nil
	case <-c.done:
		return nil, c.readErr
	}
}

// Write implements [mcp.Connection].
func (c *wsConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return fmt.Errorf("encoding a websocket message: %w", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- c.ws.Write(c.life, websocket.MessageText, data) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		// The write goes on under the lifetime context; Close ends it.
		return ctx.Err()
	}
}

// Close implements [mcp.Connection]: a close handshake, bounded by
// wsCloseGrace, then the socket is torn down.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		closed := make(chan struct{})
		go func() {
			_ = c.ws.Close(websocket.StatusNormalClosure, "")
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(wsCloseGrace):
		}
		c.stop()
	})
	return nil
}

// SessionID implements [mcp.Connection]; websocket MCP has no session ids.
func (c *wsConn) SessionID() string { return "" }
