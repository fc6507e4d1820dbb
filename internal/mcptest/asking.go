package mcptest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// AskingState is the requestState an [Asking] server hands out: it must
// come back to it, and never reach an agent.
const AskingState = "upstream-secret-state-42"

// Asking is a customer's 2026-07-28 server (go-sdk, stateless streamable
// HTTP) whose tools ask for input with the multi round-trip API
// (SEP-2322):
//
//   - greet asks for a name by elicitation, only of a client that declared
//     elicitation (a compliant server); without it, it greets "stranger";
//   - demand asks whatever the client declared (a server that breaks the
//     rule).
//
// A retry must carry AskingState, or the tools say "state lost"; the
// answer is "hello NAME".
type Asking struct {
	URL string
	// Calls counts the tools/call requests its tools got.
	Calls atomic.Int64
}

// NewAsking starts an Asking server; the test's cleanup stops it.
func NewAsking(t testing.TB) *Asking {
	t.Helper()
	a := &Asking{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	schema := map[string]any{"type": "object", "properties": map[string]any{"greeting": map[string]any{"type": "string"}}}
	ask := &mcp.ElicitParams{
		Message: "What is your name?",
		RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}},
			"required": []any{"name"},
		},
	}
	answer := func(req *mcp.CallToolRequest) *mcp.CallToolResult {
		if req.Params.RequestState != AskingState {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "state lost: " + req.Params.RequestState}}}
		}
		res, _ := req.Params.InputResponses["name"].(*mcp.ElicitResult)
		if res == nil || res.Action != "accept" {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "no name given"}}}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("hello %v", res.Content["name"])}}}
	}
	srv.AddTool(&mcp.Tool{Name: "greet", InputSchema: schema}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		a.Calls.Add(1)
		if len(req.Params.InputResponses) > 0 || req.Params.RequestState != "" {
			return answer(req), nil
		}
		if caps := req.ClientCapabilities(); caps == nil || caps.Elicitation == nil {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello stranger"}}}, nil
		}
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"name": ask}, RequestState: AskingState}, nil
	})
	srv.AddTool(&mcp.Tool{Name: "demand", InputSchema: schema}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		a.Calls.Add(1)
		if len(req.Params.InputResponses) > 0 {
			return answer(req), nil
		}
		return &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{"name": ask}, RequestState: AskingState}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		hs.CloseClientConnections() // a pool's warm session
		hs.Close()
	})
	a.URL = hs.URL + "/mcp"
	return a
}
