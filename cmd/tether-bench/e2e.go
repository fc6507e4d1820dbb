package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The end-to-end benchmark of the agent path: what an agent pays for a
// tool call through the real tether binary, against the same call made
// directly to the upstream in the same run.
//
//	go run ./cmd/tether-bench e2e [-bin bin/tether] [-upstreams 10] [-calls 2000] [-duration 4s] [-concurrency 16]
//
// Three kinds of process: this one (the orchestrator, and the client: go-sdk
// MCP clients with warm sessions), `tether-bench upstreams` (go-sdk
// streamable-HTTP servers, each with the tools add and echo) and `bin/tether
// serve` on a fresh SQLite database. The upstreams are registered through
// the Feather API; once their tools are synced and listed through /mcp, the
// client measures, alternating between the two paths so that both see the
// same machine:
//
//   - sequential latency: one session per path, calls rotating over the
//     upstreams, a direct call and a call through tether in turn;
//   - throughput: 16 sessions per path kept busy, in alternating phases
//     (the direct ones spread over the upstreams, each session through
//     tether calling the tool of the upstream its direct twin calls);
//   - tether's CPU per call: utime+stime of the tether process
//     (/proc/<pid>/stat) over each measured window, divided by the calls it
//     served (tether is idle while the direct calls run).

// e2eOptions are the knobs of one end-to-end run.
type e2eOptions struct {
	bin         string        // the tether binary
	self        string        // an executable that serves `upstreams -n N`
	upstreams   int           // upstream servers, each its own listener
	calls       int           // sequential calls measured per path
	duration    time.Duration // measured time per path under concurrent load
	rounds      int           // alternating phases the load time is split into
	concurrency int           // sessions per path under load
	// protocol is the MCP revision both paths speak: 2025-11-25 (sessions)
	// or 2026-07-28 (stateless: the upstreams then serve it statelessly).
	protocol string
}

// e2eResult is what one run measured.
type e2eResult struct {
	seqDirect, seqTether   []time.Duration // sorted
	seqProxy               []time.Duration // sorted: through a bare reverse proxy
	seqCPU                 time.Duration   // tether's CPU over the sequential window
	loadDirect, loadTether int64           // calls completed in the measured phases
	loadDirectTime         time.Duration
	loadTetherTime         time.Duration
	loadCPU                time.Duration // tether's CPU over the load window
	loadCalls              int64         // calls through tether in that window, warm-ups included
}

func e2eMain(args []string) {
	fs := flag.NewFlagSet("e2e", flag.ExitOnError)
	o := e2eOptions{}
	fs.StringVar(&o.bin, "bin", "bin/tether", "tether binary to measure")
	fs.IntVar(&o.upstreams, "upstreams", 10, "upstream MCP servers registered in tether")
	fs.IntVar(&o.calls, "calls", 2000, "sequential calls measured per path")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured time per path with concurrent sessions")
	fs.IntVar(&o.rounds, "rounds", 4, "alternating direct/tether phases the measured time is split into")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent sessions per path")
	fs.StringVar(&o.protocol, "protocol", "2025-11-25", "MCP revision both paths speak: 2025-11-25 or 2026-07-28 (stateless)")
	_ = fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench e2e:", err)
		os.Exit(1)
	}
	o.self = self
	fmt.Printf("tether-bench e2e: %s, %s, MCP %s, %d upstreams, %d sequential calls and %s under load per path, %s\n",
		platform(), o.bin, o.protocol, o.upstreams, o.calls, o.duration, time.Now().UTC().Format(time.RFC3339))
	r, err := runE2E(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench e2e:", err)
		os.Exit(1)
	}
	r.print(os.Stdout, o.concurrency)
}

func platform() string {
	return fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}

// print writes the figures, each as a ratio to the direct path of the
// same run.
func (r *e2eResult) print(w io.Writer, c int) {
	p := func(d []time.Duration, q float64) time.Duration {
		return d[int(q*float64(len(d)-1))]
	}
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
	perCall := func(cpu time.Duration, n int64) string {
		if n == 0 {
			return "—"
		}
		return us(cpu / time.Duration(n))
	}
	dp50, tp50 := p(r.seqDirect, 0.5), p(r.seqTether, 0.5)
	fmt.Fprintf(w, "\n%-48s %10s %10s %10s %10s %12s\n", "agent path end to end (real binary), sequential", "p50", "p99", "p50 ratio", "added p50", "CPU/call")
	fmt.Fprintf(w, "%-48s %10s %10s %9.3fx %10s %12s\n", "baseline: direct to the upstream", us(dp50), us(p(r.seqDirect, 0.99)), 1.0, "—", "—")
	fmt.Fprintf(w, "%-48s %10s %10s %9.3fx %10s %12s\n", "tether /mcp", us(tp50), us(p(r.seqTether, 0.99)),
		float64(tp50)/float64(dp50), "+"+us(tp50-dp50), perCall(r.seqCPU, int64(len(r.seqTether))))
	if len(r.seqProxy) > 0 {
		pp50 := p(r.seqProxy, 0.5)
		fmt.Fprintf(w, "%-48s %10s %10s %9.3fx %10s %12s\n", "reference: bare Go reverse proxy (one hop)", us(pp50), us(p(r.seqProxy, 0.99)),
			float64(pp50)/float64(dp50), "+"+us(pp50-dp50), "—")
	}
	direct := float64(r.loadDirect) / r.loadDirectTime.Seconds()
	tether := float64(r.loadTether) / r.loadTetherTime.Seconds()
	fmt.Fprintf(w, "\n%-48s %10s %10s %12s\n", fmt.Sprintf("agent path end to end, %d sessions per path", c), "calls/s", "vs direct", "CPU/call")
	fmt.Fprintf(w, "%-48s %10.0f %9.3fx %12s\n", "baseline: direct to the upstream", direct, 1.0, "—")
	fmt.Fprintf(w, "%-48s %10.0f %9.3fx %12s\n", "tether /mcp", tether, tether/direct, perCall(r.loadCPU, r.loadCalls))
	fmt.Fprintln(w, "(CPU/call: tether's utime+stime from /proc over the window, per call through it)")
}

func runE2E(o e2eOptions) (*e2eResult, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tether-bench-e2e")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ups, err := startUpstreams(o.self, o.upstreams, o.protocol >= "2026-07-28")
	if err != nil {
		return nil, err
	}
	defer ups.stop()
	// The defaults of `tether serve` but for the health monitor, whose
	// rounds would land at random in the measured windows.
	tether, err := startTether(o.bin, dir, "bench-e2e-tether.log", "--health-interval", "0")
	if err != nil {
		return nil, err
	}
	defer tether.stop()

	tools, err := registerUpstreams(tether, ups.urls)
	if err != nil {
		return nil, err
	}
	// The floor of one more hop: a plain net/http reverse proxy in a
	// process of its own in front of the first upstream, nothing else.
	proxy, err := startProxy(o.self, ups.urls[0])
	if err != nil {
		return nil, err
	}
	defer proxy.stop()
	// Warm sessions: one per path for the sequential calls (direct: one per
	// upstream), and o.concurrency per path for the load.
	var sessions []*mcp.ClientSession
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	dial := func(endpoint, key string) (*mcp.ClientSession, error) {
		s, err := dialMCP(ctx, endpoint, key, o.protocol)
		if err == nil {
			sessions = append(sessions, s)
		}
		return s, err
	}
	agent, err := dial(tether.base+"/mcp", apiKey)
	if err != nil {
		return nil, fmt.Errorf("connect to tether /mcp: %w", err)
	}
	if err := waitListed(ctx, agent, tools); err != nil {
		return nil, err
	}
	directs := make([]*mcp.ClientSession, len(ups.urls))
	for i, u := range ups.urls {
		if directs[i], err = dial(u, ""); err != nil {
			return nil, fmt.Errorf("connect to upstream: %w", err)
		}
	}
	proxied, err := dial(proxy.urls[0], "")
	if err != nil {
		return nil, fmt.Errorf("connect through the bare proxy: %w", err)
	}
	viaTether := func(n int) error { return callAdd(ctx, agent, tools[n%len(tools)], n) }
	direct := func(n int) error { return callAdd(ctx, directs[n%len(directs)], "add", n) }
	viaProxy := func(n int) error { return callAdd(ctx, proxied, "add", n) }

	r := &e2eResult{}
	// Sequential: a direct call, a call through tether and one through the
	// bare proxy in turn (which goes first rotates), after a warm-up of
	// 100 each. tether's CPU is read around the whole window; it idles
	// while the other two are called.
	const warm = 100
	paths := []struct {
		call func(int) error
		took *[]time.Duration
	}{{direct, &r.seqDirect}, {viaTether, &r.seqTether}, {viaProxy, &r.seqProxy}}
	for _, p := range paths {
		*p.took = make([]time.Duration, 0, o.calls)
	}
	var cpu0 time.Duration
	for i := range o.calls + warm {
		if i == warm {
			if cpu0, err = procCPU(tether.cmd.Process.Pid); err != nil {
				return nil, err
			}
		}
		for k := range paths {
			p := paths[(i+k)%len(paths)]
			t0 := time.Now()
			if err := p.call(i); err != nil {
				return nil, err
			}
			if i >= warm {
				*p.took = append(*p.took, time.Since(t0))
			}
		}
	}
	cpu1, err := procCPU(tether.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	r.seqCPU = cpu1 - cpu0
	for _, p := range paths {
		slices.Sort(*p.took)
	}

	// Under load: o.concurrency sessions per path (the direct ones spread
	// over the upstreams), phases alternating, each after a short warm-up.
	var loadDirect, loadTether []*mcp.ClientSession
	for i := range o.concurrency {
		s, err := dial(ups.urls[i%len(ups.urls)], "")
		if err != nil {
			return nil, err
		}
		loadDirect = append(loadDirect, s)
		if s, err = dial(tether.base+"/mcp", apiKey); err != nil {
			return nil, err
		}
		loadTether = append(loadTether, s)
	}
	directLoad := func(i, n int) error { return callAdd(ctx, loadDirect[i], "add", n) }
	tetherLoad := func(i, n int) error { return callAdd(ctx, loadTether[i], tools[i%len(tools)], n) }
	rounds := max(o.rounds, 1)
	phase := o.duration / time.Duration(rounds)
	warmup := min(phase/4, 250*time.Millisecond)
	if cpu0, err = procCPU(tether.cmd.Process.Pid); err != nil {
		return nil, err
	}
	var tetherAll int64 // every call through tether in the window, warm-ups included
	for round := range rounds {
		for k := range 2 {
			if (round+k)%2 == 0 {
				n, _, d, err := load(o.concurrency, directLoad, warmup, phase)
				if err != nil {
					return nil, fmt.Errorf("direct load: %w", err)
				}
				r.loadDirect += n
				r.loadDirectTime += d
			} else {
				n, all, d, err := load(o.concurrency, tetherLoad, warmup, phase)
				if err != nil {
					return nil, fmt.Errorf("load through tether: %w", err)
				}
				r.loadTether += n
				r.loadTetherTime += d
				tetherAll += all
			}
		}
	}
	if cpu1, err = procCPU(tether.cmd.Process.Pid); err != nil {
		return nil, err
	}
	// tether idles during the direct phases, so its CPU over the whole
	// window is what the calls through it cost, warm-up calls included.
	r.loadCPU = cpu1 - cpu0
	r.loadCalls = tetherAll
	return r, nil
}

// load keeps c sessions busy, session i calling f(i, n) for its n-th call,
// for warm + d; it returns the calls completed within the measured d, all
// calls completed, and the measured time.
func load(c int, f func(i, n int) error, warm, d time.Duration) (measured, all int64, elapsed time.Duration, err error) {
	var count atomic.Int64
	var firstErr atomic.Value
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				if err := f(i, n); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				count.Add(1)
			}
		}()
	}
	time.Sleep(warm)
	n0, t0 := count.Load(), time.Now()
	time.Sleep(d)
	n1, elapsed := count.Load(), time.Since(t0)
	stop.Store(true)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, 0, 0, err
	}
	return n1 - n0, count.Load(), elapsed, nil
}

// upstreams is the `tether-bench upstreams` child process.
type upstreams struct {
	cmd  *exec.Cmd
	in   io.Closer
	urls []string
}

func (u *upstreams) stop() {
	_ = u.in.Close() // it exits when its stdin closes
	done := make(chan struct{})
	go func() { _, _ = u.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = u.cmd.Process.Kill()
		<-done
	}
}

// startUpstreams runs `self upstreams -n n` (with further flags) and
// reads the URLs it serves.
func startUpstreams(self string, n int, stateless bool, flags ...string) (*upstreams, error) {
	return startChild(exec.Command(self, append([]string{"upstreams", "-n", strconv.Itoa(n), "-stateless=" + strconv.FormatBool(stateless)}, flags...)...), n)
}

// startChild starts cmd, a child serving until its stdin closes, and reads
// the n URLs it prints, one a line.
func startChild(cmd *exec.Cmd, n int) (*upstreams, error) {
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	u := &upstreams{cmd: cmd, in: in}
	// A child that prints nothing (a binary that does not know the
	// subcommand) fails the run within a minute instead of hanging it.
	stall := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer stall.Stop()
	rd := bufio.NewReader(out)
	for range n {
		line, err := rd.ReadString('\n')
		if err != nil {
			u.stop()
			return nil, fmt.Errorf("%s: %w", cmd.Args[1], err)
		}
		u.urls = append(u.urls, strings.TrimSpace(line))
	}
	return u, nil
}

// startProxy runs `self proxy -to target` and reads the URL it serves.
func startProxy(self, target string) (*upstreams, error) {
	return startChild(exec.Command(self, "proxy", "-to", target), 1)
}

// serveProxy is `tether-bench proxy -to URL`: a bare net/http reverse
// proxy (httputil.ReverseProxy, streaming) to URL on a loopback port of
// its own, the least one more Go hop can cost. It prints its URL (the
// target's path on the proxy's address) and serves until stdin closes.
func serveProxy(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	to := fs.String("to", "", "upstream URL")
	_ = fs.Parse(args)
	target, err := url.Parse(*to)
	if err != nil || target.Host == "" {
		fmt.Fprintln(os.Stderr, "tether-bench proxy: -to: need a URL")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench proxy:", err)
		os.Exit(1)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host}) },
		FlushInterval: -1, // event streams pass as they come
	}
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("http://%s%s\n", ln.Addr(), target.Path)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

type addIn struct {
	A int `json:"a" jsonschema:"first addend"`
	B int `json:"b" jsonschema:"second addend"`
}

type addOut struct {
	Sum int `json:"sum"`
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

// serveUpstreams is `tether-bench upstreams -n N`: N go-sdk MCP servers
// over streamable HTTP on loopback, each on its own listener with the
// tools add and echo (and -extra-tools more). It prints one URL a line and
// serves until its stdin closes.
func serveUpstreams(args []string) {
	fs := flag.NewFlagSet("upstreams", flag.ExitOnError)
	n := fs.Int("n", 10, "servers")
	stateless := fs.Bool("stateless", false, "serve the 2026-07-28 revision statelessly")
	extra := fs.Int("extra-tools", 0, "tools tool-0, tool-1, ... (each doing nothing) besides add and echo")
	_ = fs.Parse(args)
	for i := range *n {
		s := mcp.NewServer(&mcp.Implementation{Name: fmt.Sprintf("bench-upstream-%d", i), Version: "1"}, nil)
		mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Add two numbers"},
			func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
				return nil, addOut{Sum: in.A + in.B}, nil
			})
		mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo text"},
			func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
			})
		for j := range *extra {
			mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("tool-%d", j), Description: "a tool"},
				func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
					return &mcp.CallToolResult{}, nil, nil
				})
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench upstreams:", err)
			os.Exit(1)
		}
		h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
			&mcp.StreamableHTTPOptions{Stateless: *stateless})
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		fmt.Printf("http://%s/mcp\n", ln.Addr())
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// registerUpstreams registers each URL through the Feather API, waits until
// its tools are synced, and returns the slug of each one's add tool.
func registerUpstreams(tether *child, urls []string) ([]string, error) {
	ids := make([]string, len(urls))
	for i, u := range urls {
		body := fmt.Sprintf(`{"nickname":"Up %d","server_url":%q,"transport":"http"}`, i, u)
		resp, err := http.DefaultClient.Do(newReq(http.MethodPost, tether.base+"/v1/integrations/connections/custom-mcp", []byte(body)))
		if err != nil {
			return nil, err
		}
		var v struct {
			ConnectionID string `json:"connection_id"`
		}
		if err := decodeJSON(resp, &v); err != nil {
			return nil, fmt.Errorf("register upstream %d: %w", i, err)
		}
		ids[i] = v.ConnectionID
	}
	slugs := make([]string, len(urls))
	deadline := time.Now().Add(30 * time.Second)
	for i, id := range ids {
		for {
			resp, err := http.DefaultClient.Do(newReq(http.MethodGet, tether.base+"/v1/integrations/connections/"+id, nil))
			if err != nil {
				return nil, err
			}
			var c struct {
				ToolsStatus string `json:"tools_status"`
				Tools       []struct {
					Slug     string `json:"slug"`
					ToolPath string `json:"tool_path"`
				} `json:"tools"`
			}
			if err := decodeJSON(resp, &c); err != nil {
				return nil, err
			}
			for _, t := range c.Tools {
				if t.ToolPath == "add" {
					slugs[i] = t.Slug
				}
			}
			if c.ToolsStatus == "synced" && slugs[i] != "" {
				break
			}
			if c.ToolsStatus == "failed" || time.Now().After(deadline) {
				return nil, fmt.Errorf("upstream %d: tools %q, not synced", i, c.ToolsStatus)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return slugs, nil
}

// waitListed waits until tools/list through /mcp offers every tool.
func waitListed(ctx context.Context, s *mcp.ClientSession, tools []string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.ListTools(ctx, nil)
		if err != nil {
			return err
		}
		listed := map[string]bool{}
		for _, t := range res.Tools {
			listed[t.Name] = true
		}
		missing := 0
		for _, t := range tools {
			if !listed[t] {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("tools/list through /mcp: %d of %d tools missing", missing, len(tools))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keyTransport sends an API key (when there is one) with every request;
// both paths go through it, so that they pay the same client overhead.
type keyTransport struct {
	key  string
	base http.RoundTripper
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if k.key != "" {
		r.Header.Set("X-Api-Key", k.key)
	}
	return k.base.RoundTrip(r)
}

// dialMCP opens a go-sdk client session as an agent would (standalone SSE
// stream included, for a revision with sessions), with connections of its
// own, speaking protocol.
func dialMCP(ctx context.Context, endpoint, key, protocol string) (*mcp.ClientSession, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	c := mcp.NewClient(&mcp.Implementation{Name: "tether-bench", Version: "1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint,
		HTTPClient: &http.Client{Transport: keyTransport{key: key, base: tr}}},
		&mcp.ClientSessionOptions{ProtocolVersion: protocol})
}

// callAdd calls tool (an add) with n and 1 and checks the sum.
func callAdd(ctx context.Context, s *mcp.ClientSession, tool string, n int) error {
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"a": n, "b": 1}})
	if err != nil {
		return fmt.Errorf("%s: %w", tool, err)
	}
	if res.IsError {
		return fmt.Errorf("%s: error result: %v", tool, res.Content)
	}
	if m, ok := res.StructuredContent.(map[string]any); !ok || m["sum"] != float64(n+1) {
		return fmt.Errorf("%s(%d, 1): got %v", tool, n, res.StructuredContent)
	}
	return nil
}

// procCPU is the user and system CPU time pid has used (utime and stime,
// fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s, the
// value of USER_HZ on Linux).
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("tether's CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, errors.New("tether's CPU time: unexpected /proc stat format")
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("tether's CPU time: unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("tether's CPU time: unexpected /proc stat format")
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
