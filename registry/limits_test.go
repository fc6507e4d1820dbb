package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/registry"
)

// newLimitedService is a registry over a real store in a temporary
// directory, with two tenants, the given limits and a fake prober.
func newLimitedService(t *testing.T, limits registry.Limits) (svc *registry.Service, prober *registrytest.Prober, acme, other string) {
	t.Helper()
	ctx := context.Background()
	st := registrytest.OpenStore(t)
	prober = &registrytest.Prober{}
	svc = registry.NewService(registry.Options{Store: st, Prober: prober, Limits: limits})
	t.Cleanup(svc.Close)
	a, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t-acme", Name: "acme"})
	require.NoError(t, err)
	o, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t-other", Name: "other"})
	require.NoError(t, err)
	return svc, prober, a.ID, o.ID
}

// ferniCreate and featherCreate create a connection the way each dialect
// does: a name that must be free, or a nickname that takes a suffix.
func ferniCreate(name string) registry.NewConnection {
	return registry.NewConnection{Name: name, Transport: registry.TransportHTTP, Endpoint: "https://mcp.example.com/mcp", Enabled: true}
}

func featherCreate(nickname string) registry.NewConnection {
	return registry.NewConnection{Nickname: nickname, Transport: registry.TransportHTTP, Endpoint: "https://mcp.example.com/mcp", Enabled: true}
}

// TestConnectionsPerTenantAreCapped: a tenant cannot register more than
// MaxConnectionsPerTenant connections, through either dialect's create,
// and other tenants are not affected.
func TestConnectionsPerTenantAreCapped(t *testing.T) {
	ctx := context.Background()
	svc, _, acme, other := newLimitedService(t, registry.Limits{MaxConnectionsPerTenant: 3})
	var ids []string
	for i := range 3 {
		c, err := svc.Create(ctx, acme, ferniCreate(fmt.Sprintf("crm-%d", i)))
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	_, err := svc.Create(ctx, acme, ferniCreate("crm-3"))
	require.ErrorIs(t, err, registry.ErrLimitExceeded)
	assert.Contains(t, err.Error(), "limit 3")
	_, err = svc.Create(ctx, acme, featherCreate("CRM"))
	require.ErrorIs(t, err, registry.ErrLimitExceeded)

	_, err = svc.Create(ctx, other, ferniCreate("crm-0"))
	require.NoError(t, err, "another tenant has its own count")

	require.NoError(t, svc.Delete(ctx, acme, ids[0]))
	_, err = svc.Create(ctx, acme, featherCreate("CRM"))
	require.NoError(t, err, "a deleted connection frees its place")
	_, total, err := svc.List(ctx, acme, registry.ListFilter{})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
}

// TestConcurrentCreatesDoNotOvershootTheCap: the count and the insert are
// one transaction, so racing creates stop exactly at the cap.
func TestConcurrentCreatesDoNotOvershootTheCap(t *testing.T) {
	ctx := context.Background()
	svc, _, acme, _ := newLimitedService(t, registry.Limits{MaxConnectionsPerTenant: 5})
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := svc.Create(ctx, acme, featherCreate(fmt.Sprintf("racer %d", i)))
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, registry.ErrLimitExceeded):
				refused.Add(1)
			default:
				t.Errorf("create: %v", err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(5), created.Load())
	assert.Equal(t, int32(15), refused.Load())
	_, total, err := svc.List(ctx, acme, registry.ListFilter{})
	require.NoError(t, err)
	assert.Equal(t, 5, total)
}

// TestToolsPerConnectionAreCapped: a server listing more tools than a
// connection may keep fails its probe with a clear error and leaves the
// stored tools alone; and tools that vanished are forgotten, oldest first,
// rather than piling up past the cap across re-syncs.
func TestToolsPerConnectionAreCapped(t *testing.T) {
	ctx := context.Background()
	svc, prober, acme, _ := newLimitedService(t, registry.Limits{MaxToolsPerConnection: 3})
	c, err := svc.Create(ctx, acme, ferniCreate("crm"))
	require.NoError(t, err)

	prober.SetTools("a", "b", "c")
	out, err := svc.Test(ctx, acme, c.ID)
	require.NoError(t, err)
	require.NoError(t, out.Err)

	prober.SetTools("a", "b", "c", "d")
	out, err = svc.Test(ctx, acme, c.ID)
	require.NoError(t, err)
	require.ErrorIs(t, out.Err, registry.ErrUpstreamInvalid)
	assert.Contains(t, out.Err.Error(), "lists 4 tools; tether keeps at most 3")
	row, tools, err := svc.Tools(ctx, acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusError, row.Status)
	assert.Equal(t, []string{"a", "b", "c"}, toolNames(tools), "the stored tools stay")

	// Three rounds of entirely new tools: the stored list never holds
	// more than three, and the current ones are all there.
	for round, names := range [][]string{{"d", "e"}, {"f", "g", "h"}, {"i"}} {
		prober.SetTools(names...)
		out, err = svc.Test(ctx, acme, c.ID)
		require.NoError(t, err)
		require.NoError(t, out.Err)
		_, tools, err = svc.Tools(ctx, acme, c.ID)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(tools), 3, "round %d: %v", round, toolNames(tools))
		var available []string
		for _, tool := range tools {
			if tool.Available {
				available = append(available, tool.Name)
			}
		}
		assert.ElementsMatch(t, names, available, "round %d", round)
	}
}

func toolNames(tools []*registry.Tool) []string {
	var out []string
	for _, t := range tools {
		out = append(out, t.Name)
	}
	return out
}
