package registry

import (
	"bytes"
	"context"
	"maps"
	"slices"
)

// What the audit log says changed. Plain fields show their values (what
// the APIs show anyway); secret-bearing ones — header values (which may
// hold a literal credential), secrets, the OAuth document with its tokens
// — show only "set" or "removed", never a value.

// connectionFields are a connection's plain fields as the audit log names
// them (Feather's names where the dialects differ).
var connectionFields = []struct {
	name string
	get  func(*Connection) any
}{
	{"slug", func(c *Connection) any { return c.Slug }},
	{"nickname", func(c *Connection) any { return c.Nickname }},
	{"description", func(c *Connection) any { return c.Description }},
	{"transport", func(c *Connection) any { return string(c.Transport) }},
	{"server_url", func(c *Connection) any { return c.Endpoint }},
	{"command", func(c *Connection) any { return c.Command }},
	{"args", func(c *Connection) any { return c.Args }},
	{"auth_type", func(c *Connection) any { return string(c.AuthType) }},
	{"auto_connect", func(c *Connection) any { return c.AutoConnect }},
	{"enabled", func(c *Connection) any { return c.Enabled }},
	{"timeout_ms", func(c *Connection) any { return c.TimeoutMS }},
	{"persona_id", func(c *Connection) any { return c.PersonaID }},
	{"status", func(c *Connection) any { return string(c.Status) }},
	{"tool_policy", func(c *Connection) any { return string(c.ToolPolicy) }},
	{"tool_prefix", func(c *Connection) any { return derefOr(c.ToolPrefix) }},
}

// derefOr is *p, or "" for nil (which nonEmpty leaves out).
func derefOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// connectionChanges is what changed from before to after; a nil before
// is a create (empty fields left out), a nil after a delete.
func connectionChanges(before, after *Connection) Changes {
	ch := Changes{}
	for _, f := range connectionFields {
		var from, to any
		if before != nil {
			from = nonEmpty(f.get(before))
		}
		if after != nil {
			to = nonEmpty(f.get(after))
		}
		ch.set(f.name, from, to)
	}
	var bh, ah, bs, as Sensitive
	var bo, ao SecretBlob
	if before != nil {
		bh, bs, bo = before.Headers, before.Secrets, before.OAuth
	}
	if after != nil {
		ah, as, ao = after.Headers, after.Secrets, after.OAuth
	}
	sensitiveChanges(ch, "headers.", bh, ah)
	sensitiveChanges(ch, "secrets.", bs, as)
	ch.secret("oauth", len(bo) > 0, len(ao) > 0, bytes.Equal(bo, ao))
	return ch
}

// sensitiveChanges records, per name, whether a value was set, replaced
// or removed.
func sensitiveChanges(ch Changes, prefix string, before, after Sensitive) {
	names := map[string]bool{}
	for n := range before {
		names[n] = true
	}
	for n := range after {
		names[n] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		b, had := before[n]
		a, has := after[n]
		ch.secret(prefix+n, had, has, b == a)
	}
}

// nonEmpty is v, or nil for an empty string or list.
func nonEmpty(v any) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
	case []string:
		if len(x) == 0 {
			return nil
		}
	}
	return v
}

// updateAction names an update by what it did: enabling or disabling
// wins over other edits.
func updateAction(before, after *Connection) AuditAction {
	switch {
	case !before.Enabled && after.Enabled:
		return ActionConnectionEnabled
	case before.Enabled && !after.Enabled:
		return ActionConnectionDisabled
	}
	return ActionConnectionUpdated
}

// toolChanges is what changed in a tool's author settings. Input
// defaults and pins may hold values a customer considers secret (an
// account number pinned for every call), so they show per field only
// whether a value was set or removed.
func toolChanges(before, after *Tool) Changes {
	ch := Changes{}
	ch.set("is_enabled", before.Enabled, after.Enabled)
	ch.set("response_field_map", before.ResponseFieldMap, after.ResponseFieldMap)
	ch.set("title_override", nonEmpty(derefOr(before.TitleOverride)), nonEmpty(derefOr(after.TitleOverride)))
	ch.set("description_override", nonEmpty(derefOr(before.DescriptionOverride)), nonEmpty(derefOr(after.DescriptionOverride)))
	names := map[string]bool{}
	for n := range before.InputDefaults {
		names[n] = true
	}
	for n := range after.InputDefaults {
		names[n] = true
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		b, had := before.InputDefaults[n]
		a, has := after.InputDefaults[n]
		ch.secret("input_defaults."+n, had, has, jsonEqual(b, a))
	}
	return ch
}

// connectionAudit is an auditor for a change to one of a tenant's
// connections, on a fresh trail in the returned context.
func (s *Service) connectionAudit(ctx context.Context, tenantID string) (context.Context, *auditor) {
	return auditing(ctx, tenantID, s.Now)
}

// recordCreate records connection.created; the event is built when the
// transaction takes it, after the store picked the free slug.
func (a *auditor) recordCreate(c *Connection) {
	a.trail.RecordFunc(func() AuditEvent {
		return a.event(ActionConnectionCreated, c.ID, c.ID, connectionChanges(nil, c))
	})
}

// recordUpdate records an update of a connection, if it changed anything.
// Called when the update's closure returns: a closure that fails aborts
// the transaction, and the store drops the event with it.
func (a *auditor) recordUpdate(before, after *Connection) {
	ch := connectionChanges(before, after)
	if len(ch) == 0 {
		return
	}
	a.record(updateAction(before, after), after.ID, after.ID, ch)
}

// recordTool records tool.updated when a tool's settings changed.
func (a *auditor) recordTool(before, after *Tool) {
	ch := toolChanges(before, after)
	if len(ch) == 0 {
		return
	}
	a.record(ActionToolUpdated, after.ID, after.ConnectionID, ch)
}
