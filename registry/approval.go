package registry

import (
	"context"
	"slices"
	"time"
)

// The actions of tool events: the audit log's names.
const (
	ToolApproved          = string(ActionToolApproved)
	ToolRejected          = string(ActionToolRejected)
	ToolDefinitionChanged = string(ActionToolDefinitionChanged)
)

// ToolEvent is an approval, a rejection, or a change of a tool's
// definition upstream. It carries fingerprints, never schema bodies.
type ToolEvent struct {
	Action       string
	TenantID     string
	ConnectionID string
	ToolID       string
	// Tool is the tool's name as the server gives it.
	Tool    string
	OldHash string
	NewHash string
	// By is the API key id that approved or rejected ("" for a change
	// seen upstream: the system).
	By string
	At time.Time
}

// audit records events in the audit log, in the transaction of the change
// they describe (call it inside the store's closure): the fingerprints
// before and after, never a definition's text.
func (e ToolEvent) audit(a *auditor) {
	a.record(AuditAction(e.Action), e.ToolID, e.ConnectionID, Changes{
		"definition_hash": {From: nullIfEmpty(e.OldHash), To: nullIfEmpty(e.NewHash)},
	})
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// toolEvents reports events after their transaction committed: a change
// of fingerprint is logged at warn level (ids and fingerprints only), and
// every event goes to Options.ToolEvents, where the audit log records
// tool.approved, tool.rejected and tool.definition_changed.
func (s *Service) toolEvents(events []ToolEvent) {
	for _, e := range events {
		if e.Action == ToolDefinitionChanged {
			s.log.Warn("tool definition changed upstream", "connection_id", e.ConnectionID, "tool", e.Tool,
				"old_hash", e.OldHash, "new_hash", e.NewHash)
		}
		if s.events != nil {
			s.events(e)
		}
	}
}

// ApproveTool makes the tool's current definition, whose fingerprint the
// caller reviewed, the one agents see; by is the approving API key's id. A
// hash that is not the current fingerprint is ErrStaleDefinition: the
// definition changed after the caller looked.
func (s *Service) ApproveTool(ctx context.Context, tenantID, connID, toolID, hash, by string) (*Connection, *Tool, error) {
	return s.decide(ctx, tenantID, connID, toolID, hash, by, true)
}

// RejectTool refuses the tool's current definition: agents keep the one
// approved before (if the server can still take its calls) until the
// server's definition changes again. Rejecting the approved definition
// itself withdraws it. A connection under the auto policy takes every
// definition, so a rejection there is ErrValidation.
func (s *Service) RejectTool(ctx context.Context, tenantID, connID, toolID, hash, by string) (*Connection, *Tool, error) {
	return s.decide(ctx, tenantID, connID, toolID, hash, by, false)
}

func (s *Service) decide(ctx context.Context, tenantID, connID, toolID, hash, by string, approveIt bool) (*Connection, *Tool, error) {
	var (
		updated *Tool
		event   ToolEvent
	)
	now := s.Now()
	ctx, au := s.connectionAudit(ctx, tenantID)
	c, _, err := s.store.UpdateConnectionTools(ctx, tenantID, connID, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		i := slices.IndexFunc(tools, func(t *Tool) bool { return t.ID == toolID })
		if i < 0 {
			return nil, errorf(ErrNotFound, "no tool with id %q on this connection", toolID)
		}
		t := tools[i]
		if hash != t.DefinitionHash {
			return nil, errorf(ErrStaleDefinition,
				"definition_hash %q is not the tool's current definition (%s): review the current definition and try again", hash, t.DefinitionHash)
		}
		event = ToolEvent{TenantID: c.TenantID, ConnectionID: c.ID, ToolID: t.ID, Tool: t.Name,
			OldHash: t.ApprovedHash, NewHash: hash, By: by, At: now}
		if approveIt {
			event.Action = ToolApproved
			approve(t, by, now)
		} else {
			if c.ToolPolicy != PolicyApprove {
				return nil, errorf(ErrValidation, "connection %q has tool_policy auto, under which every definition takes effect; set tool_policy to approve to review definitions", c.Slug)
			}
			event.Action = ToolRejected
			reject(t, by, now)
		}
		t.UpdatedAt = now
		updated = t
		event.audit(au)
		return []*Tool{t}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.toolEvents([]ToolEvent{event})
	// What agents see may have changed: list_changed goes out if so.
	s.notify(c, ToolsChanged)
	return c, updated, nil
}

// reject marks the tool's live definition rejected by by.
func reject(t *Tool, by string, now time.Time) {
	if t.ApprovedHash == t.DefinitionHash {
		// The approved definition itself: withdraw it.
		t.ApprovedHash, t.Approved = "", nil
	}
	t.ApprovalStatus, t.RejectedHash = Rejected, t.DefinitionHash
	t.Breaking = t.Approved != nil && breaks(*t.Approved, t.Live())
	t.recordVersion(now)
	t.Version.RejectedAt, t.Version.RejectedBy = &now, by
}

// ToolHistory returns every recorded definition of a tool (at most
// MaxToolVersions), newest first seen first, each with its changes from
// the one seen before it (the oldest has none). A server that changes back
// to an earlier definition moves that version's last_seen_at, not its
// place in the list.
func (s *Service) ToolHistory(ctx context.Context, tenantID, connID, toolID string) ([]ToolVersion, error) {
	versions, err := s.store.ToolVersions(ctx, tenantID, connID, toolID)
	if err != nil {
		return nil, err
	}
	for i := range versions {
		versions[i].Changes = []string{}
		if i+1 < len(versions) {
			versions[i].Changes = DefinitionChanges(versions[i+1].Definition, versions[i].Definition)
		}
	}
	return versions, nil
}

// updateWithTools applies a patch that also changes the connection's
// tools: a new tool prefix renames them, a move to the auto policy makes
// every current definition take effect.
func (s *Service) updateWithTools(ctx context.Context, tenantID, id string, p Patch) (*Connection, error) {
	now := s.Now()
	c, _, err := s.store.UpdateConnectionTools(ctx, tenantID, id, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		prefix, policy := c.Prefix(), c.ToolPolicy
		if err := s.apply(c, p); err != nil {
			return nil, err
		}
		if c.Prefix() != prefix {
			ordered := slices.Clone(tools)
			slices.SortStableFunc(ordered, func(a, b *Tool) int {
				// Listed tools first, in list order, as a sync names them.
				if a.Available != b.Available {
					if a.Available {
						return -1
					}
					return 1
				}
				return a.Position - b.Position
			})
			taken := map[string]bool{}
			for _, t := range ordered {
				t.Slug = uniqueSlug(taken, c.Prefix(), t.Name)
				t.UpdatedAt = now
			}
		}
		if c.ToolPolicy != policy {
			for _, t := range tools {
				evaluate(t, c.ToolPolicy, now)
			}
		}
		return tools, nil
	})
	return c, err
}
