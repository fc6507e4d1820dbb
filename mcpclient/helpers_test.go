package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/sandbox"
)

// stdioServerArg makes the test binary run an MCP server on stdio instead
// of the tests (see TestMain); the stdio tests run the binary itself as the
// allow-listed command.
const stdioServerArg = "-mcpclient-stdio-server"

// parentOnlyEnv is set in the test process only; a stdio server must not
// see it.
const parentOnlyEnv = "MCPCLIENT_TEST_PARENT_ONLY"

// stdioFixture is a copy of this test binary that the sandbox user can
// run; testSandbox is the sandbox stdio tests run it in.
var (
	stdioFixture string
	testSandbox  *sandbox.Sandbox
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == stdioServerArg {
		os.Exit(runStdioServer(os.Args[2:]))
	}
	os.Setenv(parentOnlyEnv, "leaked")
	path, remove, err := sandboxtest.CopyExecutable()
	if err == nil {
		stdioFixture = path
		testSandbox, err = sandbox.New(sandbox.Config{User: sandboxtest.User()})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdio fixture:", err)
		os.Exit(1)
	}
	code := m.Run()
	remove()
	os.Exit(code)
}

// runStdioServer serves newTestServer over stdin/stdout. Modes: "" (normal),
// "big" (a tool list over 64 KiB), "silent" (never answers; the next
// argument is a marker to find it by), "crash" (writes to stderr and
// exits 3), "stderr-secret" (writes a long last line of stderr that holds
// $SECRET_VALUE near the end, and exits 3).
func runStdioServer(args []string) int {
	mode := ""
	if len(args) > 0 {
		mode = args[0]
	}
	switch mode {
	case "silent":
		time.Sleep(time.Minute)
		return 0
	case "stderr-secret":
		// The secret ends 290 bytes before the end: a cut of the last 300
		// bytes falls inside it.
		fmt.Fprintln(os.Stderr, "Error: "+strings.Repeat("a", 400)+os.Getenv("SECRET_VALUE")+strings.Repeat("z", 290))
		return 3
	case "crash":
		fmt.Fprintln(os.Stderr, "starting up")
		fmt.Fprintln(os.Stderr, "Error: the API_KEY variable is not set")
		return 3
	}
	s := newTestServer("stdio-test")
	if mode == "big" {
		addBigTool(s, 200<<10)
	}
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		return 1
	}
	return 0
}

// testGuard trusts loopback, where the test servers listen.
func testGuard() *netguard.Guard {
	return netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
}

// newTestClient is a Client over testGuard that allows the test binary as a
// stdio command.
func newTestClient(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.Guard == nil {
		opts.Guard = testGuard()
	}
	if opts.StdioCommands == nil {
		opts.StdioCommands = []string{stdioFixture}
	}
	if opts.Sandbox == nil {
		opts.Sandbox = testSandbox
	}
	return New(opts)
}

type addIn struct {
	A int `json:"a"`
	B int `json:"b"`
}

type addOut struct {
	Sum int `json:"sum"`
}

type envOut struct {
	Env map[string]string `json:"env"`
}

// newTestServer is a real go-sdk server with a few tools: add (structured
// output), fail (a tool error), env (the server's environment, for stdio).
func newTestServer(name string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Title: "Test " + name, Version: "1.2.3"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "add", Title: "Add", Description: "Adds two numbers"},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
			return nil, addOut{Sum: in.A + in.B}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return nil, nil, errors.New("the widget is broken")
		})
	mcp.AddTool(s, &mcp.Tool{Name: "env", Description: "Reports the environment",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, envOut, error) {
			out := envOut{Env: map[string]string{}}
			for _, kv := range os.Environ() {
				k, v, _ := strings.Cut(kv, "=")
				out.Env[k] = v
			}
			return nil, out, nil
		})
	return s
}

// addBigTool adds a tool whose description makes tools/list larger than n.
func addBigTool(s *mcp.Server, n int) {
	s.AddTool(&mcp.Tool{
		Name:        "big",
		Description: strings.Repeat("x", n),
		InputSchema: map[string]any{"type": "object"},
	}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
}

// recorder wraps a handler and records the requests it saw.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	reqs []*http.Request
	hits atomic.Int64
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.hits.Add(1)
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	r.next.ServeHTTP(w, req)
}

func (r *recorder) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.reqs...)
}

// methods lists "METHOD" for every request seen.
func (r *recorder) methods() []string {
	var out []string
	for _, req := range r.requests() {
		out = append(out, req.Method)
	}
	return out
}

// serve starts an httptest server on 127.0.0.1 behind a recorder.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{next: h}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}

func streamableHandler(s *mcp.Server, opts *mcp.StreamableHTTPOptions) http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, opts)
}

func sseHandler(s *mcp.Server) http.Handler {
	return mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, nil)
}

// wsHandler serves s over websockets with this package's wsConn on the
// server side.
func wsHandler(t *testing.T, s *mcp.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wsSubprotocol}})
		if err != nil {
			return
		}
		if ws.Subprotocol() != wsSubprotocol {
			ws.Close(websocket.StatusPolicyViolation, "subprotocol mcp required")
			return
		}
		conn := newWSConn(ws, DefaultMaxMessageBytes, newTracker(time.Second))
		ss, err := s.Connect(r.Context(), connTransport{conn}, nil)
		if err != nil {
			t.Logf("ws server connect: %v", err)
			return
		}
		_ = ss.Wait()
	})
}

// connTransport hands an existing connection to Server.Connect.
type connTransport struct{ c mcp.Connection }

func (t connTransport) Connect(context.Context) (mcp.Connection, error) { return t.c, nil }

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func httpConn(transport registry.Transport, endpoint string) *registry.Connection {
	return &registry.Connection{Transport: transport, Endpoint: endpoint, TimeoutMS: 5000}
}

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	return e
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call is CallTool with the result decoded into the SDK's type, for tests
// that read its content.
func (c *Client) call(ctx context.Context, conn *registry.Connection, tool string, args map[string]any) (*mcp.CallToolResult, error) {
	m, err := c.CallTool(ctx, conn, tool, args)
	if err != nil {
		return nil, err
	}
	return decodeResult(m)
}

// decodeResult decodes a result as CallTool returns it into the SDK's type.
func decodeResult(m map[string]any) (*mcp.CallToolResult, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var res mcp.CallToolResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
