package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// AgentTool is one tool of a tenant as agents see it.
type AgentTool struct {
	Slug       string
	Connection *Connection
	// Tool is the tool as stored (its live definition and settings).
	Tool *Tool
	// View is the tool showing the definition agents are served (the
	// approved one, overrides applied; integrity.go), or nil when agents
	// see none: pending approval, held, rejected with nothing approved.
	View *Tool
}

// Callable reports whether an agent may call the tool now: the tool and
// its connection are enabled, the connection is active, and agents are
// served a definition of the tool.
func (a AgentTool) Callable() bool {
	return a.View != nil && a.Tool.Enabled && a.Tool.Available && a.Connection.Enabled && a.Connection.Status == StatusActive
}

// TenantTools lists every tool the tenant's servers currently offer
// (disabled ones included), ordered by slug. A non-empty persona keeps
// connections for that persona and those for every persona.
func (s *Service) TenantTools(ctx context.Context, tenantID, persona string) ([]AgentTool, error) {
	// Agents call tools with these rows: they need the credentials.
	conns, _, err := s.store.ListConnections(ctx, tenantID, ListFilter{Credentials: true})
	if err != nil {
		return nil, err
	}
	var ids []string
	byID := map[string]*Connection{}
	for _, c := range conns {
		if persona == "" || c.PersonaID == "" || c.PersonaID == persona {
			ids = append(ids, c.ID)
			byID[c.ID] = c
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	tools, err := s.store.ListTools(ctx, tenantID, ids...)
	if err != nil {
		return nil, err
	}
	var out []AgentTool
	for id, list := range tools {
		for _, t := range list {
			if t.Available {
				out = append(out, AgentTool{Slug: t.Slug, Connection: byID[id], Tool: t, View: t.servedView()})
			}
		}
	}
	// A total order, so that every reader picks the same tool when two
	// connections' tools share a slug ("a" + "b_c" and "a_b" + "c"): the
	// older connection's.
	slices.SortFunc(out, func(a, b AgentTool) int {
		if c := strings.Compare(a.Slug, b.Slug); c != 0 {
			return c
		}
		if c := a.Connection.CreatedAt.Compare(b.Connection.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Connection.ID, b.Connection.ID)
	})
	return out, nil
}

// AgentTools lists the tools an agent can call now (see Callable).
func (s *Service) AgentTools(ctx context.Context, tenantID, persona string) ([]AgentTool, error) {
	all, err := s.TenantTools(ctx, tenantID, persona)
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(a AgentTool) bool { return !a.Callable() })
	// One tool per slug: the first in TenantTools' order, the one resolve
	// calls too.
	return slices.CompactFunc(all, func(a, b AgentTool) bool { return a.Slug == b.Slug }), nil
}

// resolve finds a tool by slug within the persona's view: an unknown slug
// is ErrNotFound, a tool that cannot be called now ErrToolUnavailable. It
// reads the tenant's cached catalogue (agents call on the hot path).
func (s *Service) resolve(ctx context.Context, tenantID, persona, slug string) (AgentTool, error) {
	tools, err := s.catalogue.lookup(ctx, tenantID, slug, func(ctx context.Context) ([]AgentTool, error) {
		return s.TenantTools(ctx, tenantID, "")
	})
	if err != nil {
		return AgentTool{}, err
	}
	var found AgentTool
	for _, a := range tools {
		c := a.Connection
		if persona != "" && c.PersonaID != "" && c.PersonaID != persona {
			continue
		}
		if a.Callable() {
			return a, nil
		}
		if found.Tool == nil {
			found = a
		}
	}
	if found.Tool == nil {
		return AgentTool{}, errorf(ErrNotFound, "no tool %q", slug)
	}
	if found.View == nil {
		return found, errorf(ErrToolUnavailable, "%s", stateMessage(slug, found.Tool.ApprovalStatus))
	}
	why := "is disabled"
	if found.Tool.Enabled {
		why = fmt.Sprintf("belongs to a connection that is %s", found.Connection.Status)
	}
	return found, errorf(ErrToolUnavailable, "tool %q %s", slug, why)
}

// CallAgentTool calls a tool by its slug across the tenant's connections
// (within the persona's view), applying defaults and pins. The call is
// recorded as made via WithVia's value (default "mcp").
func (s *Service) CallAgentTool(ctx context.Context, tenantID, persona, slug string, args map[string]any) (map[string]any, error) {
	result, _, err := s.InvokeTool(ctx, tenantID, persona, slug, args)
	return result, err
}

// InvokeTool is CallAgentTool that also returns the tool, for narrowing.
// It declares no client capabilities upstream (InvokeAgentTool does).
func (s *Service) InvokeTool(ctx context.Context, tenantID, persona, slug string, args map[string]any) (map[string]any, *Tool, error) {
	return s.InvokeAgentTool(ctx, tenantID, persona, slug, args, CallOptions{})
}
