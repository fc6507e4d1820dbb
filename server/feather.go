package server

import (
	"context"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// ConnectCustomMcp creates a connection (Feather).
func (s *Server) ConnectCustomMcp(ctx context.Context, req gen.ConnectCustomMcpRequestObject) (gen.ConnectCustomMcpResponseObject, error) {
	in, oauthReq, err := fromCustomMcpCreate(req.Body)
	if err != nil {
		return featherFail[gen.ConnectCustomMcpdefaultJSONResponse](err)
	}
	if oauthReq != nil {
		c, pending, err := s.reg.ConnectOAuth(ctx, tenantFrom(ctx).ID, in, *oauthReq)
		if err != nil {
			return featherFail[gen.ConnectCustomMcpdefaultJSONResponse](err)
		}
		return gen.ConnectCustomMcp201JSONResponse(connectResponse(c, pending)), nil
	}
	c, err := s.reg.Create(ctx, tenantFrom(ctx).ID, in)
	if err != nil {
		return featherFail[gen.ConnectCustomMcpdefaultJSONResponse](err)
	}
	return gen.ConnectCustomMcp201JSONResponse(connectResponse(c, nil)), nil
}

// ListConnections lists the tenant's connections (Feather); without limit,
// all of them.
func (s *Server) ListConnections(ctx context.Context, req gen.ListConnectionsRequestObject) (gen.ListConnectionsResponseObject, error) {
	t := tenantFrom(ctx)
	conns, _, err := s.reg.List(ctx, t.ID, registry.ListFilter{Limit: deref(req.Params.Limit), Offset: deref(req.Params.Offset)})
	if err != nil {
		return featherFail[gen.ListConnectionsdefaultJSONResponse](err)
	}
	ids := make([]string, len(conns))
	for i, c := range conns {
		ids[i] = c.ID
	}
	tools, err := s.reg.ToolsOf(ctx, t.ID, ids...)
	if err != nil {
		return nil, err
	}
	out := make(gen.ListConnections200JSONResponse, len(conns))
	for i, c := range conns {
		out[i] = toConnectionResponse(c, t, tools[c.ID])
	}
	return out, nil
}

// GetConnection returns one connection (Feather).
func (s *Server) GetConnection(ctx context.Context, req gen.GetConnectionRequestObject) (gen.GetConnectionResponseObject, error) {
	t := tenantFrom(ctx)
	c, tools, err := s.reg.Tools(ctx, t.ID, req.ConnectionId.String())
	if err != nil {
		return featherFail[gen.GetConnectiondefaultJSONResponse](err)
	}
	return gen.GetConnection200JSONResponse(toConnectionResponse(c, t, tools)), nil
}

// UpdateConnection renames a connection; the slug never changes (Feather).
func (s *Server) UpdateConnection(ctx context.Context, req gen.UpdateConnectionRequestObject) (gen.UpdateConnectionResponseObject, error) {
	t := tenantFrom(ctx)
	var p registry.Patch
	if req.Body.Nickname != nil {
		p.Nickname = req.Body.Nickname
	}
	if req.Body.ToolPolicy != nil {
		policy := registry.ToolPolicy(*req.Body.ToolPolicy)
		p.ToolPolicy = &policy
	}
	p.ToolPrefix = optional(req.Body.ToolPrefix)
	c, err := s.reg.Update(ctx, t.ID, req.ConnectionId.String(), p)
	if err != nil {
		return featherFail[gen.UpdateConnectiondefaultJSONResponse](err)
	}
	tools, err := s.reg.ToolsOf(ctx, t.ID, c.ID)
	if err != nil {
		return nil, err
	}
	return gen.UpdateConnection200JSONResponse(toConnectionResponse(c, t, tools[c.ID])), nil
}

// DisconnectConnection deletes a connection (Feather, 204).
func (s *Server) DisconnectConnection(ctx context.Context, req gen.DisconnectConnectionRequestObject) (gen.DisconnectConnectionResponseObject, error) {
	if err := s.reg.Delete(ctx, tenantFrom(ctx).ID, req.ConnectionId.String()); err != nil {
		return featherFail[gen.DisconnectConnectiondefaultJSONResponse](err)
	}
	return gen.DisconnectConnection204Response{}, nil
}

// RefreshConnectionTools starts a background tool sync (Feather, 202).
func (s *Server) RefreshConnectionTools(ctx context.Context, req gen.RefreshConnectionToolsRequestObject) (gen.RefreshConnectionToolsResponseObject, error) {
	t := tenantFrom(ctx)
	c, err := s.reg.RefreshTools(ctx, t.ID, req.ConnectionId.String())
	if err != nil {
		return featherFail[gen.RefreshConnectionToolsdefaultJSONResponse](err)
	}
	tools, err := s.reg.ToolsOf(ctx, t.ID, c.ID)
	if err != nil {
		return nil, err
	}
	return gen.RefreshConnectionTools202JSONResponse(toConnectionResponse(c, t, tools[c.ID])), nil
}

// BulkUpdateConnectionTools enables or disables every tool (Feather).
func (s *Server) BulkUpdateConnectionTools(ctx context.Context, req gen.BulkUpdateConnectionToolsRequestObject) (gen.BulkUpdateConnectionToolsResponseObject, error) {
	t := tenantFrom(ctx)
	id := req.ConnectionId.String()
	if _, err := s.reg.SetAllTools(ctx, t.ID, id, req.Body.IsEnabled); err != nil {
		return featherFail[gen.BulkUpdateConnectionToolsdefaultJSONResponse](err)
	}
	c, tools, err := s.reg.Tools(ctx, t.ID, id)
	if err != nil {
		return featherFail[gen.BulkUpdateConnectionToolsdefaultJSONResponse](err)
	}
	out := make(gen.BulkUpdateConnectionTools200JSONResponse, len(tools))
	for i, tool := range tools {
		out[i] = toConnectionTool(tool, c, t)
	}
	return out, nil
}

// UpdateConnectionTool edits one tool's author settings (Feather).
func (s *Server) UpdateConnectionTool(ctx context.Context, req gen.UpdateConnectionToolRequestObject) (gen.UpdateConnectionToolResponseObject, error) {
	t := tenantFrom(ctx)
	var p registry.ToolPatch
	p.Enabled = req.Body.IsEnabled
	if f := req.Body.ResponseFieldMap; f.IsSpecified() {
		p.ResponseFieldMap.Set, p.ResponseFieldMap.Null = true, f.IsNull()
		if !f.IsNull() {
			p.ResponseFieldMap.Value = f.MustGet()
		}
	}
	if d := req.Body.InputDefaults; d.IsSpecified() {
		p.InputDefaults.Set, p.InputDefaults.Null = true, d.IsNull()
		if !d.IsNull() {
			p.InputDefaults.Value = fromInputDefaults(d.MustGet())
		}
	}
	p.TitleOverride = optional(req.Body.TitleOverride)
	p.DescriptionOverride = optional(req.Body.DescriptionOverride)
	c, tool, err := s.reg.UpdateTool(ctx, t.ID, req.ConnectionId.String(), req.ToolId.String(), p)
	if err != nil {
		return featherFail[gen.UpdateConnectionTooldefaultJSONResponse](err)
	}
	return gen.UpdateConnectionTool200JSONResponse(toConnectionTool(tool, c, t)), nil
}

// TestMcpCallConnection calls a tool by slug and returns the raw result (Feather).
func (s *Server) TestMcpCallConnection(ctx context.Context, req gen.TestMcpCallConnectionRequestObject) (gen.TestMcpCallConnectionResponseObject, error) {
	var input map[string]any
	if req.Body.Input != nil {
		input = *req.Body.Input
	}
	result, err := s.reg.CallTool(ctx, tenantFrom(ctx).ID, req.ConnectionId.String(), req.Body.Slug, input)
	if err != nil {
		return featherFail[gen.TestMcpCallConnectiondefaultJSONResponse](err)
	}
	return gen.TestMcpCallConnection200JSONResponse{Result: result}, nil
}
