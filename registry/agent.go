package registry

import (
	"context"
	"slices"
	"time"
)

// ChangeKind says what changed about a connection.
type ChangeKind int

// The kinds of change the registry announces.
const (
	// ConnectionCreated: a new connection (its tools come with its first sync).
	ConnectionCreated ChangeKind = iota
	// ConnectionUpdated: how tether reaches the server may have changed
	// (endpoint, credentials, transport, enabled): warm sessions must go.
	ConnectionUpdated
	// ConnectionDeleted: the connection is gone.
	ConnectionDeleted
	// ToolsChanged: the connection's tool list or tool settings changed.
	ToolsChanged
)

// Change is one announcement to Options.OnChange.
type Change struct {
	TenantID     string
	ConnectionID string
	Kind         ChangeKind
}

// notify announces a change; listeners must not block.
func (s *Service) notify(c *Connection, kind ChangeKind) {
	if s.onChange != nil {
		s.onChange(Change{TenantID: c.TenantID, ConnectionID: c.ID, Kind: kind})
	}
}

// AgentTool is a tool an agent can call: an enabled, available tool of an
// enabled, active connection.
type AgentTool struct {
	Slug       string
	Connection *Connection
	Tool       *Tool
}

// AgentTools lists the tenant's callable tools, ordered by slug. A non-empty
// persona keeps connections for that persona and those for every persona.
func (s *Service) AgentTools(ctx context.Context, tenantID, persona string) ([]AgentTool, error) {
	conns, _, err := s.store.ListConnections(ctx, tenantID, ListFilter{Status: StatusActive})
	if err != nil {
		return nil, err
	}
	var ids []string
	byID := map[string]*Connection{}
	for _, c := range conns {
		if c.Enabled && (persona == "" || c.PersonaID == "" || c.PersonaID == persona) {
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
			if t.Enabled && t.Available {
				out = append(out, AgentTool{Slug: t.Slug, Connection: byID[id], Tool: t})
			}
		}
	}
	slices.SortFunc(out, func(a, b AgentTool) int {
		if a.Slug < b.Slug {
			return -1
		}
		if a.Slug > b.Slug {
			return 1
		}
		return 0
	})
	return out, nil
}

// CallAgentTool calls a tool by its slug across the tenant's connections
// (within the persona's view), applying defaults and pins.
func (s *Service) CallAgentTool(ctx context.Context, tenantID, persona, slug string, args map[string]any) (map[string]any, error) {
	tools, err := s.AgentTools(ctx, tenantID, persona)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(tools, func(t AgentTool) bool { return t.Slug == slug })
	if i < 0 {
		return nil, errorf(ErrToolUnavailable, "no enabled tool %q", slug)
	}
	at := tools[i]
	cctx, cancel := context.WithTimeout(ctx, time.Duration(at.Connection.TimeoutMS)*time.Millisecond)
	defer cancel()
	result, err := s.prober.CallTool(cctx, at.Connection, at.Tool.Name, at.Tool.ApplyInputs(args))
	s.observe.ObserveToolCall("mcp", Outcome(result, err))
	s.touchLastUsed(ctx, at.Connection)
	return result, err
}
