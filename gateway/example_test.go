package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/registry"
)

// oneTool is a registry with a single tool, standing in for
// registry.Service.
type oneTool struct{}

func (oneTool) AgentTools(context.Context, string, string) ([]registry.AgentTool, error) {
	tool := &registry.Tool{
		Name:        "forecast",
		Description: "Forecast for a city",
		InputSchema: map[string]any{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}, "units": map[string]any{"type": "string"}},
			"required":   []any{"city", "units"},
		},
		InputDefaults: map[string]registry.InputArg{"units": {Value: "metric", Pinned: true}},
	}
	return []registry.AgentTool{{
		Slug:       "weather_forecast",
		Connection: &registry.Connection{ID: "c1", Slug: "weather"},
		// View is what agents are served: here the tool as it is (an
		// approved definition, no overrides).
		Tool: tool, View: tool,
	}}, nil
}

func (oneTool) InvokeAgentTool(_ context.Context, _, _, _ string, args map[string]any, _ registry.CallOptions) (map[string]any, *registry.Tool, error) {
	return map[string]any{"content": []any{map[string]any{"type": "text", "text": fmt.Sprintf("sunny in %v", args["city"])}}}, nil, nil
}

func (oneTool) TaskRequest(context.Context, string, string, string, map[string]any) (map[string]any, error) {
	return nil, registry.ErrUnsupported
}

func ExampleNew() {
	gw := gateway.New(gateway.Options{
		Registry: oneTool{},
		// The real server resolves the tenant from the API key.
		Tenant: func(r *http.Request) (string, bool) { return "acme", true },
	})
	srv := httptest.NewServer(gw)
	defer srv.Close()
	defer gw.Close()

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()
	tools, _ := cs.ListTools(ctx, nil)
	for _, t := range tools.Tools {
		// The pinned "units" is not advertised.
		fmt.Println(t.Name, t.InputSchema.(map[string]any)["required"])
	}
	res, _ := cs.CallTool(ctx, &mcp.CallToolParams{Name: "weather_forecast", Arguments: map[string]any{"city": "Lisbon"}})
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// Output:
	// weather_forecast [city]
	// sunny in Lisbon
}
