package server

import (
	"context"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/google/uuid"
	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// ListAuditEvents serves the tenant's audit log (Feather).
func (s *Server) ListAuditEvents(ctx context.Context, req gen.ListAuditEventsRequestObject) (gen.ListAuditEventsResponseObject, error) {
	if s.audit == nil {
		return featherFail[gen.ListAuditEventsdefaultJSONResponse](errNoAuditLog)
	}
	page, err := s.audit.List(ctx, tenantFrom(ctx).ID, auditQuery(req.Params.ConnectionId, req.Params.Since, req.Params.Limit, req.Params.Cursor))
	if err != nil {
		return featherFail[gen.ListAuditEventsdefaultJSONResponse](err)
	}
	return gen.ListAuditEvents200JSONResponse(toAuditPage(page)), nil
}

// ListFerniAuditEvents serves the same page in the Ferni envelope.
func (s *Server) ListFerniAuditEvents(ctx context.Context, req gen.ListFerniAuditEventsRequestObject) (gen.ListFerniAuditEventsResponseObject, error) {
	if s.audit == nil {
		return ferniFail[gen.ListFerniAuditEventsdefaultJSONResponse](errNoAuditLog)
	}
	page, err := s.audit.List(ctx, tenantFrom(ctx).ID, auditQuery(req.Params.ConnectionId, req.Params.Since, req.Params.Limit, req.Params.Cursor))
	if err != nil {
		return ferniFail[gen.ListFerniAuditEventsdefaultJSONResponse](err)
	}
	return gen.ListFerniAuditEvents200JSONResponse{Success: true, Data: toAuditPage(page)}, nil
}

// errNoAuditLog answers the audit routes of a server built without one.
var errNoAuditLog = failure(errRouteNotFound, "this server keeps no audit log")

func auditQuery(connID *string, since *gen.AuditSince, limit *int, cursor *string) registry.AuditQuery {
	q := registry.AuditQuery{ConnectionID: deref(connID), Limit: deref(limit), Cursor: deref(cursor)}
	if since != nil {
		t := since.UTC()
		q.Since = &t
	}
	return q
}

func toAuditPage(p *registry.AuditPage) gen.AuditEventPage {
	out := gen.AuditEventPage{Events: make([]gen.AuditEvent, 0, len(p.Events))}
	if p.NextCursor != "" {
		out.NextCursor = &p.NextCursor
	}
	for _, ev := range p.Events {
		out.Events = append(out.Events, toAuditEvent(ev))
	}
	return out
}

// toAuditEvent shows an event; ids are UUIDs (newUUID), a malformed one
// shows as the zero UUID rather than failing the page.
func toAuditEvent(ev registry.AuditEvent) gen.AuditEvent {
	id, _ := uuid.Parse(ev.ID)
	out := gen.AuditEvent{
		Id:       openapi_types.UUID(id),
		At:       ev.At.UTC(),
		Action:   gen.AuditEventAction(ev.Action),
		Actor:    gen.AuditActor{Type: gen.AuditActorType(ev.Actor.Type), KeyId: nonEmptyPtr(ev.Actor.KeyID), KeyPrefix: nonEmptyPtr(ev.Actor.KeyPrefix)},
		TargetId: ev.TargetID,
		Changes:  make(map[string]gen.AuditChange, len(ev.Changes)),
		// connection_id is always present, null when the event has none.
		ConnectionId: nonEmptyPtr(ev.ConnectionID),
	}
	for field, ch := range ev.Changes {
		out.Changes[field] = gen.AuditChange{From: ch.From, To: ch.To}
	}
	return out
}

func nonEmptyPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
