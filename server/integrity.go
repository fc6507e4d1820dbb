package server

import (
	"context"
	"errors"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// Tool integrity routes (Feather): approve or reject a tool's current
// definition by its fingerprint, and read its history.

// ApproveConnectionTool approves the tool's current definition.
func (s *Server) ApproveConnectionTool(ctx context.Context, req gen.ApproveConnectionToolRequestObject) (gen.ApproveConnectionToolResponseObject, error) {
	t := tenantFrom(ctx)
	by, err := s.deciderOf(ctx)
	if err != nil {
		return nil, err
	}
	c, tool, err := s.reg.ApproveTool(ctx, t.ID, req.ConnectionId.String(), req.ToolId.String(), req.Body.DefinitionHash, by)
	if err != nil {
		return featherFail[gen.ApproveConnectionTooldefaultJSONResponse](err)
	}
	return gen.ApproveConnectionTool200JSONResponse(toConnectionTool(tool, c, t)), nil
}

// RejectConnectionTool rejects the tool's current definition.
func (s *Server) RejectConnectionTool(ctx context.Context, req gen.RejectConnectionToolRequestObject) (gen.RejectConnectionToolResponseObject, error) {
	t := tenantFrom(ctx)
	by, err := s.deciderOf(ctx)
	if err != nil {
		return nil, err
	}
	c, tool, err := s.reg.RejectTool(ctx, t.ID, req.ConnectionId.String(), req.ToolId.String(), req.Body.DefinitionHash, by)
	if err != nil {
		return featherFail[gen.RejectConnectionTooldefaultJSONResponse](err)
	}
	return gen.RejectConnectionTool200JSONResponse(toConnectionTool(tool, c, t)), nil
}

// GetConnectionToolHistory lists the tool's definitions, newest first.
func (s *Server) GetConnectionToolHistory(ctx context.Context, req gen.GetConnectionToolHistoryRequestObject) (gen.GetConnectionToolHistoryResponseObject, error) {
	versions, err := s.reg.ToolHistory(ctx, tenantFrom(ctx).ID, req.ConnectionId.String(), req.ToolId.String())
	if err != nil {
		return featherFail[gen.GetConnectionToolHistorydefaultJSONResponse](err)
	}
	out := gen.GetConnectionToolHistory200JSONResponse{Versions: make([]gen.ToolVersionResponse, len(versions))}
	for i, v := range versions {
		def := map[string]any{"name": v.Definition.Name}
		setIfAny(def, "title", v.Definition.Title)
		setIfAny(def, "description", v.Definition.Description)
		setIfAny(def, "inputSchema", v.Definition.InputSchema)
		setIfAny(def, "outputSchema", v.Definition.OutputSchema)
		setIfAny(def, "annotations", v.Definition.Annotations)
		out.Versions[i] = gen.ToolVersionResponse{
			DefinitionHash: v.Hash,
			FirstSeenAt:    v.FirstSeenAt,
			LastSeenAt:     v.LastSeenAt,
			ApprovedAt:     v.ApprovedAt,
			ApprovedBy:     strPtr(v.ApprovedBy),
			RejectedAt:     v.RejectedAt,
			RejectedBy:     strPtr(v.RejectedBy),
			Changes:        v.Changes,
			Definition:     &def,
		}
	}
	return out, nil
}

// deciderOf names the API key of the request for an approval record (the
// principal authenticate put on the context).
func (s *Server) deciderOf(ctx context.Context) (string, error) {
	if id := registry.ActorFrom(ctx).KeyID; id != "" {
		return id, nil
	}
	return "", errors.New("name the approving API key: the request has none")
}

// setIfAny sets m[k] to a non-empty string or a non-nil object.
func setIfAny[V string | map[string]any](m map[string]any, k string, v V) {
	if len(v) > 0 {
		m[k] = v
	}
}
