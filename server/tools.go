package server

import (
	"context"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// The REST tool API: the agent path for runtimes that are not MCP clients.

// defaultCallsLimit is how many call records a list returns by default.
const defaultCallsLimit = 50

// ListTools lists the tenant's tools as agents see them (Feather shape).
func (s *Server) ListTools(ctx context.Context, req gen.ListToolsRequestObject) (gen.ListToolsResponseObject, error) {
	tools, err := s.reg.TenantTools(ctx, tenantFrom(ctx).ID, deref(req.Params.Persona))
	if err != nil {
		return featherFail[gen.ListToolsdefaultJSONResponse](err)
	}
	out := make(gen.ListTools200JSONResponse, 0, len(tools))
	for _, a := range tools {
		served := a.View
		if served == nil {
			continue // no approved definition: agents see nothing of it
		}
		r := gen.AgentToolResponse{
			Slug:         a.Slug,
			ConnectionId: uuidOf(a.Connection.ID),
			NicknameSlug: a.Connection.Slug,
			ToolPath:     a.Tool.Name,
			Title:        strPtr(served.Title),
			Description:  strPtr(served.Description),
			InputSchema:  served.AdvertisedSchema(),
			IsEnabled:    a.Tool.Enabled,
			IsCallable:   a.Callable(),
		}
		if served.Annotations != nil {
			r.Annotations = &served.Annotations
		}
		out = append(out, r)
	}
	return out, nil
}

// InvokeTool calls a tool by slug and returns its result and the result
// narrowed by the tool's response field map. A caller that accepts input
// requests has the elicitation capability declared upstream for its call,
// and gets the server's questions as {input_requests, request_state}; its
// retry carries the answers and that state (registry/roundtrip.go).
func (s *Server) InvokeTool(ctx context.Context, req gen.InvokeToolRequestObject) (gen.InvokeToolResponseObject, error) {
	b := req.Body
	var input map[string]any
	if b.Input != nil {
		input = *b.Input
	}
	opts := registry.CallOptions{KeyID: APIKeyID(ctx), RequestState: deref(b.RequestState)}
	accept := deref(b.AcceptInputRequests)
	if accept || opts.RequestState != "" {
		// A retry answers questions: it may be asked again.
		opts.ClientCapabilities = map[string]any{"elicitation": map[string]any{}}
	}
	if b.InputResponses != nil {
		opts.InputResponses = *b.InputResponses
	}
	ctx = registry.WithVia(ctx, "rest")
	result, tool, err := s.reg.InvokeAgentTool(ctx, tenantFrom(ctx).ID, deref(req.Params.Persona), req.Slug, input, opts)
	if err != nil {
		return featherFail[gen.InvokeTooldefaultJSONResponse](err)
	}
	if result["resultType"] == registry.ResultInputRequired {
		if opts.ClientCapabilities == nil {
			// A server that asks a caller that declared nothing.
			return gen.InvokeTool200JSONResponse{Result: &map[string]any{
				"isError": true,
				"content": []any{map[string]any{"type": "text", "text": "input required: the tool asks for input; call again with accept_input_requests: true"}},
			}}, nil
		}
		requests, _ := result["inputRequests"].(map[string]any)
		if requests == nil {
			requests = map[string]any{}
		}
		state, _ := result["requestState"].(string)
		return gen.InvokeTool200JSONResponse{InputRequests: &requests, RequestState: &state}, nil
	}
	narrowed := registry.Narrow(result, tool.ResponseFieldMap)
	return gen.InvokeTool200JSONResponse{Result: &result, Narrowed: &narrowed}, nil
}

// ListConnectionCalls lists a connection's recent call records.
func (s *Server) ListConnectionCalls(ctx context.Context, req gen.ListConnectionCallsRequestObject) (gen.ListConnectionCallsResponseObject, error) {
	calls, err := s.reg.Calls(ctx, tenantFrom(ctx).ID, req.ConnectionId.String(), derefOr(req.Params.Limit, defaultCallsLimit))
	if err != nil {
		return featherFail[gen.ListConnectionCallsdefaultJSONResponse](err)
	}
	out := make(gen.ListConnectionCalls200JSONResponse, len(calls))
	for i, c := range calls {
		out[i] = gen.CallRecord{
			Id:           uuidOf(c.ID),
			ConnectionId: uuidOf(c.ConnectionID),
			ToolPath:     c.ToolPath,
			Slug:         c.Slug,
			Via:          gen.CallRecordVia(c.Via),
			Outcome:      gen.CallRecordOutcome(c.Outcome),
			DurationMs:   c.DurationMS,
			Error:        strPtr(c.Error),
			CreatedAt:    c.CreatedAt,
		}
	}
	return out, nil
}
