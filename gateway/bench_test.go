package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/registry"
)

// latencies records one duration per operation and reports percentiles.
type latencies []time.Duration

func (l *latencies) time(f func()) {
	t0 := time.Now()
	f()
	*l = append(*l, time.Since(t0))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkCall compares one tool call made directly with go-sdk to a local
// upstream (the baseline) with the same call through each layer of the
// agent path: the warm pool alone, the registry (pins, defaults, last-use
// record) over the pool, and tether's /mcp end to end (go-sdk client →
// Handler → registry → Pool → upstream).
func BenchmarkCall(b *testing.B) {
	e := newEnv(b, envOptions{})
	up := newUpstream(b, "calc", false)
	c := e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	ctx := context.Background()
	args := map[string]any{"a": 2, "b": 3}

	b.Run("direct", func(b *testing.B) {
		client := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: up.URL()}, nil)
		require.NoError(b, err)
		defer cs.Close()
		var l latencies
		for b.Loop() {
			l.time(func() {
				_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "add", Arguments: args})
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		l.report(b)
	})
	b.Run("pool", func(b *testing.B) {
		var l latencies
		var err error
		for b.Loop() {
			l.time(func() { _, err = e.pool.CallTool(ctx, c, "add", args) })
			if err != nil {
				b.Fatal(err)
			}
		}
		l.report(b)
	})
	b.Run("registry", func(b *testing.B) {
		var l latencies
		var err error
		for b.Loop() {
			l.time(func() { _, err = e.svc.CallAgentTool(ctx, "acme", "", "calc_add", args) })
			if err != nil {
				b.Fatal(err)
			}
		}
		l.report(b)
	})
	// Through /mcp: sessions (2025-11-25), and the 2026-07-28 revision
	// (no session, each request on its own).
	for _, run := range []struct{ name, version string }{{"gateway-stateless", newVersion}, {"gateway", legacyVersion}} {
		b.Run(run.name, func(b *testing.B) {
			cs := e.agent(agentOptions{tenant: "acme", version: run.version})
			var l latencies
			var res *mcp.CallToolResult
			var err error
			for b.Loop() {
				l.time(func() {
					res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "calc_add", Arguments: args})
				})
				if err != nil || res.IsError {
					b.Fatal(err, text(res))
				}
			}
			l.report(b)
		})
	}
}

// BenchmarkToolsList measures tools/list through /mcp for a tenant with
// 10 and 100 connected upstreams (4 tools each). The list is served from
// the view's registered tools; building a view reads the registry's cache
// (one SQLite query for the connections, one for their tools) and never
// contacts an upstream, so the cost does not grow with upstream latency.
func BenchmarkToolsList(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("upstreams=%d", n), func(b *testing.B) {
			e := newEnv(b, envOptions{})
			up := newUpstream(b, "many", false)
			for i := range n {
				e.connect("acme", connOptions{name: fmt.Sprintf("up-%03d", i), transport: up.Transport(), endpoint: up.URL()})
			}
			ctx := context.Background()
			want := n * 4

			b.Run("direct", func(b *testing.B) {
				// The baseline: one go-sdk server offering the same tools.
				cs := e.agent(agentOptions{tenant: "acme"})
				tools, err := cs.ListTools(ctx, nil)
				require.NoError(b, err)
				s := mcp.NewServer(&mcp.Implementation{Name: "direct", Version: "1"}, nil)
				for _, tool := range tools.Tools {
					s.AddTool(tool, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
						return &mcp.CallToolResult{}, nil
					})
				}
				srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
				defer srv.Close()
				direct, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).
					Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL}, nil)
				require.NoError(b, err)
				defer direct.Close()
				var l latencies
				for b.Loop() {
					var res *mcp.ListToolsResult
					l.time(func() { res, err = direct.ListTools(ctx, nil) })
					if err != nil || len(res.Tools) != want {
						b.Fatal(err, len(res.Tools))
					}
				}
				l.report(b)
			})
			b.Run("gateway", func(b *testing.B) {
				cs := e.agent(agentOptions{tenant: "acme"})
				var l latencies
				for b.Loop() {
					var res *mcp.ListToolsResult
					var err error
					l.time(func() { res, err = cs.ListTools(ctx, nil) })
					if err != nil || len(res.Tools) != want {
						b.Fatal(err, len(res.Tools))
					}
				}
				l.report(b)
			})
			b.Run("agent-tools", func(b *testing.B) {
				// What a view's (re-)sync reads.
				var l latencies
				for b.Loop() {
					var err error
					l.time(func() { _, err = e.svc.AgentTools(ctx, "acme", "") })
					if err != nil {
						b.Fatal(err)
					}
				}
				l.report(b)
			})
			b.Run("new-view", func(b *testing.B) {
				// A persona never seen before: the view is built, then an
				// agent connects and lists.
				var l latencies
				i := 0
				for b.Loop() {
					i++
					l.time(func() {
						cs, err := e.dialUntracked(agentOptions{tenant: "acme", persona: fmt.Sprintf("p%d", i)})
						if err != nil {
							b.Fatal(err)
						}
						res, err := cs.ListTools(ctx, nil)
						if err != nil || len(res.Tools) != want {
							b.Fatal(err)
						}
						_ = cs.Close()
					})
				}
				l.report(b)
			})
		})
	}
}

// dialUntracked connects an agent the caller closes.
func (e *env) dialUntracked(o agentOptions) (*mcp.ClientSession, error) {
	hdr := http.Header{}
	hdr.Set(tenantHeader, o.tenant)
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	return client.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint:   e.srv.URL + "/mcp?persona=" + o.persona,
		HTTPClient: &http.Client{Transport: headerTransport{hdr}},
	}, nil)
}

// BenchmarkToolIntegrity compares tools/list and a tool call through /mcp
// for a connection of 100 tools under tool_policy auto and approve (every
// tool approved), and under approve with every definition changed since
// its approval (agents served the approved definitions, calls checked
// against the approved input schema). Each policy has a tenant of its own,
// and so a view of its own.
func BenchmarkToolIntegrity(b *testing.B) {
	const n = 100
	e := newEnv(b, envOptions{})
	tools := func(desc string) []mcptest.Tool {
		out := make([]mcptest.Tool, n)
		for i := range out {
			out[i] = mcptest.AddNamed(fmt.Sprintf("t%03d", i), desc)
		}
		return out
	}
	ctx := context.Background()
	args := map[string]any{"a": 2, "b": 3}
	cases := []struct {
		name, tenant string
		policy       registry.ToolPolicy
		changed      bool
	}{
		{"auto", "acme", registry.PolicyAuto, false},
		{"approve", "globex", registry.PolicyApprove, false},
		{"approve-changed", "initech", registry.PolicyApprove, true},
	}
	for _, tc := range cases {
		_, err := e.store.EnsureTenant(ctx, &registry.Tenant{ID: tc.tenant, Name: tc.tenant})
		require.NoError(b, err)
		up := mcptest.New(b, mcptest.Options{Name: "many", Tools: tools("Add two numbers")})
		c := e.connect(tc.tenant, connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL(), policy: tc.policy})
		if tc.policy == registry.PolicyApprove {
			_, list, err := e.svc.Tools(ctx, tc.tenant, c.ID)
			require.NoError(b, err)
			for _, t := range list {
				_, _, err := e.svc.ApproveTool(ctx, tc.tenant, c.ID, t.ID, t.DefinitionHash, "bench")
				require.NoError(b, err)
			}
		}
		if tc.changed {
			for _, add := range tools("Add two numbers, and more") {
				add(up.Server)
			}
			out, err := e.svc.Test(ctx, tc.tenant, c.ID)
			require.NoError(b, err)
			require.True(b, out.Connected)
			_, list, err := e.svc.Tools(ctx, tc.tenant, c.ID)
			require.NoError(b, err)
			require.Equal(b, registry.Changed, list[0].ApprovalStatus)
		}
		cs := e.agent(agentOptions{tenant: tc.tenant})
		b.Run(tc.name+"/list", func(b *testing.B) {
			var l latencies
			for b.Loop() {
				var res *mcp.ListToolsResult
				var err error
				l.time(func() { res, err = cs.ListTools(ctx, nil) })
				if err != nil || len(res.Tools) != n {
					b.Fatal(err, len(res.Tools))
				}
			}
			l.report(b)
		})
		b.Run(tc.name+"/call", func(b *testing.B) {
			var l latencies
			var res *mcp.CallToolResult
			var err error
			for b.Loop() {
				l.time(func() {
					res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "calc_t042", Arguments: args})
				})
				if err != nil || res.IsError {
					b.Fatal(err, text(res))
				}
			}
			l.report(b)
		})
	}
}
