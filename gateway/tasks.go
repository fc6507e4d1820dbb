package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tether-dev/tether/internal/mcpheader"
	"github.com/tether-dev/tether/registry"
)

// The tasks extension (io.modelcontextprotocol/tasks, SEP-2663) on /mcp.
// go-sdk v1.8.0 refuses tasks/* before any middleware runs, and a tool
// handler can only return a CallToolResult, so these requests are served
// here, in front of the SDK, as raw JSON-RPC: tasks/get, tasks/update and
// tasks/cancel, and the tools/call of an agent that declared the
// extension (whose answer may be a task). Only 2026-07-28 requests get
// here (isStateless); older revisions have no extensions.
//
// A task's id, as the agent sees it, is a handle sealed by the registry
// (tenant, API key, connection and its server, the upstream's taskId, an
// expiry): tasks/* go back to the server that made the task, and a
// forged or expired handle, another tenant's or key's, or one whose
// connection was edited to reach another server is -32602.

// maxInterceptBody bounds the body read to decide whether a request is
// one of these; larger ones go to the SDK, which has its own limit.
const maxInterceptBody = 4 << 20

// codeMissingCapability is MCP's "Missing required client capability".
const codeMissingCapability = -32021

// rpcRequest is a JSON-RPC request as /mcp reads it here.
type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  map[string]any  `json:"params"`
}

// interceptTasks serves req if it is a tasks request, reporting whether
// it did.
func (h *Handler) interceptTasks(w http.ResponseWriter, r *http.Request, req *rpcRequest, tenantID, persona string) bool {
	meta, _ := req.Params["_meta"].(map[string]any)
	caps, _ := meta[mcp.MetaKeyClientCapabilities].(map[string]any)
	declared := registry.DeclaresTasks(caps)
	if !registry.TaskMethods[req.Method] && (req.Method != "tools/call" || !declared) {
		return false
	}
	r.Body = http.NoBody
	if rpcErr := checkRequestMeta(r, meta); rpcErr != nil {
		writeRPC(w, http.StatusBadRequest, req.ID, nil, rpcErr)
		return true
	}
	if msg, ok := routingMismatch(r, req); !ok {
		writeRPC(w, http.StatusBadRequest, req.ID, nil, &jsonrpc.Error{Code: mcp.CodeHeaderMismatch, Message: msg})
		return true
	}
	if !declared {
		data, _ := json.Marshal(map[string]any{"requiredCapabilities": map[string]any{
			"extensions": map[string]any{registry.TasksExtension: map[string]any{}}}})
		// 400, as the revision answers a missing capability.
		writeRPC(w, http.StatusBadRequest, req.ID, nil, &jsonrpc.Error{Code: codeMissingCapability, Message: "Missing required client capability", Data: data})
		return true
	}
	if req.Method == "tools/call" {
		// The answer may be a result, an input-required answer or a
		// task, passed through with tether's sealed state and handle
		// (fastcall.go).
		name, _ := req.Params["name"].(string)
		ctx, span := h.startMessage(r.Context(), requestParent(r), tenantID, req.Method, name, meta)
		defer span.End()
		res, toolErr, rpcErr := h.invoke(ctx, r, tenantID, persona, req.Params, true)
		endMessage(span, toolErr, rpcErr != nil)
		writeAnswer(w, req.ID, res, rpcErr)
		return true
	}
	params := map[string]any{}
	for k, v := range req.Params {
		if k != "_meta" {
			params[k] = v
		}
	}
	res, err := h.reg.TaskRequest(r.Context(), tenantID, h.keyID(r), req.Method, params)
	if err != nil {
		writeRPC(w, http.StatusOK, req.ID, nil, h.rpcError(r, err))
		return true
	}
	if _, ok := res["resultType"]; !ok {
		res["resultType"] = registry.ResultComplete
	}
	writeRPC(w, http.StatusOK, req.ID, res, nil)
	return true
}

// routingMismatch checks the routing headers against the body (SEP-2243;
// for tasks/*, Mcp-Name is the taskId).
func routingMismatch(r *http.Request, req *rpcRequest) (string, bool) {
	if got := r.Header.Get("Mcp-Method"); got != req.Method {
		return "header mismatch: Mcp-Method does not match the body's method", false
	}
	key := "taskId"
	if req.Method == "tools/call" {
		key = "name"
	}
	want, _ := req.Params[key].(string)
	if got := r.Header.Get("Mcp-Name"); got != want && got != mcpheader.Encode(want) {
		return "header mismatch: Mcp-Name does not match the body's " + key, false
	}
	return "", true
}

// rpcError words a failed tasks request: -32602 for a handle tether did
// not issue (or a task the server does not know), -32603 otherwise.
func (h *Handler) rpcError(r *http.Request, err error) *jsonrpc.Error {
	msg, internal := describe(err)
	if internal {
		h.log.WarnContext(r.Context(), "gateway: tasks request", "error", err.Error())
	}
	// The server's own -32602 is a task it does not know (the tasks
	// extension's code for an invalid or nonexistent taskId).
	var upErr *jsonrpc.Error
	if errors.Is(err, registry.ErrInvalidState) ||
		(errors.Is(err, registry.ErrUpstreamError) && errors.As(err, &upErr) && upErr.Code == jsonrpc.CodeInvalidParams) {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: msg}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}
}

// writeRPC writes one JSON-RPC answer.
func writeRPC(w http.ResponseWriter, status int, id json.RawMessage, result map[string]any, rpcErr *jsonrpc.Error) {
	msg := map[string]any{"jsonrpc": "2.0", "id": id}
	if rpcErr != nil {
		msg["error"] = rpcErr
	} else {
		msg["result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(msg)
}
