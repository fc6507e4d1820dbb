package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

func countRows(t *testing.T, st *Store, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, st.read.QueryRow(query, args...).Scan(&n))
	return n
}

func auditEvent(tenant, target string) registry.AuditEvent {
	return registry.AuditEvent{ID: target + "-ev", TenantID: tenant, At: time.Now().UTC().Truncate(time.Millisecond),
		Actor: registry.Actor{Type: registry.ActorCLI}, Action: registry.ActionConnectionUpdated, TargetID: target, ConnectionID: target}
}

// TestAuditEventsCommitWithTheirChange: the events pending on a context's
// trail are written by the next write transaction on that context, and
// only when it commits.
func TestAuditEventsCommitWithTheirChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		base := context.Background()
		_, err := st.EnsureTenant(base, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		require.NoError(t, st.InsertConnectionCapped(base, newConn("t1", "c1", "crm"), false, 0))
		events := func() int { return countRows(t, st, `SELECT count(*) FROM audit_events`) }

		cases := []struct {
			name  string
			write func(ctx context.Context) error
			want  int
		}{
			{"the closure fails", func(ctx context.Context) error {
				_, err := st.UpdateConnection(ctx, "t1", "c1", func(*registry.Connection) error { return errors.New("refused") })
				return err
			}, 0},
			{"no such row", func(ctx context.Context) error {
				_, err := st.UpdateConnection(ctx, "t1", "nope", func(*registry.Connection) error { return nil })
				return err
			}, 0},
			{"a unique violation", func(ctx context.Context) error {
				return st.InsertConnectionCapped(ctx, newConn("t1", "c2", "crm"), false, 0)
			}, 0},
			{"over the cap", func(ctx context.Context) error {
				return st.InsertConnectionCapped(ctx, newConn("t1", "c3", "other"), false, 1)
			}, 0},
			{"an update", func(ctx context.Context) error {
				_, err := st.UpdateConnection(ctx, "t1", "c1", func(c *registry.Connection) error { c.Nickname = "x"; return nil })
				return err
			}, 1},
			{"a delete", func(ctx context.Context) error { return st.DeleteConnection(ctx, "t1", "c1") }, 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := events()
				ctx, trail := registry.WithAuditTrail(base)
				trail.Record(auditEvent("t1", tc.name))
				err := tc.write(ctx)
				if tc.want == 0 {
					require.Error(t, err)
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, before+tc.want, events())
				assert.Empty(t, registry.TakeAudit(ctx), "the trail is spent either way")
			})
		}
	})
}

// TestAuditEventRoundTrip: what is stored reads back the same; operator
// events have no tenant and show only in the operator list.
func TestAuditEventRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		ctx := context.Background()
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		ev := auditEvent("t1", "c1")
		ev.Actor = registry.Actor{Type: registry.ActorAPIKey, KeyID: "k1", KeyPrefix: "tth_abc"}
		ev.Changes = registry.Changes{"nickname": {From: "a", To: "b"}, "secrets.X": {From: nil, To: registry.SecretSet}, "timeout_ms": {From: 1000.0, To: 2000.0}}
		actx, trail := registry.WithAuditTrail(ctx)
		trail.Record(ev)
		_, err = st.EnsureTenant(actx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		require.NoError(t, st.RecordOperatorEvent(ctx, registry.AuditEvent{ID: "op1", TenantID: "ignored", At: ev.At,
			Actor: registry.Actor{Type: registry.ActorCLI}, Action: registry.ActionKeyringRotated, TargetID: "k2"}))

		page, err := st.ListAudit(ctx, registry.AuditQuery{TenantID: "t1"})
		require.NoError(t, err)
		require.Len(t, page.Events, 1)
		assert.Equal(t, ev, page.Events[0])
		op, err := st.ListAudit(ctx, registry.AuditQuery{Operator: true})
		require.NoError(t, err)
		require.Len(t, op.Events, 1)
		assert.Equal(t, "", op.Events[0].TenantID)
		assert.Equal(t, registry.ActionKeyringRotated, op.Events[0].Action)
		assert.Equal(t, registry.Changes{}, op.Events[0].Changes)
	})
}

// TestPruneAudit deletes by age, in batches, whatever the tenant.
func TestPruneAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		ctx := context.Background()
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		old := time.Now().Add(-48 * time.Hour)
		var evs []registry.AuditEvent
		for i := range 2500 {
			ev := auditEvent("t1", "old"+time.Duration(i).String())
			ev.At = old
			evs = append(evs, ev)
		}
		fresh := auditEvent("t1", "fresh")
		evs = append(evs, fresh)
		require.NoError(t, st.inTx(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, evs) }))
		require.NoError(t, st.RecordOperatorEvent(ctx, registry.AuditEvent{ID: "op-old", At: old, Actor: registry.SystemActor, Action: registry.ActionKeyringRetired, TargetID: "k"}))

		n, err := st.PruneAudit(ctx, time.Now().Add(-24*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, 2501, n)
		page, err := st.ListAudit(ctx, registry.AuditQuery{TenantID: "t1"})
		require.NoError(t, err)
		require.Len(t, page.Events, 1)
		assert.Equal(t, "fresh", page.Events[0].TargetID)
	})
}

// TestDeleteTenantTakesEveryRow: after DeleteTenant no table holds a row
// of the tenant; another tenant keeps all of its rows.
func TestDeleteTenantTakesEveryRow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		ctx := context.Background()
		for _, ten := range []string{"t1", "t2"} {
			_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: ten, Name: "name-" + ten})
			require.NoError(t, err)
			require.NoError(t, st.InsertAPIKey(ctx, &registry.APIKey{ID: "k-" + ten, TenantID: ten, Prefix: "tth_" + ten, Hash: []byte("hash-" + ten),
				Scope: registry.ScopeAgent, CreatedAt: time.Now()}))
			actx, trail := registry.WithAuditTrail(ctx)
			trail.Record(auditEvent(ten, "c-"+ten))
			require.NoError(t, st.InsertConnectionCapped(actx, newConn(ten, "c-"+ten, "crm"), false, 0))
			_, _, err = st.UpdateConnectionTools(ctx, ten, "c-"+ten, func(c *registry.Connection, _ []*registry.Tool) ([]*registry.Tool, error) {
				now := time.Now()
				return []*registry.Tool{{ID: "tool-" + ten, ConnectionID: c.ID, TenantID: ten, Name: "add", Slug: "crm_add", Enabled: true,
					InputSchema: map[string]any{"type": "object"}, LastSeenAt: now, CreatedAt: now, UpdatedAt: now}}, nil
			})
			require.NoError(t, err)
			require.NoError(t, st.InsertCalls(ctx, []registry.Call{{ID: "call-" + ten, TenantID: ten, ConnectionID: "c-" + ten,
				ToolPath: "add", Slug: "crm_add", Via: "rest", Outcome: "ok", CreatedAt: time.Now()}}, nil, 0))
			require.NoError(t, st.InsertOAuthState(ctx, &registry.OAuthPending{StateHash: []byte("state-" + ten), TenantID: ten,
				ConnectionID: "c-" + ten, Verifier: "v", Issuer: "https://as.example", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}))
		}
		tables := []string{"api_keys", "connections", "tools", "calls", "oauth_states", "audit_events", "connection_counts"}
		for _, table := range tables {
			require.NotZero(t, countRows(t, st, `SELECT count(*) FROM `+table+` WHERE tenant_id = 't1'`), table)
		}
		before := map[string]int{}
		for _, table := range tables {
			before[table] = countRows(t, st, `SELECT count(*) FROM `+table+` WHERE tenant_id = 't2'`)
		}

		conns, err := st.DeleteTenant(ctx, "t1")
		require.NoError(t, err)
		require.Len(t, conns, 1)
		assert.Equal(t, "value-c-t1", conns[0].Secrets["K"], "returned in full, for token revocation")
		for _, table := range tables {
			assert.Zero(t, countRows(t, st, `SELECT count(*) FROM `+table+` WHERE tenant_id = 't1'`), table)
			assert.Equal(t, before[table], countRows(t, st, `SELECT count(*) FROM `+table+` WHERE tenant_id = 't2'`), table)
		}
		assert.Zero(t, countRows(t, st, `SELECT count(*) FROM tenants WHERE id = 't1'`))
		_, err = st.DeleteTenant(ctx, "t1")
		require.ErrorIs(t, err, registry.ErrNotFound)
	})
}

// TestAPIKeyScopeAndExpiryRoundTrip: a key's scope and expiry are stored,
// and an insert of a key that exists audits nothing.
func TestAPIKeyScopeAndExpiryRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		st := openTest(t, db)
		ctx := context.Background()
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		k := &registry.APIKey{ID: "k1", TenantID: "t1", Prefix: "tth_x", Hash: []byte("h"), Scope: registry.ScopeAgent, CreatedAt: time.Now(), ExpiresAt: &exp}
		require.NoError(t, st.InsertAPIKey(ctx, k))
		got, err := st.KeyByHash(ctx, []byte("h"))
		require.NoError(t, err)
		assert.Equal(t, registry.ScopeAgent, got.Scope)
		assert.Equal(t, exp, *got.ExpiresAt)
		assert.Equal(t, "acme", got.TenantName)

		actx, trail := registry.WithAuditTrail(ctx)
		trail.Record(auditEvent("t1", "k1"))
		require.NoError(t, st.InsertAPIKey(actx, &registry.APIKey{ID: "k2", TenantID: "t1", Prefix: "tth_x", Hash: []byte("h"), CreatedAt: time.Now()}))
		assert.Zero(t, countRows(t, st, `SELECT count(*) FROM audit_events`), "the key existed: nothing was created")

		byPrefix, err := st.GetAPIKey(ctx, "tth_x")
		require.NoError(t, err)
		assert.Equal(t, "k1", byPrefix.ID)
		require.NoError(t, st.RevokeAPIKey(ctx, "k1"))
		_, err = st.KeyByHash(ctx, []byte("h"))
		require.ErrorIs(t, err, registry.ErrNotFound)
		require.ErrorIs(t, st.RevokeAPIKey(ctx, "k1"), registry.ErrNotFound)
	})
}
