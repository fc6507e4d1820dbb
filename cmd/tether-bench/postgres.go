package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/secrets"
)

// postgresMain measures, in one run, tether on PostgreSQL against tether
// on SQLite (get, list, create), and one replica against three on one
// PostgreSQL database behind a round-robin proxy in this process (the
// same proxy in front of one target for the single-replica figure, so
// that both pay for it). The PostgreSQL cluster is a private one
// (internal/pgtest), on the same machine as everything else.
//
//	go run ./cmd/tether-bench postgres [-bin bin/tether] [-duration 3s] [-concurrency 16]
func postgresMain(args []string) {
	fs := flag.NewFlagSet("postgres", flag.ExitOnError)
	bin := fs.String("bin", "bin/tether", "tether binary to measure")
	d := fs.Duration("duration", 3*time.Second, "measuring time per scenario")
	c := fs.Int("concurrency", 16, "concurrent clients")
	_ = fs.Parse(args)
	err := runPostgres(*bin, *d, *c)
	pgtest.Stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tether-bench postgres:", err)
		os.Exit(1)
	}
}

func runPostgres(bin string, d time.Duration, c int) error {
	dir, err := os.MkdirTemp("", "tether-bench-pg")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key, err := secrets.GenerateKey("bench")
	if err != nil {
		return err
	}
	keys := filepath.Join(dir, "fleet.keys")
	if err := secrets.WriteKeysFile(keys, []secrets.Key{key}); err != nil {
		return err
	}
	db, drop, err := pgtest.NewDatabase()
	if err != nil {
		return err
	}
	defer func() { _ = drop() }()
	common := []string{"--health-interval", "0", "--max-connections-per-tenant", "0", "--encryption-keys-file", keys}
	lite, err := startTether(bin, dir, "bench-tether-sqlite.log", common...)
	if err != nil {
		return err
	}
	defer lite.stop()
	var fleet []*child
	for i := range 3 {
		r, err := startTetherOn(bin, db, fmt.Sprintf("bench-tether-pg%d.log", i+1),
			append(common, "--replica-id", fmt.Sprintf("bench-%d", i+1))...)
		if err != nil {
			return err
		}
		defer r.stop()
		fleet = append(fleet, r)
	}
	liteIDs, err := seedRows(lite)
	if err != nil {
		return err
	}
	pgIDs, err := seedRows(fleet[0])
	if err != nil {
		return err
	}

	fmt.Printf("tether-bench postgres: %s/%s, %d CPUs, %s per scenario, %d concurrent clients, %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), d, c, time.Now().UTC().Format(time.RFC3339))
	fmt.Println("PostgreSQL 15 (private cluster, fsync off as in the tests) vs SQLite (synchronous=FULL), one tether each:")
	fmt.Printf("%-40s %12s %12s %10s\n", "scenario", "SQLite r/s", "PG r/s", "PG/SQLite")
	type scenario struct {
		name string
		r    func(base string, ids []string) request
	}
	for _, s := range []scenario{
		{"Ferni GET /mcp-servers/{id}", func(base string, ids []string) request {
			return func(n int64) (*http.Request, int) {
				return newReq(http.MethodGet, base+"/api/v2/developers/mcp-servers/"+ids[n%int64(len(ids))], nil), 200
			}
		}},
		{"Ferni GET /mcp-servers?limit=50", func(base string, _ []string) request {
			return func(int64) (*http.Request, int) {
				return newReq(http.MethodGet, base+"/api/v2/developers/mcp-servers?limit=50", nil), 200
			}
		}},
		{"Ferni POST /mcp-servers (create)", func(base string, _ []string) request {
			return func(n int64) (*http.Request, int) {
				body := fmt.Sprintf(`{"name":"bench-%d","description":"bench","transport":"http","endpoint":"https://mcp.example.com/mcp","autoConnect":false,"headers":{"X-Key":"{{secrets.K}}"},"secrets":{"K":"v"}}`, n)
				return newReq(http.MethodPost, base+"/api/v2/developers/mcp-servers", []byte(body)), 201
			}
		}},
	} {
		sq, err := measure(s.r(lite.base, liteIDs), c, d)
		if err != nil {
			return fmt.Errorf("%s on SQLite: %w", s.name, err)
		}
		pg, err := measure(s.r(fleet[0].base, pgIDs), c, d)
		if err != nil {
			return fmt.Errorf("%s on PostgreSQL: %w", s.name, err)
		}
		fmt.Printf("%-40s %12.0f %12.0f %9.3fx\n", s.name, sq, pg, pg/sq)
	}

	one, stopOne := roundRobinProxy(fleet[:1])
	defer stopOne()
	three, stopThree := roundRobinProxy(fleet)
	defer stopThree()
	get := func(base string) request {
		return func(n int64) (*http.Request, int) {
			return newReq(http.MethodGet, base+"/api/v2/developers/mcp-servers/"+pgIDs[n%int64(len(pgIDs))], nil), 200
		}
	}
	r1, err := measure(get(one), c, d)
	if err != nil {
		return fmt.Errorf("one replica: %w", err)
	}
	r3, err := measure(get(three), c, d)
	if err != nil {
		return fmt.Errorf("three replicas: %w", err)
	}
	fmt.Println("Replicas on one PostgreSQL behind a round-robin proxy (Ferni GET by id; the proxy, the load, the replicas and PostgreSQL share the machine):")
	fmt.Printf("%-40s %12.0f %10s\n", "one replica behind the proxy", r1, "1.000x")
	fmt.Printf("%-40s %12.0f %9.3fx\n", "three replicas behind the proxy", r3, r3/r1)
	return nil
}

// roundRobinProxy serves a reverse proxy that sends each request to the
// next of the replicas.
func roundRobinProxy(replicas []*child) (base string, stop func()) {
	var next atomic.Int64
	var targets []*url.URL
	for _, r := range replicas {
		u, _ := url.Parse(r.base)
		targets = append(targets, u)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[int(next.Add(1))%len(targets)])
			pr.Out.Host = pr.In.Host
		},
		Transport: tr,
		// The load stops by cancelling its requests mid-flight: no news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(proxy)
	return srv.URL, func() { srv.Close(); tr.CloseIdleConnections() }
}
