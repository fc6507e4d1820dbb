package registry_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// The audit hook hears approvals, rejections and upstream changes, with
// fingerprints and the deciding key, after they are stored.
func TestToolEventsReachTheHook(t *testing.T) {
	ctx := context.Background()
	var (
		mu     sync.Mutex
		events []registry.ToolEvent
	)
	f := newFixture(t, func(o *registry.Options) {
		o.DefaultToolPolicy = registry.PolicyApprove
		o.ToolEvents = func(e registry.ToolEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
	})
	got := func() []registry.ToolEvent {
		mu.Lock()
		defer mu.Unlock()
		return append([]registry.ToolEvent(nil), events...)
	}
	f.prober.SetToolSpecs(registry.ToolSpec{Name: "add", Description: "Add", InputSchema: map[string]any{"type": "object"}})
	c := f.create(t, registry.NewConnection{Name: "calc"})
	assert.Equal(t, registry.PolicyApprove, c.ToolPolicy, "the service's default")
	_, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Empty(t, got(), "a first sighting is no change")

	_, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	v1 := tools[0].DefinitionHash
	asKey1 := registry.WithActor(ctx, registry.Actor{Type: registry.ActorAPIKey, KeyID: "key-1", KeyPrefix: "tth_key1"})
	_, _, err = f.svc.ApproveTool(asKey1, f.acme, c.ID, tools[0].ID, v1, "key-1")
	require.NoError(t, err)

	f.prober.SetToolSpecs(registry.ToolSpec{Name: "add", Description: "Add, and more", InputSchema: map[string]any{"type": "object"}})
	_, err = f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	_, tools, err = f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	v2 := tools[0].DefinitionHash
	_, _, err = f.svc.RejectTool(ctx, f.acme, c.ID, tools[0].ID, v2, "key-2")
	require.NoError(t, err)

	ev := got()
	require.Len(t, ev, 3)
	assert.Equal(t, registry.ToolEvent{Action: registry.ToolApproved, TenantID: f.acme, ConnectionID: c.ID, ToolID: tools[0].ID,
		Tool: "add", OldHash: "", NewHash: v1, By: "key-1", At: ev[0].At}, ev[0])
	assert.Equal(t, registry.ToolDefinitionChanged, ev[1].Action)
	assert.Equal(t, v1, ev[1].OldHash)
	assert.Equal(t, v2, ev[1].NewHash)
	assert.Empty(t, ev[1].By, "a change seen upstream: the system")
	assert.Equal(t, registry.ToolRejected, ev[2].Action)
	assert.Equal(t, "key-2", ev[2].By)
	assert.Equal(t, v2, ev[2].NewHash)

	// The same three are in the audit log, each written with its change:
	// fingerprints only, the approver as the actor, the system for what
	// the server changed.
	var audited []registry.AuditEvent
	for _, e := range f.auditEvents(t, f.acme) {
		if e.Action == registry.ActionToolApproved || e.Action == registry.ActionToolRejected || e.Action == registry.ActionToolDefinitionChanged {
			audited = append(audited, e)
		}
	}
	require.Len(t, audited, 3)
	assert.Equal(t, registry.ActionToolRejected, audited[0].Action)
	assert.Equal(t, registry.ActionToolDefinitionChanged, audited[1].Action)
	assert.Equal(t, registry.ActorSystem, audited[1].Actor.Type)
	assert.Equal(t, registry.FieldChange{From: v1, To: v2}, audited[1].Changes["definition_hash"])
	assert.Equal(t, registry.ActionToolApproved, audited[2].Action)
	assert.Equal(t, "key-1", audited[2].Actor.KeyID)
	assert.Equal(t, registry.FieldChange{From: nil, To: v1}, audited[2].Changes["definition_hash"])
	assert.Equal(t, tools[0].ID, audited[2].TargetID)
}
