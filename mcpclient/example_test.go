package mcpclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/registry"
)

func ExampleClient_Probe() {
	// An MCP server that speaks only legacy SSE, on loopback.
	server := mcp.NewServer(&mcp.Implementation{Name: "weather", Version: "1.0.0"}, nil)
	server.AddTool(&mcp.Tool{Name: "forecast", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	srv := httptest.NewServer(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return server }, nil))
	defer srv.Close()

	// Loopback is refused unless the operator trusts it (--allow-cidrs).
	guard := netguard.New(netguard.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	c := mcpclient.New(mcpclient.Options{Guard: guard})

	// "http" tries streamable HTTP first, then falls back to SSE.
	res, err := c.Probe(context.Background(), &registry.Connection{
		Transport: registry.TransportHTTP,
		Endpoint:  srv.URL,
		TimeoutMS: 5000,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Transport, res.ServerInfo.Name, len(res.Tools), res.Tools[0].Name)
	// Output: sse weather 1 forecast
}
