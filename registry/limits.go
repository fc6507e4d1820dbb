package registry

import (
	"fmt"
	"slices"

	"github.com/tether-dev/tether/internal/bound"
)

// Defaults for [Limits].
const (
	DefaultMaxConnectionsPerTenant = 1000
	DefaultMaxToolsPerConnection   = 1000
)

// Limits bound what one tenant can make tether hold. A create beyond a
// limit is ErrLimitExceeded; a server listing more tools than a connection
// may keep fails its probe.
type Limits struct {
	// MaxConnectionsPerTenant is how many connections one tenant may
	// register. 0 means DefaultMaxConnectionsPerTenant; negative, no limit.
	MaxConnectionsPerTenant int
	// MaxToolsPerConnection is how many tools tether keeps for one
	// connection, vanished ones included. 0 means
	// DefaultMaxToolsPerConnection; negative, no limit.
	MaxToolsPerConnection int
}

// withDefaults fills zero limits with the defaults and turns "no limit"
// into 0, which is how the store and the checks below read it.
func (l Limits) withDefaults() Limits {
	l.MaxConnectionsPerTenant = bound.Read(l.MaxConnectionsPerTenant, DefaultMaxConnectionsPerTenant)
	l.MaxToolsPerConnection = bound.Read(l.MaxToolsPerConnection, DefaultMaxToolsPerConnection)
	return l
}

// checkToolCount refuses a tool list longer than a connection may keep: a
// probe that gets one fails, and the stored tools stay as they were.
func (s *Service) checkToolCount(specs []ToolSpec) error {
	if max := s.limits.MaxToolsPerConnection; max > 0 && len(specs) > max {
		return &Error{Kind: ErrUpstreamInvalid, Message: fmt.Sprintf(
			"the MCP server lists %d tools; tether keeps at most %d per connection", len(specs), max)}
	}
	return nil
}

// forgetVanished keeps the stored tools of a connection within its cap:
// when the merged list is longer (tools that vanished from the server are
// kept, with their settings, in case they come back), the vanished tools
// seen longest ago are marked Removed, and the store deletes them.
func (s *Service) forgetVanished(tools []*Tool) []*Tool {
	max := s.limits.MaxToolsPerConnection
	if max <= 0 || len(tools) <= max {
		return tools
	}
	var vanished []*Tool
	for _, t := range tools {
		if !t.Available {
			vanished = append(vanished, t)
		}
	}
	slices.SortFunc(vanished, func(a, b *Tool) int { return a.LastSeenAt.Compare(b.LastSeenAt) })
	for _, t := range vanished[:min(len(vanished), len(tools)-max)] {
		t.Removed = true
	}
	return tools
}
