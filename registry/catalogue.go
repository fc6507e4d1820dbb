package registry

import (
	"context"
	"sync"
)

// catalogue caches each tenant's tools by slug for the agent call path, so
// a call resolves its tool without reading the database. The registry is
// the only writer of connections and tools, and announces every change
// through notify, which drops the tenant's entry; a generation counter
// keeps a build that raced with a change from being stored.
type catalogue struct {
	mu      sync.Mutex
	tenants map[string]*tenantTools
	gen     map[string]uint64
	// epoch changes when every entry is dropped at once (invalidateAll).
	epoch uint64
}

type tenantTools struct {
	bySlug map[string][]AgentTool
}

// maxCachedTenants bounds the cache; beyond it, an arbitrary tenant's entry
// is dropped (it is rebuilt on its next call).
const maxCachedTenants = 4096

func newCatalogue() *catalogue {
	return &catalogue{tenants: map[string]*tenantTools{}, gen: map[string]uint64{}}
}

// invalidate drops a tenant's entry.
func (c *catalogue) invalidate(tenantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tenants, tenantID)
	c.gen[tenantID]++
}

// invalidateAll drops every tenant's entry (announcements from other
// processes may have been lost).
func (c *catalogue) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.tenants)
	c.epoch++
}

// lookup returns the tools with slug, building the tenant's entry with
// load when it is not cached.
func (c *catalogue) lookup(ctx context.Context, tenantID, slug string, load func(context.Context) ([]AgentTool, error)) ([]AgentTool, error) {
	c.mu.Lock()
	t, ok := c.tenants[tenantID]
	gen, epoch := c.gen[tenantID], c.epoch
	c.mu.Unlock()
	if ok {
		return t.bySlug[slug], nil
	}
	all, err := load(ctx)
	if err != nil {
		return nil, err
	}
	t = &tenantTools{bySlug: map[string][]AgentTool{}}
	for _, a := range all {
		t.bySlug[a.Slug] = append(t.bySlug[a.Slug], a)
	}
	c.mu.Lock()
	if c.gen[tenantID] == gen && c.epoch == epoch {
		if len(c.tenants) >= maxCachedTenants {
			for k := range c.tenants {
				delete(c.tenants, k)
				break
			}
		}
		c.tenants[tenantID] = t
	}
	c.mu.Unlock()
	return t.bySlug[slug], nil
}
