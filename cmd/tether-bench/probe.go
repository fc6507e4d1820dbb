package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// probeLatency compares a connection test through tether (POST
// /mcp-servers/{id}/test: the handshake + tools/list + recording the
// result) with the same handshake + tools/list made directly with go-sdk
// against the same local server (go-sdk, five tools) speaking version:
// 2025-11-25 (initialize, notifications/initialized, tools/list, over a
// session) or 2026-07-28 (server/discover, tools/list, stateless). The
// direct client is told the version (no server/discover first for
// 2025-11-25), the best a client can do; tether remembers it from the
// previous probe.
//
// The server runs in a process of its own (`tether-bench upstreams`), as
// in the end-to-end benchmark: a client in the server's own process makes
// each round trip without waking another process, an advantage no real
// client has and tether, a process of its own, cannot have.
//
// The baseline dials a fresh connection for each probe, as tether does: a
// probe is a connection test, and tether makes it as a new client would
// (DNS, the SSRF guard's check of the address, TCP and TLS every time), so
// that a test after a certificate, DNS or firewall change reports what a
// new client gets, not what an old socket still gets. Both send the same
// requests (no standalone SSE stream, which tether's probe does not open).
// A direct client that keeps its connections alive across probes is
// measured too, and tether's ratio to it printed, for reference.
// settle is the pause between the probes of one round. Without it, what
// one side leaves running once it has answered (tether's DELETE of the
// upstream session in the background, its garbage collection, the
// upstream's teardown of a session) ran during the next side's probe on
// this 2-core machine, and the baseline paid for tether's leftovers. A
// longer pause lets the cores fall idle, and every probe then pays for
// waking them: a millisecond is enough for the leftovers and short of that.
const settle = time.Millisecond

func probeLatency(tether *child, version string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// add, echo and three more: five tools.
	up, err := startUpstreams(self, 1, version >= "2026-07-28", "-extra-tools", "3")
	if err != nil {
		return err
	}
	defer up.stop()
	endpoint := up.urls[0]

	body := fmt.Sprintf(`{"name":"probe-bench-%s","description":"d","transport":"streamable_http","endpoint":%q,"autoConnect":false}`, version, endpoint)
	resp, err := http.DefaultClient.Do(newReq(http.MethodPost, tether.base+"/api/v2/developers/mcp-servers", []byte(body)))
	if err != nil {
		return err
	}
	var id string
	{
		var v struct{ Data struct{ ID string } }
		if err := decodeJSON(resp, &v); err != nil {
			return err
		}
		id = v.Data.ID
	}
	const n = 200
	ctx := context.Background()
	viaTether := make([]time.Duration, 0, n)
	fresh := make([]time.Duration, 0, n)
	kept := make([]time.Duration, 0, n)
	keptClient := &http.Client{Transport: &http.Transport{}}
	direct := func(hc *http.Client) (time.Duration, error) {
		start := time.Now()
		c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true},
			&mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			return 0, err
		}
		if _, err := s.ListTools(ctx, nil); err != nil {
			return 0, err
		}
		s.Close()
		return time.Since(start), nil
	}
	for i := range n + 10 {
		start := time.Now()
		resp, err := http.DefaultClient.Do(newReq(http.MethodPost, tether.base+"/api/v2/developers/mcp-servers/"+id+"/test", nil))
		if err != nil {
			return err
		}
		var v struct{ Data struct{ Connected bool } }
		if err := decodeJSON(resp, &v); err != nil {
			return err
		}
		if !v.Data.Connected {
			return fmt.Errorf("probe through tether failed")
		}
		took := time.Since(start)
		time.Sleep(settle) // see settle

		// A transport of its own, closed after the probe: a fresh dial.
		tr := &http.Transport{}
		d, err := direct(&http.Client{Transport: tr})
		tr.CloseIdleConnections()
		if err != nil {
			return err
		}
		time.Sleep(settle)
		k, err := direct(keptClient)
		if err != nil {
			return err
		}
		if i >= 10 { // warm-up
			viaTether, fresh, kept = append(viaTether, took), append(fresh, d), append(kept, k)
		}
	}
	p := func(d []time.Duration, q float64) time.Duration {
		slices.Sort(d)
		return d[int(q*float64(len(d)-1))]
	}
	fmt.Printf("\n%-48s %12s %12s %10s\n", "probe (handshake + tools/list), MCP "+version, "p50", "p99", "p50 ratio")
	fmt.Printf("%-48s %12s %12s %9.3fx\n", "baseline: direct go-sdk, version known", p(fresh, 0.5), p(fresh, 0.99), 1.0)
	fmt.Printf("%-48s %12s %12s %9.3fx\n", "direct go-sdk, connections kept alive", p(kept, 0.5), p(kept, 0.99),
		float64(p(kept, 0.5))/float64(p(fresh, 0.5)))
	fmt.Printf("%-48s %12s %12s %9.3fx\n", "tether POST /mcp-servers/{id}/test", p(viaTether, 0.5), p(viaTether, 0.99),
		float64(p(viaTether, 0.5))/float64(p(fresh, 0.5)))
	fmt.Printf("%-48s %12s %12s %9.3fx\n", "  (tether vs the kept-alive direct client)", "", "",
		float64(p(viaTether, 0.5))/float64(p(kept, 0.5)))
	return nil
}
