package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// auditEvents returns every audit event of a tenant, newest first.
func (f *fixture) auditEvents(t *testing.T, tenantID string) []registry.AuditEvent {
	t.Helper()
	page, err := registry.NewAuditLog(f.st, nil).List(context.Background(), tenantID, registry.AuditQuery{Limit: registry.MaxAuditLimit})
	require.NoError(t, err)
	require.Empty(t, page.NextCursor)
	return page.Events
}

// accountTool is a tool whose input has an "account" field, for defaults.
var accountTool = registry.ToolSpec{Name: "lookup", Description: "look up", InputSchema: map[string]any{
	"type": "object", "properties": map[string]any{"account": map[string]any{"type": "string"}, "q": map[string]any{"type": "string"}},
}}

// TestEachAuditedChangeWritesOneRecord walks a connection, its tools and a
// key through every audited change: each writes exactly one event (in the
// transaction of the change, so a failed change writes none, and a change
// that changes nothing writes none either), as the actor of the context.
func TestEachAuditedChangeWritesOneRecord(t *testing.T) {
	f := newFixture(t)
	actor := registry.Actor{Type: registry.ActorAPIKey, KeyID: "key-1", KeyPrefix: "tth_abcdefgh"}
	ctx := registry.WithActor(context.Background(), actor)
	keys := registry.NewKeys(f.st)
	var (
		c      *registry.Connection
		toolID string
		keyID  string
	)
	str := func(s string) *string { return &s }
	boolp := func(b bool) *bool { return &b }
	cases := []struct {
		name   string
		change func() error
		fails  bool
		action registry.AuditAction // "": no event
		target func() string
		check  func(t *testing.T, ev registry.AuditEvent)
	}{
		{name: "create", action: registry.ActionConnectionCreated, change: func() (err error) {
			c, err = f.svc.Create(ctx, f.acme, registry.NewConnection{Name: "crm", Transport: registry.TransportHTTP,
				Endpoint: "https://mcp.example.com/mcp", Enabled: true, Secrets: registry.Sensitive{"TOKEN": "tok"},
				Headers: registry.Sensitive{"Authorization": "Bearer {{secrets.TOKEN}}"}})
			return err
		}, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, registry.FieldChange{From: nil, To: "crm"}, ev.Changes["slug"])
			assert.Equal(t, registry.FieldChange{From: nil, To: "https://mcp.example.com/mcp"}, ev.Changes["server_url"])
			assert.Equal(t, registry.FieldChange{From: nil, To: registry.SecretSet}, ev.Changes["secrets.TOKEN"])
			assert.Equal(t, registry.FieldChange{From: nil, To: registry.SecretSet}, ev.Changes["headers.Authorization"])
		}},
		{name: "create with a taken name", fails: true, change: func() error {
			_, err := f.svc.Create(ctx, f.acme, registry.NewConnection{Name: "crm", Transport: registry.TransportHTTP, Endpoint: "https://x.example/"})
			return err
		}},
		{name: "rename", action: registry.ActionConnectionUpdated, change: func() error {
			_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Nickname: str("CRM (prod)")})
			return err
		}, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, registry.Changes{"nickname": {From: "crm", To: "CRM (prod)"}}, ev.Changes)
		}},
		{name: "update refused by validation", fails: true, change: func() error {
			timeout := 5
			_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{TimeoutMS: &timeout})
			return err
		}},
		{name: "update that changes nothing", change: func() error {
			_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Nickname: str("CRM (prod)")})
			return err
		}},
		{name: "another tenant's row", fails: true, change: func() error {
			_, err := f.svc.Update(ctx, f.other, c.ID, registry.Patch{Nickname: str("mine")})
			return err
		}},
		{name: "disable", action: registry.ActionConnectionDisabled, change: func() error {
			_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Enabled: boolp(false)})
			return err
		}, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, registry.FieldChange{From: true, To: false}, ev.Changes["enabled"])
			assert.Equal(t, registry.FieldChange{From: "active", To: "disabled"}, ev.Changes["status"])
		}},
		{name: "enable", action: registry.ActionConnectionEnabled, change: func() error {
			_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Enabled: boolp(true)})
			return err
		}},
		{name: "replace a secret", action: registry.ActionConnectionUpdated, change: func() error {
			_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Secrets: map[string]*string{"TOKEN": str("tok2")}})
			return err
		}, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, registry.Changes{"secrets.TOKEN": {From: registry.SecretSet, To: registry.SecretSet}}, ev.Changes)
		}},
		{name: "tools synced by tether: no change of a user's", change: func() error {
			f.prober.SetToolSpecs(accountTool, registry.ToolSpec{Name: "echo", InputSchema: map[string]any{"type": "object"}})
			_, err := f.svc.Test(ctx, f.acme, c.ID)
			if err != nil {
				return err
			}
			_, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
			if err != nil {
				return err
			}
			for _, tl := range tools {
				if tl.Name == "lookup" {
					toolID = tl.ID
				}
			}
			return nil
		}},
		{name: "disable a tool", action: registry.ActionToolUpdated, change: func() error {
			_, _, err := f.svc.UpdateTool(ctx, f.acme, c.ID, toolID, registry.ToolPatch{Enabled: boolp(false)})
			return err
		}, target: func() string { return toolID }, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, c.ID, ev.ConnectionID)
			assert.Equal(t, registry.Changes{"is_enabled": {From: true, To: false}}, ev.Changes)
		}},
		{name: "pin a tool input", action: registry.ActionToolUpdated, change: func() error {
			_, _, err := f.svc.UpdateTool(ctx, f.acme, c.ID, toolID, registry.ToolPatch{InputDefaults: registry.Optional[map[string]registry.InputArg]{
				Set: true, Value: map[string]registry.InputArg{"account": {Value: "acct-42", Pinned: true}}}})
			return err
		}, target: func() string { return toolID }, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, registry.Changes{"input_defaults.account": {From: nil, To: registry.SecretSet}}, ev.Changes)
		}},
		{name: "a tool that does not exist", fails: true, change: func() error {
			_, _, err := f.svc.UpdateTool(ctx, f.acme, c.ID, "no-such-tool", registry.ToolPatch{Enabled: boolp(true)})
			return err
		}},
		{name: "disable all tools: one event for the one that was enabled", action: registry.ActionToolUpdated, change: func() error {
			_, err := f.svc.SetAllTools(ctx, f.acme, c.ID, false)
			return err
		}, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.NotEqual(t, toolID, ev.TargetID, "the lookup tool was disabled already")
		}},
		{name: "delete another tenant's row", fails: true, change: func() error { return f.svc.Delete(ctx, f.other, c.ID) }},
		{name: "delete", action: registry.ActionConnectionDeleted, change: func() error { return f.svc.Delete(ctx, f.acme, c.ID) },
			check: func(t *testing.T, ev registry.AuditEvent) {
				assert.Equal(t, registry.FieldChange{From: "crm", To: nil}, ev.Changes["slug"])
				assert.Equal(t, registry.FieldChange{From: registry.SecretSet, To: registry.SecretRemoved}, ev.Changes["secrets.TOKEN"])
			}},
		{name: "create an API key", action: registry.ActionAPIKeyCreated, change: func() error {
			_, ak, err := keys.CreateWith(ctx, "acme", registry.NewKey{Scope: registry.ScopeAgent})
			if ak != nil {
				keyID = ak.ID
			}
			return err
		}, target: func() string { return keyID }, check: func(t *testing.T, ev registry.AuditEvent) {
			assert.Equal(t, registry.FieldChange{To: "agent"}, ev.Changes["scope"])
		}},
		{name: "a key with an unknown scope", fails: true, change: func() error {
			_, _, err := keys.CreateWith(ctx, "acme", registry.NewKey{Scope: "root"})
			return err
		}},
		{name: "revoke the key", action: registry.ActionAPIKeyRevoked, change: func() error { return keys.Revoke(ctx, keyID) },
			target: func() string { return keyID }},
		{name: "revoke it again", fails: true, change: func() error { return keys.Revoke(ctx, keyID) }},
	}
	for _, tc := range cases {
		before := f.auditEvents(t, f.acme)
		// Stored times keep whole milliseconds at most: compare from the
		// second the change started in.
		started := time.Now().Truncate(time.Second)
		err := tc.change()
		ended := time.Now().Truncate(time.Second).Add(time.Second) // to the next whole second, as above
		after := f.auditEvents(t, f.acme)
		if tc.fails {
			require.Error(t, err, tc.name)
		} else {
			require.NoError(t, err, tc.name)
		}
		if tc.action == "" {
			require.Len(t, after, len(before), "%s: no event", tc.name)
			continue
		}
		require.Len(t, after, len(before)+1, "%s: exactly one event", tc.name)
		ev := after[0]
		assert.Equal(t, tc.action, ev.Action, tc.name)
		assert.Equal(t, actor, ev.Actor, tc.name)
		assert.Equal(t, f.acme, ev.TenantID, tc.name)
		assert.NotEmpty(t, ev.ID, tc.name)
		assert.False(t, ev.At.Before(started) || ev.At.After(ended), "%s: recorded at the change (%s, between %s and %s)", tc.name, ev.At, started, ended)
		want := ""
		if c != nil {
			want = c.ID
		}
		if tc.target != nil {
			want = tc.target()
		}
		if tc.name != "disable all tools: one event for the one that was enabled" {
			assert.Equal(t, want, ev.TargetID, tc.name)
		}
		if tc.check != nil {
			tc.check(t, ev)
		}
	}
	assert.Empty(t, f.auditEvents(t, f.other), "nothing of acme's shows in another tenant's log")
}

// TestAuditRecordsHoldNoSecret plants secret values in every secret-bearing
// field a change can touch and checks that no audit event holds one.
func TestAuditRecordsHoldNoSecret(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	planted := []string{"sk-planted-secret-1", "sk-planted-literal-2", "sk-planted-secret-3", "sk-planted-pin-4", "sk-planted-header-5"}
	c, err := f.svc.Create(ctx, f.acme, registry.NewConnection{Name: "vault", Transport: registry.TransportHTTP,
		Endpoint: "https://mcp.example.com/mcp", Enabled: true,
		Secrets: registry.Sensitive{"TOKEN": planted[0]},
		Headers: registry.Sensitive{"Authorization": "Bearer {{secrets.TOKEN}}", "X-Literal": planted[1]}})
	require.NoError(t, err)
	newSecret := planted[2]
	_, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Secrets: map[string]*string{"TOKEN": &newSecret, "EXTRA": &newSecret}})
	require.NoError(t, err)
	headers := map[string]string{"Authorization": "Bearer {{secrets.TOKEN}}", "X-Other": planted[4]}
	_, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Headers: &headers, Secrets: map[string]*string{"EXTRA": nil}})
	require.NoError(t, err)
	f.prober.SetToolSpecs(accountTool)
	_, err = f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	_, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.Len(t, tools, 1)
	_, _, err = f.svc.UpdateTool(ctx, f.acme, c.ID, tools[0].ID, registry.ToolPatch{InputDefaults: registry.Optional[map[string]registry.InputArg]{
		Set: true, Value: map[string]registry.InputArg{"account": {Value: planted[3], Pinned: true}}}})
	require.NoError(t, err)
	require.NoError(t, f.svc.Delete(ctx, f.acme, c.ID))

	events := f.auditEvents(t, f.acme)
	require.Len(t, events, 5, "create, two updates, a tool edit, a delete")
	raw, err := json.Marshal(events)
	require.NoError(t, err)
	for _, p := range planted {
		assert.NotContains(t, string(raw), p)
	}
	// The names are there, the values are not (events[2] is the second update).
	assert.Equal(t, registry.FieldChange{From: registry.SecretSet, To: registry.SecretRemoved}, events[2].Changes["headers.X-Literal"])
	assert.Equal(t, registry.FieldChange{From: nil, To: registry.SecretSet}, events[2].Changes["headers.X-Other"])
	assert.Equal(t, registry.FieldChange{From: registry.SecretSet, To: registry.SecretRemoved}, events[2].Changes["secrets.EXTRA"])
}

// TestAuditRetention: Prune removes the events older than the retention
// and keeps the rest.
func TestAuditRetention(t *testing.T) {
	ctx := context.Background()
	longAgo := time.Now().Add(-100 * 24 * time.Hour)
	f := newFixture(t, func(o *registry.Options) { o.Now = func() time.Time { return longAgo } })
	_, err := f.svc.Create(ctx, f.acme, registry.NewConnection{Name: "old", Transport: registry.TransportHTTP, Endpoint: "https://old.example/"})
	require.NoError(t, err)
	recent := registry.NewService(registry.Options{Store: f.st})
	t.Cleanup(recent.Close)
	_, err = recent.Create(ctx, f.acme, registry.NewConnection{Name: "new", Transport: registry.TransportHTTP, Endpoint: "https://new.example/"})
	require.NoError(t, err)
	require.Len(t, f.auditEvents(t, f.acme), 2)

	log := registry.NewAuditLog(f.st, nil)
	n, err := log.Prune(ctx, registry.DefaultAuditRetention)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	events := f.auditEvents(t, f.acme)
	require.Len(t, events, 1)
	assert.Equal(t, registry.FieldChange{To: "new"}, events[0].Changes["slug"])
	n, err = log.Prune(ctx, registry.DefaultAuditRetention)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing more is old enough")
}

// TestAuditActorDefaultsToSystem: a change made with no actor in its
// context (background work) is tether's own.
func TestAuditActorDefaultsToSystem(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(context.Background(), f.acme, registry.NewConnection{Name: "bg", Transport: registry.TransportHTTP, Endpoint: "https://bg.example/"})
	require.NoError(t, err)
	events := f.auditEvents(t, f.acme)
	require.Len(t, events, 1)
	assert.Equal(t, registry.SystemActor, events[0].Actor)
}

// TestAuditPaging: pages follow each other newest first without gaps or
// repeats, filtered by connection and time.
func TestAuditPaging(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var ids []string
	for i := range 7 {
		c := f.create(t, registry.NewConnection{Name: "c" + string(rune('a'+i))})
		ids = append(ids, c.ID)
	}
	nick := "renamed"
	_, err := f.svc.Update(ctx, f.acme, ids[2], registry.Patch{Nickname: &nick})
	require.NoError(t, err)
	log := registry.NewAuditLog(f.st, nil)

	var seen []registry.AuditEvent
	q := registry.AuditQuery{Limit: 3}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		page, err := log.List(ctx, f.acme, q)
		require.NoError(t, err)
		seen = append(seen, page.Events...)
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	require.Len(t, seen, 8)
	assert.Equal(t, registry.ActionConnectionUpdated, seen[0].Action, "newest first")
	for i := 1; i < len(seen); i++ {
		assert.False(t, seen[i].At.After(seen[i-1].At))
		assert.NotEqual(t, seen[i].ID, seen[i-1].ID)
	}

	page, err := log.List(ctx, f.acme, registry.AuditQuery{ConnectionID: ids[2]})
	require.NoError(t, err)
	require.Len(t, page.Events, 2)
	assert.Equal(t, registry.ActionConnectionUpdated, page.Events[0].Action)
	assert.Equal(t, registry.ActionConnectionCreated, page.Events[1].Action)

	future := time.Now().Add(time.Hour)
	page, err = log.List(ctx, f.acme, registry.AuditQuery{Since: &future})
	require.NoError(t, err)
	assert.Empty(t, page.Events)

	_, err = log.List(ctx, f.acme, registry.AuditQuery{Cursor: "not-a-cursor"})
	require.ErrorIs(t, err, registry.ErrValidation)
	_, err = log.List(ctx, f.acme, registry.AuditQuery{Limit: registry.MaxAuditLimit + 1})
	require.ErrorIs(t, err, registry.ErrValidation)
}

// TestTenantLifecycle: a deleted tenant's keys, connections, tools and
// audit events are gone, its key refused at once, its connections
// announced; another tenant is untouched; the deletion is an operator
// event.
func TestTenantLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := registry.WithActor(context.Background(), registry.Actor{Type: registry.ActorAdmin})
	keys := registry.NewKeys(f.st)
	var gone []*registry.Connection
	keys.OnTenantDeleted(func(cs []*registry.Connection) { gone = append(gone, cs...) })

	doomed, err := keys.CreateTenant(ctx, "doomed")
	require.NoError(t, err)
	_, err = keys.CreateTenant(ctx, "doomed")
	require.ErrorIs(t, err, registry.ErrNameExists)
	key, _, err := keys.CreateTenantKey(ctx, "doomed", registry.NewKey{})
	require.NoError(t, err)
	_, _, err = keys.CreateTenantKey(ctx, "nobody", registry.NewKey{})
	require.ErrorIs(t, err, registry.ErrNotFound, "keys only for tenants that exist")
	otherKey, _, err := keys.Create(ctx, "acme")
	require.NoError(t, err)
	for _, tenant := range []string{doomed.ID, f.acme} {
		c, err := f.svc.Create(ctx, tenant, registry.NewConnection{Name: "crm", Transport: registry.TransportHTTP, Endpoint: "https://mcp.example.com/mcp", Enabled: true})
		require.NoError(t, err)
		_, err = f.svc.Test(ctx, tenant, c.ID)
		require.NoError(t, err)
	}
	_, err = keys.Authenticate(ctx, key)
	require.NoError(t, err)
	require.NotEmpty(t, f.auditEvents(t, doomed.ID))
	acmeEvents := len(f.auditEvents(t, f.acme))

	require.NoError(t, keys.DeleteTenant(ctx, "doomed"))
	_, err = keys.Authenticate(ctx, key)
	require.ErrorIs(t, err, registry.ErrUnauthorized, "the deleted tenant's key is refused")
	require.Len(t, gone, 1)
	_, err = keys.Tenant(ctx, doomed.ID)
	require.ErrorIs(t, err, registry.ErrNotFound)
	list, _, err := f.svc.List(ctx, doomed.ID, registry.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)
	tools, err := f.st.ListTools(ctx, doomed.ID)
	require.NoError(t, err)
	assert.Empty(t, tools)
	assert.Empty(t, f.auditEvents(t, doomed.ID))
	dk, err := f.st.ListAPIKeys(ctx, doomed.ID)
	require.NoError(t, err)
	assert.Empty(t, dk)
	require.ErrorIs(t, keys.DeleteTenant(ctx, "doomed"), registry.ErrNotFound)

	// acme is untouched.
	_, err = keys.Authenticate(ctx, otherKey)
	require.NoError(t, err)
	list, _, err = f.svc.List(ctx, f.acme, registry.ListFilter{})
	require.NoError(t, err)
	assert.Len(t, list, 1)
	tools, err = f.st.ListTools(ctx, f.acme)
	require.NoError(t, err)
	assert.Len(t, tools[list[0].ID], 2)
	assert.Len(t, f.auditEvents(t, f.acme), acmeEvents)

	op, err := registry.NewAuditLog(f.st, nil).ListOperator(ctx, registry.AuditQuery{})
	require.NoError(t, err)
	require.Len(t, op.Events, 2)
	assert.Equal(t, registry.ActionTenantDeleted, op.Events[0].Action)
	assert.Equal(t, doomed.ID, op.Events[0].TargetID)
	assert.Equal(t, registry.ActorAdmin, op.Events[0].Actor.Type)
	assert.Equal(t, registry.ActionTenantCreated, op.Events[1].Action)
}

// TestAuditStoreFailureLeavesNoRecord: when the write of a change fails
// in the store, its event goes with it, and the next change's event is
// not affected by the leftover.
func TestAuditStoreFailureLeavesNoRecord(t *testing.T) {
	f := newFixture(t, func(o *registry.Options) { o.Limits.MaxConnectionsPerTenant = 1 })
	ctx := context.Background()
	f.create(t, registry.NewConnection{Name: "one"})
	_, err := f.svc.Create(ctx, f.acme, registry.NewConnection{Name: "two", Transport: registry.TransportHTTP, Endpoint: "https://two.example/"})
	require.True(t, errors.Is(err, registry.ErrLimitExceeded), "%v", err)
	events := f.auditEvents(t, f.acme)
	require.Len(t, events, 1)
	assert.Equal(t, registry.FieldChange{To: "one"}, events[0].Changes["slug"])
}
