package server

import (
	"context"

	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// ConnectCustomMcp creates a connection (Feather).
func (s *Server) ConnectCustomMcp(ctx context.Context, req gen.ConnectCustomMcpRequestObject) (gen.ConnectCustomMcpResponseObject, error) {
	in, err := fromCustomMcpCreate(req.Body)
	if err != nil {
		return featherFail[gen.ConnectCustomMcpdefaultJSONResponse](err)
	}
	c, err := s.reg.Create(ctx, tenantFrom(ctx).ID, in)
	if err != nil {
		return featherFail[gen.ConnectCustomMcpdefaultJSONResponse](err)
	}
	return gen.ConnectCustomMcp201JSONResponse{
		ConnectionId: uuidOf(c.ID),
		Status:       string(c.Status),
		Vendor:       featherVendor,
	}, nil
}

// ListConnections lists the tenant's connections (Feather); without limit,
// all of them.
func (s *Server) ListConnections(ctx context.Context, req gen.ListConnectionsRequestObject) (gen.ListConnectionsResponseObject, error) {
	t := tenantFrom(ctx)
	conns, _, err := s.reg.List(ctx, t.ID, registry.ListFilter{Limit: deref(req.Params.Limit), Offset: deref(req.Params.Offset)})
	if err != nil {
		return featherFail[gen.ListConnectionsdefaultJSONResponse](err)
	}
	out := make(gen.ListConnections200JSONResponse, len(conns))
	for i, c := range conns {
		out[i] = toConnectionResponse(c, t)
	}
	return out, nil
}

// GetConnection returns one connection (Feather).
func (s *Server) GetConnection(ctx context.Context, req gen.GetConnectionRequestObject) (gen.GetConnectionResponseObject, error) {
	t := tenantFrom(ctx)
	c, err := s.reg.Get(ctx, t.ID, req.ConnectionId.String())
	if err != nil {
		return featherFail[gen.GetConnectiondefaultJSONResponse](err)
	}
	return gen.GetConnection200JSONResponse(toConnectionResponse(c, t)), nil
}

// UpdateConnection renames a connection; the slug never changes (Feather).
func (s *Server) UpdateConnection(ctx context.Context, req gen.UpdateConnectionRequestObject) (gen.UpdateConnectionResponseObject, error) {
	t := tenantFrom(ctx)
	var p registry.Patch
	if req.Body.Nickname != nil {
		p.Nickname = req.Body.Nickname
	}
	c, err := s.reg.Update(ctx, t.ID, req.ConnectionId.String(), p)
	if err != nil {
		return featherFail[gen.UpdateConnectiondefaultJSONResponse](err)
	}
	return gen.UpdateConnection200JSONResponse(toConnectionResponse(c, t)), nil
}

// DisconnectConnection deletes a connection (Feather, 204).
func (s *Server) DisconnectConnection(ctx context.Context, req gen.DisconnectConnectionRequestObject) (gen.DisconnectConnectionResponseObject, error) {
	if err := s.reg.Delete(ctx, tenantFrom(ctx).ID, req.ConnectionId.String()); err != nil {
		return featherFail[gen.DisconnectConnectiondefaultJSONResponse](err)
	}
	return gen.DisconnectConnection204Response{}, nil
}
