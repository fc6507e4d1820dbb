package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditPage reads one page of the Feather audit API.
func (ts *testServer) auditPage(key string, query url.Values) (events []any, next any) {
	ts.t.Helper()
	r := ts.do(req{method: http.MethodGet, path: "/v1/integrations/audit?" + query.Encode(), key: key})
	require.Equal(ts.t, http.StatusOK, r.status, "%s", r.body)
	b := r.json(ts.t)
	return b["events"].([]any), b["next_cursor"]
}

// TestAuditAPI: each tenant sees its own events, newest first, with the
// key that made each change, paged by cursor, in both dialects; no
// response carries a planted secret.
func TestAuditAPI(t *testing.T) {
	ts := newTestServer(t)
	const planted = "sk-audit-planted-0123456789"
	srv := ts.ferniCreate(map[string]any{"name": "crm", "description": "CRM", "transport": "http", "endpoint": "https://mcp.example.com/mcp",
		"autoConnect": false, "headers": map[string]any{"X-Api-Key": "{{secrets.KEY}}"}, "secrets": map[string]any{"KEY": planted}})
	id := srv["id"].(string)
	r := ts.do(req{method: http.MethodPatch, path: featherBase + "/" + id, body: map[string]any{"nickname": "CRM (prod)"}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = ts.do(req{method: http.MethodPut, path: ferniBase + "/" + id, body: map[string]any{"secrets": map[string]any{"KEY": planted + "-2"}}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	gone := ts.ferniCreate(validFerni("gone"))
	require.Equal(t, http.StatusNoContent, ts.do(req{method: http.MethodDelete, path: featherBase + "/" + gone["id"].(string)}).status)
	otherKey := ts.newKey("other")
	other := ts.do(req{method: http.MethodPost, path: ferniBase, key: otherKey, body: validFerni("theirs")})
	require.Equal(t, http.StatusCreated, other.status)

	events, next := ts.auditPage("", nil)
	assert.Nil(t, next)
	// The acme key's own creation (by Import) comes first of all.
	require.Len(t, events, 6)
	var actions []any
	for _, e := range events {
		actions = append(actions, e.(map[string]any)["action"])
	}
	assert.Equal(t, []any{"connection.deleted", "connection.created", "connection.updated", "connection.updated", "connection.created", "apikey.created"}, actions)
	keys, err := ts.keys.List(context.Background())
	require.NoError(t, err)
	var acmeKeyID string
	for _, k := range keys {
		if k.TenantID == ts.tenant {
			acmeKeyID = k.ID
		}
	}
	rename := events[3].(map[string]any)
	assert.Equal(t, map[string]any{"type": "api_key", "key_id": acmeKeyID, "key_prefix": ts.key[:12]}, rename["actor"])
	assert.Equal(t, id, rename["target_id"])
	assert.Equal(t, id, rename["connection_id"])
	assert.Equal(t, map[string]any{"nickname": map[string]any{"from": "crm", "to": "CRM (prod)"}}, rename["changes"])
	assert.Equal(t, map[string]any{"secrets.KEY": map[string]any{"from": "set", "to": "set"}}, events[2].(map[string]any)["changes"])

	// Filtered by connection, paged one at a time.
	var paged []any
	q := url.Values{"connection_id": {id}, "limit": {"1"}}
	for range 10 {
		page, next := ts.auditPage("", q)
		paged = append(paged, page...)
		if next == nil {
			break
		}
		q.Set("cursor", next.(string))
	}
	require.Len(t, paged, 3)
	assert.Equal(t, events[2:5], paged)

	// Ferni: the same page in the envelope.
	r = ts.do(req{method: http.MethodGet, path: "/api/v2/developers/audit?limit=2"})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, true, r.json(t)["success"])
	data := r.data(t)
	assert.Equal(t, events[:2], data["events"])
	require.NotNil(t, data["next_cursor"])
	r = ts.do(req{method: http.MethodGet, path: "/api/v2/developers/audit?limit=2&cursor=" + data["next_cursor"].(string)})
	assert.Equal(t, events[2:4], r.data(t)["events"])

	// Since: an instant after everything so far.
	later := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	page, _ := ts.auditPage("", url.Values{"since": {later}})
	assert.Empty(t, page)

	// Tenant isolation: the other tenant sees its own two events, and
	// nothing of acme's connection even when it names it.
	theirs, _ := ts.auditPage(otherKey, nil)
	require.Len(t, theirs, 2)
	for _, e := range theirs {
		assert.NotEqual(t, id, e.(map[string]any)["target_id"])
	}
	none, _ := ts.auditPage(otherKey, url.Values{"connection_id": {id}})
	assert.Empty(t, none)

	// Bad input in each dialect's shape.
	r = ts.do(req{method: http.MethodGet, path: "/v1/integrations/audit?cursor=bogus"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "bad_request", r.json(t)["error"])
	r = ts.do(req{method: http.MethodGet, path: "/api/v2/developers/audit?cursor=bogus"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Equal(t, "VALIDATION_ERROR", r.ferniCode(t))
	assert.Equal(t, http.StatusUnprocessableEntity, ts.do(req{method: http.MethodGet, path: "/v1/integrations/audit?limit=0"}).status)
	assert.Equal(t, http.StatusUnprocessableEntity, ts.do(req{method: http.MethodGet, path: "/v1/integrations/audit?since=yesterday"}).status)
	assert.Equal(t, http.StatusUnauthorized, ts.do(req{method: http.MethodGet, path: "/v1/integrations/audit", noKey: true}).status)

	ts.assertNoLeak(planted)
}
