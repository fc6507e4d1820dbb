package registry_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// BenchmarkHealthMonitor1000 measures one health-monitor round over 1,000
// registered servers (spread over 10 local go-sdk servers) with the
// default concurrency, against the baseline of the same 1,000 probes made
// one after another directly with go-sdk (initialize + tools/list).
func BenchmarkHealthMonitor1000(b *testing.B) {
	const servers, conns = 10, 1000
	var urls []string
	for i := range servers {
		s := mcp.NewServer(&mcp.Implementation{Name: fmt.Sprintf("up-%d", i), Version: "1"}, nil)
		for j := range 5 {
			mcp.AddTool(s, &mcp.Tool{Name: fmt.Sprintf("tool-%d", j), Description: "a tool"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
		}
		srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
		b.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	key, _ := secrets.GenerateKey("bench")
	ring, _ := secrets.NewKeyring([]secrets.Key{key})
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), store.Options{Cipher: ring})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	guard := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	client := mcpclient.New(mcpclient.Options{Guard: guard})
	svc := registry.NewService(registry.Options{Store: st, URLs: guard, Prober: client})
	b.Cleanup(svc.Close)
	tenant, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "00000000-0000-4000-8000-000000000001", Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range conns {
		if _, err := svc.Create(ctx, tenant.ID, registry.NewConnection{
			Name: fmt.Sprintf("srv-%d", i), Transport: registry.TransportStreamableHTTP, Endpoint: urls[i%servers],
			Enabled: true, TimeoutMS: 30000,
		}); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("monitor round, default concurrency", func(b *testing.B) {
		for b.Loop() {
			if n := svc.ProbeAll(ctx, 0, nil); n != conns {
				b.Fatalf("probed %d, want %d", n, conns)
			}
		}
	})
	b.Run("baseline: direct go-sdk probes one by one", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			for i := range conns {
				c := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
				s, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: urls[i%servers]}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.ListTools(ctx, nil); err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			_ = start
		}
	})
}
