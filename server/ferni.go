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
	return gen.ListMcpServers200JSONResponse{
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
