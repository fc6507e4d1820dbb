package registry

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// ActorType says who made a change.
type ActorType string

// The actors. System is tether itself, for changes it makes on its own
// that alter what agents see (a row moved to reauth_required).
const (
	ActorAPIKey ActorType = "api_key"
	ActorAdmin  ActorType = "admin"
	ActorCLI    ActorType = "cli"
	ActorSystem ActorType = "system"
)

// Actor is who made a change: an API key (its id and prefix, never the
// key), the admin key, the CLI, or tether itself.
type Actor struct {
	Type      ActorType
	KeyID     string
	KeyPrefix string
}

// SystemActor is tether acting on its own.
var SystemActor = Actor{Type: ActorSystem}

type actorKey struct{}

// WithActor returns ctx carrying who is making the changes made under it:
// the server sets the authenticated key (or the admin key), the CLI sets
// ActorCLI.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries; without one, the change is
// tether's own (background work: the monitor, token refreshes).
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return SystemActor
}

// AuditAction names what an audit event records.
type AuditAction string

// The audited actions (DESIGN.md "Wave 2 contracts"). Tenant and keyring
// actions are operator events: they have no tenant and are shown by
// `tether audit --operator` only.
const (
	ActionConnectionCreated      AuditAction = "connection.created"
	ActionConnectionUpdated      AuditAction = "connection.updated"
	ActionConnectionEnabled      AuditAction = "connection.enabled"
	ActionConnectionDisabled     AuditAction = "connection.disabled"
	ActionConnectionDeleted      AuditAction = "connection.deleted"
	ActionConnectionReauthorized AuditAction = "connection.reauthorized"
	ActionOAuthCompleted         AuditAction = "oauth.completed"
	ActionOAuthFailed            AuditAction = "oauth.failed"
	ActionToolUpdated            AuditAction = "tool.updated"
	ActionToolApproved           AuditAction = "tool.approved"
	ActionToolRejected           AuditAction = "tool.rejected"
	ActionToolDefinitionChanged  AuditAction = "tool.definition_changed"
	ActionAPIKeyCreated          AuditAction = "apikey.created"
	ActionAPIKeyRevoked          AuditAction = "apikey.revoked"

	ActionTenantCreated  AuditAction = "tenant.created"
	ActionTenantDeleted  AuditAction = "tenant.deleted"
	ActionKeyringRotated AuditAction = "keyring.rotated"
	ActionKeyringRetired AuditAction = "keyring.retired"
)

// FieldChange is one field's change: From and To are JSON values (nil: absent).
// A secret-bearing field never shows its value, only SecretSet or
// SecretRemoved.
type FieldChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// What a secret-bearing field's FieldChange shows instead of a value.
const (
	SecretSet     = "set"
	SecretRemoved = "removed"
)

// Changes maps a field name to its change.
type Changes map[string]FieldChange

// AuditEvent is one audit record.
type AuditEvent struct {
	ID string
	// TenantID is empty for an operator event.
	TenantID string
	At       time.Time
	Actor    Actor
	Action   AuditAction
	TargetID string
	// ConnectionID is the connection the event concerns (for a tool event,
	// the tool's connection); empty for key and operator events.
	ConnectionID string
	Changes      Changes
}

// AuditTrail collects the audit events of one change, for the store to
// write in the same transaction as the change: a store's write
// transaction takes what the trail of its context holds (TakeAudit) and
// inserts it before committing, and drops it when the transaction fails,
// so a record never exists without its change or the change without its
// record. Events are recorded just before the store call that makes the
// change, or inside its closure (which runs in the transaction).
type AuditTrail struct {
	mu      sync.Mutex
	pending []func() AuditEvent
}

type trailKey struct{}

// WithAuditTrail returns ctx carrying an empty trail, and the trail.
func WithAuditTrail(ctx context.Context) (context.Context, *AuditTrail) {
	t := &AuditTrail{}
	return context.WithValue(ctx, trailKey{}, t), t
}

// Record adds an event.
func (t *AuditTrail) Record(ev AuditEvent) {
	t.RecordFunc(func() AuditEvent { return ev })
}

// RecordFunc adds an event that is built when the transaction takes it,
// for what the store itself decides (a create's free slug).
func (t *AuditTrail) RecordFunc(fn func() AuditEvent) {
	t.mu.Lock()
	t.pending = append(t.pending, fn)
	t.mu.Unlock()
}

// take returns and forgets the pending events.
func (t *AuditTrail) take() []AuditEvent {
	t.mu.Lock()
	fns := t.pending
	t.pending = nil
	t.mu.Unlock()
	out := make([]AuditEvent, len(fns))
	for i, fn := range fns {
		out[i] = fn()
	}
	return out
}

// TakeAudit returns the events pending on ctx's trail and clears it. A
// store calls it in every write transaction, after the change and before
// the commit (and discards the result when the transaction fails, or
// when the write turns out to change nothing).
func TakeAudit(ctx context.Context) []AuditEvent {
	t, _ := ctx.Value(trailKey{}).(*AuditTrail)
	if t == nil {
		return nil
	}
	return t.take()
}

// auditor records the events of one call on a trail, filling in the id,
// time, actor and tenant.
type auditor struct {
	trail  *AuditTrail
	actor  Actor
	tenant string
	now    func() time.Time
}

// auditing returns ctx with a fresh trail and an auditor writing to it as
// ctx's actor, for the tenant.
func auditing(ctx context.Context, tenantID string, now func() time.Time) (context.Context, *auditor) {
	ctx, trail := WithAuditTrail(ctx)
	return ctx, &auditor{trail: trail, actor: ActorFrom(ctx), tenant: tenantID, now: now}
}

// record adds an event; an update that changed nothing records nothing.
func (a *auditor) record(action AuditAction, target, connID string, changes Changes) {
	a.trail.Record(a.event(action, target, connID, changes))
}

func (a *auditor) event(action AuditAction, target, connID string, changes Changes) AuditEvent {
	if changes == nil {
		changes = Changes{}
	}
	return AuditEvent{ID: newUUID(), TenantID: a.tenant, At: a.now(), Actor: a.actor,
		Action: action, TargetID: target, ConnectionID: connID, Changes: changes}
}

// set records a field's change when its value changed (compared as JSON).
func (c Changes) set(field string, from, to any) {
	if jsonEqual(from, to) {
		return
	}
	c[field] = FieldChange{From: from, To: to}
}

// secret records a secret-bearing field's change: only whether it was
// set or removed, never a value.
func (c Changes) secret(field string, had, has, same bool) {
	switch {
	case !had && has:
		c[field] = FieldChange{From: nil, To: SecretSet}
	case had && !has:
		c[field] = FieldChange{From: SecretSet, To: SecretRemoved}
	case had && has && !same:
		c[field] = FieldChange{From: SecretSet, To: SecretSet}
	}
}

func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// AuditQuery selects audit events, newest first. An empty TenantID with
// Operator selects the operator events.
type AuditQuery struct {
	TenantID     string
	Operator     bool
	ConnectionID string
	Since        *time.Time
	// Limit bounds the page (1..MaxAuditLimit; 0 means DefaultAuditLimit).
	Limit int
	// Cursor continues after the last page (its NextCursor).
	Cursor string
}

// Audit page sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditPage is one page of events and the cursor of the next ("" at the
// end).
type AuditPage struct {
	Events     []AuditEvent
	NextCursor string
}

// AuditStore reads and prunes the audit log (the store writes it, in the
// transactions of the changes).
type AuditStore interface {
	// ListAudit returns a page; a malformed cursor is ErrValidation.
	ListAudit(ctx context.Context, q AuditQuery) (*AuditPage, error)
	// PruneAudit deletes events older than before and says how many.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
	// RecordOperatorEvent stores an operator event on its own (keyring
	// rotation and retirement touch no row in a transaction).
	RecordOperatorEvent(ctx context.Context, ev AuditEvent) error
}

// SaveAudit marks what ctx's trail holds now and returns a function that
// puts the trail back to it, for a store that runs a transaction again
// after a concurrent one won: the rerun records what its closure records
// afresh, on top of what was recorded before the transaction began.
func SaveAudit(ctx context.Context) (restore func()) {
	t, _ := ctx.Value(trailKey{}).(*AuditTrail)
	if t == nil {
		return func() {}
	}
	t.mu.Lock()
	saved := append([]func() AuditEvent(nil), t.pending...)
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.pending = append([]func() AuditEvent(nil), saved...)
		t.mu.Unlock()
	}
}
