// Command tether-bench measures tether's API throughput against a bare
// echo handler measured in the same run, and prints each figure with its
// ratio to that baseline (the machines are shared and noisy, so only
// same-run ratios mean much).
//
//	go run ./cmd/tether-bench [-bin bin/tether] [-duration 3s] [-concurrency 16] [-only REGEXP]
//	go run ./cmd/tether-bench e2e [-bin bin/tether] [-calls 2000] [-duration 4s] [-concurrency 16]
//	go run ./cmd/tether-bench postgres [-bin bin/tether] [-duration 3s] [-concurrency 16]
//	go run ./cmd/tether-bench report [-api FILE] [-go FILE] [-e2e FILE] [-pg FILE] [-out BENCHMARKS.md]
//
// Both servers run as child processes on loopback; this process only
// generates load over keep-alive connections. The e2e subcommand measures
// the agent path (tool calls through /mcp) end to end; see e2e.go.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"

	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

const apiKey = "tth_bench_key_0123456789abcdef"

// serveChild serves as one of the child processes the benchmarks start
// (`self echo-server`, `self proxy`, `self upstreams`) when args name one,
// and reports whether they did. The heavy test's binary serves as them
// too.
func serveChild(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "echo-server":
		serveEcho()
	case "proxy":
		serveProxy(args[1:])
	case "upstreams":
		serveUpstreams(args[1:])
	default:
		return false
	}
	return true
}

func main() {
	if serveChild(os.Args[1:]) {
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "postgres" {
		postgresMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "e2e" {
		e2eMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "report" {
		fs := flag.NewFlagSet("report", flag.ExitOnError)
		api := fs.String("api", "bin/bench-api.txt", "tether-bench output")
		goOut := fs.String("go", "bin/bench-go.txt", "go test -bench output")
		e2e := fs.String("e2e", "", "tether-bench e2e output (none: no end-to-end section)")
		pg := fs.String("pg", "", "tether-bench postgres output (none: no PostgreSQL section)")
		out := fs.String("out", "BENCHMARKS.md", "file to update below its marker")
		_ = fs.Parse(os.Args[2:])
		if err := report(*api, *goOut, *e2e, *pg, *out); err != nil {
			fmt.Fprintln(os.Stderr, "tether-bench report:", err)
			os.Exit(1)
		}
		return
	}
	bin := flag.String("bin", "bin/tether", "tether binary to measure")
	duration := flag.Duration("duration", 3*time.Second, "measuring time per scenario")
	concurrency := flag.Int("concurrency", 16, "concurrent clients")
	only := flag.String("only", "", "run only the scenarios (and the probe and scale sections) whose names match this regexp; the baseline always runs")
	flag.Parse()
	pick, err := regexp.Compile(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench: -only:", err)
		os.Exit(2)
	}
	if err := run(*bin, *duration, *concurrency, pick); err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench:", err)
		os.Exit(1)
	}
}

// serveEcho is the baseline: a bare echo handler with a static JSON body.
func serveEcho() {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	body := []byte(`{"success":true,"data":{"id":"00000000-0000-4000-8000-000000000000","name":"static"}}`)
	h := func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) }
	e.GET("/static", h)
	e.POST("/static", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, e)
}

// child is a server process and the address it listens on (and, for
// tether, its binary and database, for the admin commands).
type child struct {
	cmd     *exec.Cmd
	base    string
	bin, db string
}

func (c *child) stop() { _ = c.cmd.Process.Kill(); _, _ = c.cmd.Process.Wait() }

func startEcho() (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "echo-server")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("echo server: %w", err)
	}
	return &child{cmd: cmd, base: "http://" + strings.TrimSpace(line)}, nil
}

// startTether starts `bin serve` on a database in dir with the bench API
// key, loopback exempt from the SSRF guard, and extra flags; its log goes
// to logName beside bin once it serves.
func startTether(bin, dir, logName string, extra ...string) (*child, error) {
	return startTetherOn(bin, filepath.Join(dir, "bench.db"), logName, extra...)
}

// startTetherOn is startTether on db, a file or a postgres:// URL.
func startTetherOn(bin, db, logName string, extra ...string) (*child, error) {
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--bootstrap-api-key", apiKey,
		"--allow-cidrs", "127.0.0.0/8"}, extra...)
	cmd := exec.Command(bin, args...)
	errOut, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (run make build first): %w", bin, err)
	}
	sc := bufio.NewScanner(errOut)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "tether serving" {
			// tether's log, for looking into a surprising figure.
			logFile, err := os.Create(filepath.Join(filepath.Dir(bin), logName))
			if err != nil {
				return nil, err
			}
			go func() { _, _ = io.Copy(logFile, errOut); logFile.Close() }()
			return &child{cmd: cmd, base: "http://" + line["addr"].(string), bin: bin, db: db}, nil
		}
	}
	return nil, errors.New("tether exited before serving")
}

// request builds the n-th request of a scenario.
type request func(n int64) (*http.Request, int)

// measure runs r from c clients for d and returns requests per second.
func measure(r request, c int, d time.Duration) (float64, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var count, seq atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), d+d/4)
	defer cancel()
	warmEnd := time.Now().Add(d / 4)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				rq, want := r(seq.Add(1))
				resp, err := client.Do(rq.WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s %s: status %d, want %d", rq.Method, rq.URL.Path, resp.StatusCode, want))
					return
				}
				if time.Now().After(warmEnd) {
					count.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(count.Load()) / d.Seconds(), nil
}

func newReq(method, url string, body []byte) *http.Request {
	return newReqAs(apiKey, method, url, body)
}

// newReqAs is newReq with another tenant's API key.
func newReqAs(key, method, url string, body []byte) *http.Request {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	rq, _ := http.NewRequest(method, url, rd)
	rq.Header.Set("x-api-key", key)
	if body != nil {
		rq.Header.Set("Content-Type", "application/json")
	}
	return rq
}

func run(bin string, d time.Duration, c int, pick *regexp.Regexp) error {
	dir, err := os.MkdirTemp("", "tether-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	baseline, err := startEcho()
	if err != nil {
		return err
	}
	defer baseline.stop()
	tether, err := startTether(bin, dir, "bench-tether.log", "--health-interval", "0",
		// The create scenarios and the 10,000-row scale runs go far past
		// the default cap on connections per tenant.
		"--max-connections-per-tenant", "0")
	if err != nil {
		return err
	}
	defer tether.stop()

	ids, err := seedRows(tether)
	if err != nil {
		return err
	}

	scenarios := []struct {
		name string
		r    request
	}{
		{"baseline: bare echo GET (static body)", func(int64) (*http.Request, int) {
			return newReq(http.MethodGet, baseline.base+"/static", nil), 200
		}},
		{"Ferni GET /mcp-servers/{id}", func(n int64) (*http.Request, int) {
			return newReq(http.MethodGet, tether.base+"/api/v2/developers/mcp-servers/"+ids[n%50], nil), 200
		}},
		{"Feather GET /connections/{id}", func(n int64) (*http.Request, int) {
			return newReq(http.MethodGet, tether.base+"/v1/integrations/connections/"+ids[n%50], nil), 200
		}},
		{listScenario, func(int64) (*http.Request, int) {
			return newReq(http.MethodGet, tether.base+"/api/v2/developers/mcp-servers?limit=50", nil), 200
		}},
		{"Ferni POST /mcp-servers (create)", func(n int64) (*http.Request, int) {
			body := fmt.Sprintf(`{"name":"bench-%d","description":"bench","transport":"http","endpoint":"https://mcp.example.com/mcp","headers":{"X-Key":"{{secrets.K}}"},"secrets":{"K":"v"}}`, n)
			return newReq(http.MethodPost, tether.base+"/api/v2/developers/mcp-servers", []byte(body)), 201
		}},
		{"Feather POST /connections/custom-mcp (create)", func(n int64) (*http.Request, int) {
			body := fmt.Sprintf(`{"nickname":"Bench %d","server_url":"https://mcp.example.com/mcp","auth_type":"bearer","token":"t"}`, n)
			return newReq(http.MethodPost, tether.base+"/v1/integrations/connections/custom-mcp", []byte(body)), 201
		}},
	}
	fmt.Printf("tether-bench: %s/%s, %d CPUs, %s per scenario, %d concurrent clients, %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), d, c, time.Now().UTC().Format(time.RFC3339))
	results := map[string]float64{}
	var names []string
	for i, s := range scenarios {
		if i > 0 && !pick.MatchString(s.name) {
			continue
		}
		rps, err := measure(s.r, c, d)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		results[s.name] = rps
		names = append(names, s.name)
	}
	base := results[scenarios[0].name]
	fmt.Printf("%-48s %12s %10s\n", "scenario", "req/s", "vs echo")
	for _, n := range names {
		fmt.Printf("%-48s %12.0f %9.3fx\n", n, results[n], results[n]/base)
	}
	if pick.MatchString("probe") {
		for _, version := range []string{"2025-11-25", "2026-07-28"} {
			if err := probeLatency(tether, version); err != nil {
				return err
			}
		}
	}
	if !pick.MatchString("scale") {
		return nil
	}
	return scale(tether, base, results[listScenario], d, c)
}

// seedRows creates 50 rows for get and list, in a tenant of their own
// ("default"), and returns their ids.
func seedRows(tether *child) ([]string, error) {
	var ids []string
	for i := range 50 {
		// No autoConnect: a background probe rewriting rows would make the
		// list of 50 measure a table in flux, unlike the scale figures.
		body := fmt.Sprintf(`{"name":"seed-%d","description":"seed","transport":"http","endpoint":"https://mcp.example.com/mcp","autoConnect":false,"headers":{"X-Key":"{{secrets.K}}"},"secrets":{"K":"v%d"}}`, i, i)
		resp, err := http.DefaultClient.Do(newReq(http.MethodPost, tether.base+"/api/v2/developers/mcp-servers", []byte(body)))
		if err != nil {
			return nil, err
		}
		var v struct{ Data struct{ ID string } }
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("seed create: status %d", resp.StatusCode)
		}
		ids = append(ids, v.Data.ID)
	}
	return ids, nil
}

// decodeJSON reads a JSON response body into v and closes it.
func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: status %d: %s", resp.Request.URL.Path, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
