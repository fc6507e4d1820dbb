package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
)

// call runs one tools/call for an agent of v. It always returns a result:
// every failure becomes an isError result naming its cause, so the agent
// (a model) can read it, and the registry's timeout bounds the wait.
func (h *Handler) call(ctx context.Context, v *view, slug string, raw json.RawMessage) *mcp.CallToolResult {
	args, err := decodeArgs(raw)
	if err != nil {
		return errorResult("invalid arguments: " + err.Error())
	}
	res, err := h.reg.CallAgentTool(ctx, v.tenantID, v.persona, slug, args)
	if err != nil {
		msg, internal := describe(err)
		if internal {
			h.log.WarnContext(ctx, "gateway: tool call", "tenant_id", v.tenantID, "slug", slug, "error", err.Error())
		}
		return errorResult(msg)
	}
	out, err := toResult(res, h.maxResult)
	if err != nil {
		return errorResult("invalid upstream response: " + err.Error())
	}
	return out
}

// decodeArgs reads tools/call arguments: a JSON object, or nothing.
func decodeArgs(raw json.RawMessage) (map[string]any, error) {
	args := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return args, nil
	}
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, errors.New("arguments must be a JSON object")
	}
	return args, nil
}

// describe words a failed call for the agent: "upstream timeout: no answer
// within 1000ms", "tool unavailable: tool "crm_add" is disabled". The kinds
// are the registry's; an upstream failure's message already begins with
// its kind, the registry's own messages do not. internal reports an error
// of tether's own, whose text stays in the log.
func describe(err error) (msg string, internal bool) {
	text := err.Error()
	var re *registry.Error
	if errors.As(err, &re) {
		text = re.Message
	}
	// An unknown slug, or one outside the persona's view (the agent's list
	// may be a moment behind the registry), is unavailable to the agent.
	if errors.Is(err, registry.ErrToolUnavailable) || errors.Is(err, registry.ErrNotFound) {
		return registry.ErrToolUnavailable.Error() + ": " + text, false
	}
	kind := registry.UpstreamKind(err)
	if kind == nil {
		return "internal error", true
	}
	if !strings.HasPrefix(text, kind.Error()) {
		text = kind.Error() + ": " + text
	}
	return "upstream " + text, false
}

// toResult converts the registry's JSON object back into an MCP result,
// within the size cap.
func toResult(m map[string]any, limit int64) (*mcp.CallToolResult, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("result larger than %d bytes", limit)
	}
	var res mcp.CallToolResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	if res.Content == nil {
		res.Content = []mcp.Content{} // "content" is required
	}
	return &res, nil
}

// errorResult is a failed call as the agent sees it.
func errorResult(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}
