package registry

import (
	"slices"
	"sync"
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
	// ChangesMissed: announcements of other processes may have been lost
	// (the bus reconnected); TenantID and ConnectionID are empty, and
	// anything of any tenant may have changed. Listeners re-read what
	// they keep.
	ChangesMissed
)

// Change is one announcement to the listeners added with OnChange.
type Change struct {
	TenantID     string
	ConnectionID string
	Kind         ChangeKind
}

// listeners are the functions OnChange added.
type listeners struct {
	mu  sync.RWMutex
	fns []func(Change)
}

// OnChange adds a listener that hears about every change to connections
// and their tools from now on: the session pool drops warm sessions, the
// agent gateway tells its clients that tool lists changed. Listeners are
// added after construction, once whatever they belong to exists, so that
// wiring needs no variable used before it is set. They run, in the order
// added, on the goroutine that made the change, and must not block.
func (s *Service) OnChange(fn func(Change)) {
	s.listeners.mu.Lock()
	defer s.listeners.mu.Unlock()
	s.listeners.fns = append(slices.Clip(s.listeners.fns), fn)
}

// ChangeBus carries change announcements between the processes that
// share one store (replicas on PostgreSQL): what one announces, the
// others apply (ApplyRemote), so that every replica's catalogue and
// listeners (warm sessions, /mcp clients) follow every change.
type ChangeBus interface {
	// Publish sends a change to the other processes. It must not block:
	// it runs on the goroutine that made the change.
	Publish(Change)
}

// notify announces a change; listeners must not block.
func (s *Service) notify(c *Connection, kind ChangeKind) {
	change := Change{TenantID: c.TenantID, ConnectionID: c.ID, Kind: kind}
	s.applyChange(change)
	if s.bus != nil {
		s.bus.Publish(change)
	}
}

// applyChange invalidates the tenant's catalogue and tells the listeners.
func (s *Service) applyChange(change Change) {
	s.catalogue.invalidate(change.TenantID)
	s.listeners.mu.RLock()
	fns := s.listeners.fns
	s.listeners.mu.RUnlock()
	for _, fn := range fns {
		fn(change)
	}
}

// ApplyRemote applies a change that another process announced, as its
// own changes are applied, without announcing it again.
func (s *Service) ApplyRemote(change Change) { s.applyChange(change) }

// ResyncRemote forgets what announcements may have been missed (the bus
// reconnected): every tenant's catalogue is rebuilt on its next use, and
// the listeners hear ChangesMissed (the gateway re-syncs its views, and
// its clients hear of what changed meanwhile). Nothing else would tell
// them: a probe that finds a server unchanged announces nothing.
func (s *Service) ResyncRemote() {
	s.catalogue.invalidateAll()
	s.listeners.mu.RLock()
	fns := s.listeners.fns
	s.listeners.mu.RUnlock()
	for _, fn := range fns {
		fn(Change{Kind: ChangesMissed})
	}
}

// ConnectionsDeleted announces connections deleted with their tenant
// (Keys.DeleteTenant; wire it with Keys.OnTenantDeleted): listeners drop
// their sessions, and OAuth tokens are revoked in the background, as for
// a delete through the API.
func (s *Service) ConnectionsDeleted(conns []*Connection) {
	for _, c := range conns {
		s.notify(c, ConnectionDeleted)
		s.revokeInBackground(c.OAuth)
	}
}
