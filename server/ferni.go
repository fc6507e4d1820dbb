package server

import (
	"context"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// Ferni list paging defaults (the seed: limit default 50, max 100).
const ferniDefaultLimit = 50

// CreateMcpServer registers a server (Ferni).
func (s *Server) CreateMcpServer(ctx context.Context, req gen.CreateMcpServerRequestObject) (gen.CreateMcpServerResponseObject, error) {
	t := tenantFrom(ctx)
	c, err := s.reg.Create(ctx, t.ID, fromMcpServerCreate(req.Body))
	if err != nil {
		return ferniFail[gen.CreateMcpServerdefaultJSONResponse](err)
	}
	return gen.CreateMcpServer201JSONResponse{Success: true, Data: toMcpServer(c)}, nil
}

// ListMcpServers lists servers with paging and a status filter (Ferni).
func (s *Server) ListMcpServers(ctx context.Context, req gen.ListMcpServersRequestObject) (gen.ListMcpServersResponseObject, error) {
	t := tenantFrom(ctx)
	f := registry.ListFilter{Limit: derefOr(req.Params.Limit, ferniDefaultLimit), Offset: deref(req.Params.Offset)}
	if req.Params.Status != nil {
		f.Status = registry.Status(*req.Params.Status)
	}
	conns, total, err := s.reg.List(ctx, t.ID, f)
	if err != nil {
		return ferniFail[gen.ListMcpServersdefaultJSONResponse](err)
	}
	data := make([]gen.McpServer, len(conns))
	for i, c := range conns {
		data[i] = toMcpServer(c)
	}
	return ferniList{
		Success:    true,
		Data:       data,
		Pagination: gen.Pagination{Total: total, Limit: f.Limit, Offset: f.Offset},
	}, nil
}

// GetMcpServer returns one server (Ferni).
func (s *Server) GetMcpServer(ctx context.Context, req gen.GetMcpServerRequestObject) (gen.GetMcpServerResponseObject, error) {
	c, err := s.reg.Get(ctx, tenantFrom(ctx).ID, req.Id)
	if err != nil {
		return ferniFail[gen.GetMcpServerdefaultJSONResponse](err)
	}
	return gen.GetMcpServer200JSONResponse{Success: true, Data: toMcpServer(c)}, nil
}

// UpdateMcpServer applies a partial update (Ferni PUT).
func (s *Server) UpdateMcpServer(ctx context.Context, req gen.UpdateMcpServerRequestObject) (gen.UpdateMcpServerResponseObject, error) {
	c, err := s.reg.Update(ctx, tenantFrom(ctx).ID, req.Id, fromMcpServerUpdate(req.Body))
	if err != nil {
		return ferniFail[gen.UpdateMcpServerdefaultJSONResponse](err)
	}
	return gen.UpdateMcpServer200JSONResponse{Success: true, Data: toMcpServer(c)}, nil
}

// DeleteMcpServer removes a server (Ferni).
func (s *Server) DeleteMcpServer(ctx context.Context, req gen.DeleteMcpServerRequestObject) (gen.DeleteMcpServerResponseObject, error) {
	if err := s.reg.Delete(ctx, tenantFrom(ctx).ID, req.Id); err != nil {
		return ferniFail[gen.DeleteMcpServerdefaultJSONResponse](err)
	}
	var resp gen.DeleteMcpServer200JSONResponse
	resp.Success = true
	resp.Data.Deleted = true
	resp.Data.Id = req.Id
	return resp, nil
}

// TestMcpServer probes a server now and reports the outcome (Ferni); a
// failed connection is a 200 with connected:false.
func (s *Server) TestMcpServer(ctx context.Context, req gen.TestMcpServerRequestObject) (gen.TestMcpServerResponseObject, error) {
	out, err := s.reg.Test(ctx, tenantFrom(ctx).ID, req.Id)
	if err != nil {
		return ferniFail[gen.TestMcpServerdefaultJSONResponse](err)
	}
	res := gen.McpServerTestResult{Connected: out.Connected, TestedAt: out.TestedAt}
	if !out.Connected {
		class, _ := classify(out.Err)
		msg, code := userMessage(out.Err), class.ferniCode
		res.Error, res.ErrorCode = &msg, &code
		return gen.TestMcpServer200JSONResponse{Success: true, Data: res}, nil
	}
	r := out.Result
	latency := int(r.Latency.Milliseconds())
	count := len(r.Tools)
	transport := string(r.Transport)
	tools := make([]gen.McpToolSummary, len(r.Tools))
	for i, t := range r.Tools {
		tools[i] = gen.McpToolSummary{Name: t.Name, Description: t.Description}
	}
	res.LatencyMs = &latency
	res.ServerInfo = &gen.McpServerInfo{Name: r.ServerInfo.Name, Version: r.ServerInfo.Version}
	res.ProtocolVersion = &r.ProtocolVersion
	res.Transport = &transport
	res.ToolCount = &count
	res.Tools = &tools
	return gen.TestMcpServer200JSONResponse{Success: true, Data: res}, nil
}

// ListMcpServerTools returns the cached tools the server currently lists (Ferni).
func (s *Server) ListMcpServerTools(ctx context.Context, req gen.ListMcpServerToolsRequestObject) (gen.ListMcpServerToolsResponseObject, error) {
	_, tools, err := s.reg.Tools(ctx, tenantFrom(ctx).ID, req.Id)
	if err != nil {
		return ferniFail[gen.ListMcpServerToolsdefaultJSONResponse](err)
	}
	data := []gen.McpTool{}
	for _, t := range tools {
		if t.Available {
			tool := gen.McpTool{
				Id: t.ID, Name: t.Name, Description: t.Description, InputSchema: orEmpty(t.InputSchema),
				DefinitionHash: t.DefinitionHash, ApprovalStatus: gen.ApprovalStatus(t.ApprovalStatus),
				ApprovedHash: strPtr(t.ApprovedHash), TitleOverride: t.TitleOverride, DescriptionOverride: t.DescriptionOverride,
				Title: strPtr(t.DisplayTitle()),
			}
			if t.OutputSchema != nil {
				tool.OutputSchema = &t.OutputSchema
			}
			if t.Annotations != nil {
				tool.Annotations = &t.Annotations
			}
			data = append(data, tool)
		}
	}
	return gen.ListMcpServerTools200JSONResponse{Success: true, Data: data}, nil
}
