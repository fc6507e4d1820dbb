package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/mcptest"
)

// BenchmarkToolCallTracing measures one tool call through tether's /mcp
// (a go-sdk agent → tether → a go-sdk upstream on loopback, warm
// sessions) with tracing off, on (every call sampled, spans exported over
// OTLP/HTTP to a receiver in this process that decodes them), and on
// with the collector unreachable. "ratio" interleaves the three, call by
// call, so that the machine's drift hits them alike, and reports the
// ratios of their medians, on/off and down/off (target ≤ 1.10).
func BenchmarkToolCallTracing(b *testing.B) {
	b.Setenv("OTEL_TRACES_SAMPLER", "always_on") // 100% sampled, whatever the environment says
	up := mcptest.New(b, mcptest.Options{Name: "calc", Tools: []mcptest.Tool{mcptest.Add}})
	rcv := newOTLPReceiver(b)
	off := startBenchTether(b, up.URL(), func(*Config) {})
	on := startBenchTether(b, up.URL(), func(c *Config) { c.Tracing, c.TracingEndpoint = true, rcv.URL })
	down := startBenchTether(b, up.URL(), func(c *Config) {
		c.Tracing, c.TracingEndpoint = true, "http://"+mcptest.ClosedAddr(b)+"/v1/traces"
	})
	args := map[string]any{"a": 2, "b": 3}
	call := func(b *testing.B, s *mcp.ClientSession) time.Duration {
		t0 := time.Now()
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "calc_add", Arguments: args})
		d := time.Since(t0)
		if err != nil || res.IsError {
			b.Fatalf("call: %v %v", err, res)
		}
		return d
	}
	for _, m := range []struct {
		name string
		s    *mcp.ClientSession
	}{{"baseline-off", off}, {"on", on}, {"collector-down", down}} {
		b.Run(m.name, func(b *testing.B) {
			var l []time.Duration
			for b.Loop() {
				l = append(l, call(b, m.s))
			}
			reportPercentiles(b, l)
		})
	}
	b.Run("ratio", func(b *testing.B) {
		var lOff, lOn, lDown []time.Duration
		for b.Loop() {
			lOff = append(lOff, call(b, off))
			lOn = append(lOn, call(b, on))
			lDown = append(lDown, call(b, down))
		}
		// Medians: on a shared machine a few calls wait for the CPU far
		// longer than any of them works, and a mean follows those.
		b.ReportMetric(float64(median(lOn))/float64(median(lOff)), "on/off")
		b.ReportMetric(float64(median(lDown))/float64(median(lOff)), "down/off")
	})
	if len(rcv.Spans()) == 0 {
		b.Fatal("the receiver got no spans: tracing was not on")
	}
}

// median is the middle of l (sorted in place).
func median(l []time.Duration) time.Duration {
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	return l[len(l)/2]
}

// reportPercentiles reports the median and 99th percentile of l.
func reportPercentiles(b *testing.B, l []time.Duration) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds()), "p99-ns")
}

// startBenchTether runs tether with a connection to upstream and returns
// an agent's session on its /mcp, warmed by one call.
func startBenchTether(b *testing.B, upstream string, mod func(*Config)) *mcp.ClientSession {
	b.Helper()
	cfg := Config{Addr: "127.0.0.1:0", DB: filepath.Join(b.TempDir(), "tether.db"), AllowCIDRs: "127.0.0.0/8", ShutdownTimeout: 5e9}
	mod(&cfg)
	m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	var out bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "create", "--tenant", "acme", "--db", cfg.DB}, &out, io.Discard); err != nil {
		b.Fatal(err)
	}
	key := strings.TrimSpace(out.String())
	base := "http://" + m.Addr
	body, _ := json.Marshal(map[string]any{"nickname": "Calc", "server_url": upstream, "transport": "streamable_http"})
	rq, _ := http.NewRequest(http.MethodPost, base+featherBase+"/custom-mcp", bytes.NewReader(body))
	rq.Header.Set("Content-Type", "application/json")
	rq.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(rq)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("connect: %d", resp.StatusCode)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp",
		HTTPClient: &http.Client{Transport: keyTransport{key: key, header: "x-api-key"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	// The tool sync runs after the connect: wait until the tool answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 1, "b": 1}})
		if err == nil && !res.IsError {
			return s
		}
		if time.Now().After(deadline) {
			b.Fatalf("the tool never became callable: %v %v", err, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
