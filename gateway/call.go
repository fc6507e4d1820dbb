package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/registry"
	"go.opentelemetry.io/otel/trace"
)

// call runs one tools/call for an agent of (tenantID, persona). It returns a result for
// every failure of the call (an isError result naming its cause, so the
// agent, a model, can read it; the registry's timeout bounds the wait),
// and a JSON-RPC error only for a request state tether did not issue
// (-32602, as the revision asks of a server).
func (h *Handler) call(ctx context.Context, tenantID, persona, slug string, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	span := trace.SpanFromContext(ctx)
	args, err := decodeArgs(req.Params.Arguments)
	if err != nil {
		span.SetAttributes(attrErrorType.String("invalid_arguments"))
		return errorResult("invalid arguments: " + err.Error()), nil
	}
	opts, current, err := callOptions(req)
	if err != nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}
	}
	res, failure, rpcErr := h.invokeTool(ctx, tenantID, persona, slug, args, opts)
	if rpcErr != nil {
		return nil, rpcErr
	}
	if failure != "" {
		return errorResult(failure), nil
	}
	if res["resultType"] == registry.ResultInputRequired {
		return ownMeta(inputRequired(res, current)), nil
	}
	out, err := toResult(res, h.maxResult)
	if err != nil {
		return errorResult("invalid upstream response: " + err.Error()), nil
	}
	return ownMeta(out), nil
}

// ownMeta drops from a result's _meta the serverInfo an upstream put
// there (SEP-2575): the SDK then names tether, the agent's server, as the
// fast path does (serverInfoMeta).
func ownMeta(res *mcp.CallToolResult) *mcp.CallToolResult {
	if _, ok := res.Meta[mcp.MetaKeyServerInfo]; ok {
		meta := maps.Clone(res.Meta)
		delete(meta, mcp.MetaKeyServerInfo)
		res.Meta = meta
	}
	return res
}

// invokeTool makes the registry's call for both paths (call, and invoke
// in fastcall.go), and records its outcome on the message's span. A
// failure of the call is failure, worded for the agent (describe); a
// request state tether did not issue is a JSON-RPC error (-32602).
func (h *Handler) invokeTool(ctx context.Context, tenantID, persona, slug string, args map[string]any, opts registry.CallOptions) (res map[string]any, failure string, rpcErr *jsonrpc.Error) {
	res, _, err := h.reg.InvokeAgentTool(ctx, tenantID, persona, slug, args, opts)
	if outcome := registry.Outcome(res, err); outcome != "ok" {
		trace.SpanFromContext(ctx).SetAttributes(attrErrorType.String(outcome))
	}
	if errors.Is(err, registry.ErrInvalidState) {
		msg, _ := describe(err)
		return nil, "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: msg}
	}
	if err != nil {
		msg, internal := describe(err)
		if internal {
			h.log.WarnContext(ctx, "gateway: tool call", "tenant_id", tenantID, "slug", slug, "error", err.Error())
		}
		return nil, msg, nil
	}
	return res, "", nil
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
	if errors.Is(err, registry.ErrInvalidArguments) {
		return registry.ErrInvalidArguments.Error() + ": " + text, false
	}
	if errors.Is(err, registry.ErrInvalidState) {
		return text, false // "invalid request state: ..."
	}
	if errors.Is(err, registry.ErrNotActive) {
		// tasks/* of a task whose connection was disabled since.
		return registry.ErrNotActive.Error() + ": " + text, false
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

// toResult converts the registry's JSON object (already redacted by
// mcpclient) back into an MCP result, within the size cap. The size is
// that of the object's encoding, counted without keeping it; a result of
// the common shape (text content, structured content, isError, _meta) is
// then built from the object directly, and only another shape takes the
// SDK's decoder (one more encode and decode).
func toResult(m map[string]any, limit int64) (*mcp.CallToolResult, error) {
	var size countWriter
	enc := json.NewEncoder(&size)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if size.n-1 > limit { // less Encode's newline
		return nil, fmt.Errorf("result larger than %d bytes", limit)
	}
	res, ok := directResult(m)
	if !ok {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		res = &mcp.CallToolResult{}
		if err := json.Unmarshal(b, res); err != nil {
			return nil, err
		}
	}
	if res.Content == nil {
		res.Content = []mcp.Content{} // "content" is required
	}
	return res, nil
}

// directResult builds the result of the common shape from its JSON object,
// as the SDK's decoder would; ok is false for any other shape.
func directResult(m map[string]any) (res *mcp.CallToolResult, ok bool) {
	res = &mcp.CallToolResult{}
	for k, v := range m {
		switch k {
		case "content":
			if v == nil {
				continue
			}
			items, isList := v.([]any)
			if !isList {
				return nil, false
			}
			res.Content = make([]mcp.Content, 0, len(items))
			for _, item := range items {
				obj, isObj := item.(map[string]any)
				if !isObj || len(obj) != 2 || obj["type"] != "text" {
					return nil, false // annotations, _meta, images...: the SDK decodes them
				}
				text, isText := obj["text"].(string)
				if !isText {
					return nil, false
				}
				res.Content = append(res.Content, &mcp.TextContent{Text: text})
			}
		case "structuredContent":
			res.StructuredContent = v
		case "resultType":
			// "complete" from a 2026-07-28 server: the SDK sets its own.
			if v != registry.ResultComplete {
				return nil, false
			}
		case "isError":
			if v == nil {
				continue
			}
			b, isBool := v.(bool)
			if !isBool {
				return nil, false
			}
			res.IsError = b
		case "_meta":
			if v == nil {
				continue
			}
			meta, isObj := v.(map[string]any)
			if !isObj {
				return nil, false
			}
			res.Meta = meta
		default:
			return nil, false
		}
	}
	return res, true
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// errorResult is a failed call as the agent sees it.
func errorResult(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}
