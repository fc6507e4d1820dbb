package mcptest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool adds one tool to a server: an Upstream's (Options.Tools), or any
// other go-sdk server a test builds.
type Tool func(*mcp.Server)

type addIn struct {
	A int `json:"a" jsonschema:"first addend"`
	B int `json:"b" jsonschema:"second addend"`
}

type addOut struct {
	Sum int `json:"sum"`
}

type echoIn struct {
	Text string `json:"text"`
}

type lookupOut struct {
	Received map[string]any `json:"received"`
}

type sleepIn struct {
	MS int `json:"ms"`
}

type profileUser struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type profileOut struct {
	User profileUser `json:"user"`
	Plan string      `json:"plan"`
}

// The tools an Upstream can serve.
var (
	// Add: "add" {a, b} answers the structured content {sum}.
	Add = AddNamed("add", "Add two numbers")
	// Echo: "echo" {text} answers the text.
	Echo Tool = func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Echo text"},
			func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
			})
	}
	// Lookup: "lookup" {query, account, limit}, all required, reports the
	// arguments it received as {received} (text and structured).
	Lookup Tool = func(s *mcp.Server) {
		s.AddTool(&mcp.Tool{
			Name: "lookup", Description: "Look up records",
			InputSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"query":   map[string]any{"type": "string"},
					"account": map[string]any{"type": "string"},
					"limit":   map[string]any{"type": "integer"},
				},
				"required": []any{"query", "account", "limit"},
			},
		}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args map[string]any
			if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
				return nil, err
			}
			b, _ := json.Marshal(lookupOut{Received: args})
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}, StructuredContent: lookupOut{Received: args}}, nil
		})
	}
	// Fail: "fail" answers a tool error (isError) "it failed".
	Fail Tool = func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails"},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "it failed"}}}, nil, nil
			})
	}
	// Sleep: "sleep" {ms} answers "slept" after ms milliseconds, or when the
	// call is cancelled.
	Sleep Tool = func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "sleep", Description: "Sleeps for ms milliseconds"},
			func(ctx context.Context, _ *mcp.CallToolRequest, in sleepIn) (*mcp.CallToolResult, any, error) {
				select {
				case <-time.After(time.Duration(in.MS) * time.Millisecond):
				case <-ctx.Done():
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "slept"}}}, nil, nil
			})
	}
	// Profile: "profile" answers a nested structured result
	// {user: {name, email}, plan}.
	Profile Tool = func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "profile", Description: "A nested result"},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, profileOut, error) {
				return nil, profileOut{User: profileUser{Name: "Ada", Email: "ada@example.com"}, Plan: "pro"}, nil
			})
	}
)

// AddNamed is Add under another name and description.
func AddNamed(name, description string) Tool {
	return func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: name, Description: description},
			func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
				return nil, addOut{Sum: in.A + in.B}, nil
			})
	}
}

// slow is "slow", which answers only once the call is cancelled or release
// is closed.
func slow(release <-chan struct{}) Tool {
	return func(s *mcp.Server) {
		mcp.AddTool(s, &mcp.Tool{Name: "slow", Description: "Never answers in time"},
			func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
				select {
				case <-ctx.Done():
				case <-release:
				}
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "late"}}}, nil, nil
			})
	}
}
