package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/server"
)

const adminKey = "adm_server_test_0123456789abcdef"

func withAdminKey(o *server.Options) { o.AdminKey = adminKey }

// TestAdminAPIOffWithoutKey: with no admin key the admin routes do not
// exist, whatever is sent.
func TestAdminAPIOffWithoutKey(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range []req{
		{method: http.MethodGet, path: "/admin/v1/tenants", bearer: adminKey},
		{method: http.MethodGet, path: "/admin/v1/tenants"},
		{method: http.MethodPost, path: "/admin/v1/tenants", noKey: true, body: map[string]any{"name": "x"}},
	} {
		got := ts.do(r)
		assert.Equal(t, http.StatusNotFound, got.status, "%s %s: %s", r.method, r.path, got.body)
	}
}

// TestAdminAPIAuthentication: only the admin key, as a bearer token.
func TestAdminAPIAuthentication(t *testing.T) {
	ts := newTestServer(t, withServer(withAdminKey))
	for name, r := range map[string]req{
		"no key":            {method: http.MethodGet, path: "/admin/v1/tenants", noKey: true},
		"a tenant's key":    {method: http.MethodGet, path: "/admin/v1/tenants", bearer: ts.key},
		"the key in x-api":  {method: http.MethodGet, path: "/admin/v1/tenants", key: adminKey},
		"a wrong admin key": {method: http.MethodGet, path: "/admin/v1/tenants", bearer: adminKey + "x"},
	} {
		got := ts.do(r)
		require.Equal(t, http.StatusUnauthorized, got.status, "%s: %s", name, got.body)
		assert.Equal(t, "unauthorized", got.json(t)["error"], name)
	}
	r := ts.do(req{method: http.MethodGet, path: "/v1/integrations/connections", bearer: adminKey})
	assert.Equal(t, http.StatusUnauthorized, r.status, "the admin key is no tenant's API key")
	r = ts.do(req{method: http.MethodGet, path: "/admin/v1/tenants", bearer: adminKey})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
}

// TestAdminTenantAndKeyLifecycle: tenants are created and listed, keys
// made (with a scope and an expiry), listed and revoked, and a deleted
// tenant takes its keys and rows with it while another is untouched;
// every change is audited as the admin's.
func TestAdminTenantAndKeyLifecycle(t *testing.T) {
	ts := newTestServer(t, withServer(withAdminKey))
	admin := func(method, path string, body any) response {
		return ts.do(req{method: method, path: "/admin/v1" + path, bearer: adminKey, body: body})
	}

	r := admin(http.MethodPost, "/tenants", map[string]any{"name": "globex"})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	globex := r.json(t)
	assert.Equal(t, "globex", globex["name"])
	assert.Equal(t, http.StatusConflict, admin(http.MethodPost, "/tenants", map[string]any{"name": "globex"}).status)
	assert.Equal(t, http.StatusUnprocessableEntity, admin(http.MethodPost, "/tenants", map[string]any{"name": ""}).status)
	assert.Equal(t, http.StatusUnprocessableEntity, admin(http.MethodPost, "/tenants", map[string]any{"name": "x", "extra": 1}).status)
	list := admin(http.MethodGet, "/tenants", nil).json(t)["tenants"].([]any)
	var names []any
	for _, tn := range list {
		names = append(names, tn.(map[string]any)["name"])
	}
	assert.Equal(t, []any{"acme", "globex"}, names)

	// Keys: an admin key by name, an agent key with an expiry by id.
	r = admin(http.MethodPost, "/tenants/globex/keys", nil)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	globexKey := r.json(t)["key"].(string)
	assert.Equal(t, "admin", r.json(t)["api_key"].(map[string]any)["scope"])
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r = admin(http.MethodPost, "/tenants/"+globex["id"].(string)+"/keys", map[string]any{"scope": "agent", "expires_at": expires.Format(time.RFC3339)})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	agent := r.json(t)
	agentKey := agent["key"].(string)
	agentID := agent["api_key"].(map[string]any)["id"].(string)
	assert.Equal(t, expires.Format(time.RFC3339), agent["api_key"].(map[string]any)["expires_at"])
	assert.Equal(t, http.StatusBadRequest, admin(http.MethodPost, "/tenants/globex/keys", map[string]any{"expires_at": "2001-01-01T00:00:00Z"}).status)
	assert.Equal(t, http.StatusUnprocessableEntity, admin(http.MethodPost, "/tenants/globex/keys", map[string]any{"scope": "root"}).status)
	assert.Equal(t, http.StatusNotFound, admin(http.MethodPost, "/tenants/nobody/keys", nil).status)
	keys := admin(http.MethodGet, "/tenants/globex/keys", nil).json(t)["keys"].([]any)
	require.Len(t, keys, 2)
	assert.Equal(t, "agent", keys[1].(map[string]any)["scope"])
	assert.NotContains(t, string(admin(http.MethodGet, "/tenants/globex/keys", nil).body), agentKey, "keys are shown once")

	// The keys work, each within its scope.
	conn := ts.do(req{method: http.MethodPost, path: ferniBase, key: globexKey, body: validFerni("globex-crm")})
	require.Equal(t, http.StatusCreated, conn.status, "%s", conn.body)
	assert.Equal(t, http.StatusOK, ts.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: agentKey}).status)
	assert.Equal(t, http.StatusForbidden, ts.do(req{method: http.MethodGet, path: ferniBase, key: agentKey}).status)

	// Revocation: refused from the next request; only the tenant's own key.
	assert.Equal(t, http.StatusNotFound, admin(http.MethodDelete, "/tenants/acme/keys/"+agentID, nil).status, "not acme's key")
	require.Equal(t, http.StatusNoContent, admin(http.MethodDelete, "/tenants/globex/keys/"+agentID, nil).status)
	assert.Equal(t, http.StatusUnauthorized, ts.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: agentKey}).status)
	assert.Equal(t, http.StatusNotFound, admin(http.MethodDelete, "/tenants/globex/keys/"+agentID, nil).status, "revoked already")

	// The changes are in globex's audit log, as the admin's.
	events := ts.do(req{method: http.MethodGet, path: "/v1/integrations/audit", key: globexKey}).json(t)["events"].([]any)
	var adminActions []any
	for _, e := range events {
		ev := e.(map[string]any)
		if ev["actor"].(map[string]any)["type"] == "admin" {
			adminActions = append(adminActions, ev["action"])
			assert.Nil(t, ev["actor"].(map[string]any)["key_id"])
		}
	}
	assert.Equal(t, []any{"apikey.revoked", "apikey.created", "apikey.created"}, adminActions)

	// Deleting globex: its keys and rows go, acme's stay.
	acmeConn := ts.ferniCreate(validFerni("acme-crm"))
	require.Equal(t, http.StatusNoContent, admin(http.MethodDelete, "/tenants/globex", nil).status)
	assert.Equal(t, http.StatusUnauthorized, ts.do(req{method: http.MethodGet, path: ferniBase, key: globexKey}).status)
	assert.Equal(t, http.StatusNotFound, admin(http.MethodGet, "/tenants/globex/keys", nil).status)
	assert.Equal(t, http.StatusNotFound, admin(http.MethodDelete, "/tenants/globex", nil).status)
	left, _, err := ts.svc.List(context.Background(), globex["id"].(string), registry.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, left)
	page, err := registry.NewAuditLog(ts.store, nil).List(context.Background(), globex["id"].(string), registry.AuditQuery{})
	require.NoError(t, err)
	assert.Empty(t, page.Events, "its audit events went with it")
	r = ts.do(req{method: http.MethodGet, path: ferniBase + "/" + acmeConn["id"].(string)})
	assert.Equal(t, http.StatusOK, r.status, "acme is untouched")
	assert.Len(t, admin(http.MethodGet, "/tenants", nil).json(t)["tenants"], 1)

	// The tenant's creation and deletion are operator events.
	op, err := registry.NewAuditLog(ts.store, nil).ListOperator(context.Background(), registry.AuditQuery{})
	require.NoError(t, err)
	require.Len(t, op.Events, 2)
	assert.Equal(t, registry.ActionTenantDeleted, op.Events[0].Action)
	assert.Equal(t, registry.Actor{Type: registry.ActorAdmin}, op.Events[0].Actor)
	assert.Equal(t, registry.ActionTenantCreated, op.Events[1].Action)
}

// TestExpiredKeyRefused: a key made with a short expiry works until then
// and is refused (401) from then on.
func TestExpiredKeyRefused(t *testing.T) {
	ts := newTestServer(t, withServer(withAdminKey))
	expires := time.Now().Add(1500 * time.Millisecond)
	r := ts.do(req{method: http.MethodPost, path: "/admin/v1/tenants/acme/keys", bearer: adminKey,
		body: map[string]any{"expires_at": expires.UTC().Format(time.RFC3339Nano)}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	key := r.json(t)["key"].(string)
	require.Equal(t, http.StatusOK, ts.do(req{method: http.MethodGet, path: ferniBase, key: key}).status)
	require.Eventually(t, func() bool {
		return ts.do(req{method: http.MethodGet, path: ferniBase, key: key}).status == http.StatusUnauthorized
	}, 30*time.Second, 50*time.Millisecond)
	assert.False(t, time.Now().Before(expires), "not refused before its expiry")
	r = ts.do(req{method: http.MethodGet, path: ferniBase, key: key})
	assert.Equal(t, "UNAUTHORIZED", r.ferniCode(t))
}
