package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/oauthtest"
)

// cliOutput runs a tether subcommand in-process and returns its stdout.
func cliOutput(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), args, &out, io.Discard), "tether %s", strings.Join(args, " "))
	return out.String()
}

// jsonLines decodes JSON lines.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &v), "line %q", line)
		out = append(out, v)
	}
	return out
}

// TestAuditScopesAndAdminEndToEnd runs the real wiring: keys made by the
// CLI with a scope, an agent key that lists and calls tools through /mcp
// and REST but may not manage connections, the admin API behind
// --admin-key, and the audit log as `tether audit` prints it (the
// tenant's events, and the operator's keyring events), free of the
// planted secret.
func TestAuditScopesAndAdminEndToEnd(t *testing.T) {
	const planted = "sk-e2e-planted-secret-42"
	const adminKey = "adm_e2e_0123456789abcdef"
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback, func(c *Config) { c.AdminKey = adminKey; c.AuditRetention = 2160 * time.Hour })
	key := h.newKey("acme")
	agentKey := strings.TrimSpace(cliOutput(t, "apikey", "create", "--tenant", "acme", "--scope", "agent", "--db", h.dbPath))
	require.True(t, strings.HasPrefix(agentKey, "tth_"))

	r := ferniCreate(h, key, map[string]any{"name": "calc", "description": "calculator", "transport": "streamable_http",
		"endpoint": up.URL(), "headers": map[string]any{"X-Token": "{{secrets.TOKEN}}"}, "secrets": map[string]any{"TOKEN": planted}})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.json(t)["data"].(map[string]any)["id"].(string)
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodPost, path: "/api/v2/developers/mcp-servers/" + id + "/test", key: key}).status)

	// The agent key: tools through /mcp and REST; nothing else.
	s := agent(t, h, agentKey, "", nil)
	assert.Contains(t, toolNames(t, s), "calc_add")
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 2, "b": 3}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"sum": float64(5)}, res.StructuredContent)
	inv := h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/calc_add/invoke", key: agentKey, body: map[string]any{"input": map[string]any{"a": 1, "b": 1}}})
	require.Equal(t, http.StatusOK, inv.status, "%s", inv.body)
	del := h.do(req{method: http.MethodDelete, path: "/api/v2/developers/mcp-servers/" + id, key: agentKey})
	require.Equal(t, http.StatusForbidden, del.status, "%s", del.body)
	assert.Equal(t, http.StatusForbidden, h.do(req{method: http.MethodGet, path: "/v1/integrations/audit", key: agentKey}).status)
	assert.Equal(t, http.StatusOK, h.do(req{method: http.MethodGet, path: "/api/v2/developers/mcp-servers/" + id, key: key}).status, "still there")

	// An edit and a delete through the API, a key made by the admin API.
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodPut, path: "/api/v2/developers/mcp-servers/" + id, key: key,
		body: map[string]any{"secrets": map[string]any{"TOKEN": planted + "-rotated"}}}).status)
	ak := h.do(req{method: http.MethodPost, path: "/admin/v1/tenants/acme/keys", key: adminKey, bearer: true, body: map[string]any{"scope": "agent"}})
	require.Equal(t, http.StatusCreated, ak.status, "%s", ak.body)
	require.Equal(t, http.StatusOK, h.do(req{method: http.MethodDelete, path: "/api/v2/developers/mcp-servers/" + id, key: key}).status)

	// tether audit --tenant: JSON lines, newest first.
	lines := jsonLines(t, cliOutput(t, "audit", "--tenant", "acme", "--db", h.dbPath))
	var got []string
	for _, l := range lines {
		got = append(got, l["action"].(string)+" by "+l["actor"].(map[string]any)["type"].(string))
	}
	assert.Equal(t, []string{
		"connection.deleted by api_key", "apikey.created by admin", "connection.updated by api_key",
		"connection.created by api_key", "apikey.created by cli", "apikey.created by cli",
	}, got)
	assert.Equal(t, id, lines[0]["target_id"])
	assert.Equal(t, key[:12], lines[0]["actor"].(map[string]any)["key_prefix"])
	assert.Equal(t, map[string]any{"from": "set", "to": "set"}, lines[2]["changes"].(map[string]any)["secrets.TOKEN"])
	// The API shows the same events.
	api := h.do(req{method: http.MethodGet, path: "/v1/integrations/audit", key: key}).json(t)["events"].([]any)
	require.Len(t, api, len(lines))
	for i, e := range api {
		assert.Equal(t, lines[i]["id"], e.(map[string]any)["id"])
	}
	assert.Empty(t, strings.TrimSpace(cliOutput(t, "audit", "--tenant", "acme", "--since", time.Now().Add(time.Hour).Format(time.RFC3339), "--db", h.dbPath)))
	assert.Len(t, jsonLines(t, cliOutput(t, "audit", "--tenant", "acme", "--limit", "2", "--db", h.dbPath)), 2)
	require.Error(t, runCLI(t, "audit", "--db", h.dbPath), "--tenant or --operator")
	require.Error(t, runCLI(t, "audit", "--tenant", "nobody", "--db", h.dbPath))

	// Keyring rotation is an operator event, absent from the tenant's log.
	cliOutput(t, "keys", "rotate", "--db", h.dbPath)
	op := jsonLines(t, cliOutput(t, "audit", "--operator", "--db", h.dbPath))
	require.Len(t, op, 1)
	assert.Equal(t, "keyring.rotated", op[0]["action"])
	assert.Equal(t, "cli", op[0]["actor"].(map[string]any)["type"])
	assert.Len(t, jsonLines(t, cliOutput(t, "audit", "--tenant", "acme", "--db", h.dbPath)), len(lines))

	// apikey list shows scopes.
	var scopes []any
	for _, k := range jsonLines(t, cliOutput(t, "apikey", "list", "--db", h.dbPath)) {
		scopes = append(scopes, k["scope"])
	}
	assert.Equal(t, []any{"admin", "agent", "agent"}, scopes)

	all := cliOutput(t, "audit", "--tenant", "acme", "--db", h.dbPath) + cliOutput(t, "audit", "--operator", "--db", h.dbPath)
	assert.NotContains(t, all, planted)
	h.assertNoLeak(planted)
}

// TestOAuthAudit: an OAuth connection's authorization is recorded as the
// work of the key that started it (the callback carries no key), a
// refused refresh as tether's own, a re-authorization and a failed
// authorization as what they are; no token shows in any event.
func TestOAuthAudit(t *testing.T) {
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/meta/resource", Advertise: true, ChallengeScopes: []string{"mcp:tools"}})
	h := startOAuthTether(t, clock, allowLoopback)
	key := h.newKey("acme")
	events := func() []map[string]any {
		return jsonLines(t, cliOutput(t, "audit", "--tenant", "acme", "--db", h.dbPath))
	}

	id, authorizeURL, _ := oauthConnect(t, h, key, "Files", rs.URL, nil)
	back := oauthtest.Consent(t, authorizeURL)
	require.Equal(t, http.StatusOK, oauthVisit(t, h, oauthBrowser, back.String()).status)
	waitToolsStatus(t, h, key, id, "synced")
	ev := events()
	require.Equal(t, "oauth.completed", ev[0]["action"])
	assert.Equal(t, "api_key", ev[0]["actor"].(map[string]any)["type"], "the key that started the flow")
	assert.Equal(t, key[:12], ev[0]["actor"].(map[string]any)["key_prefix"])
	changes := ev[0]["changes"].(map[string]any)
	assert.Equal(t, map[string]any{"from": "pending_oauth", "to": "active"}, changes["status"])
	assert.Equal(t, map[string]any{"from": "set", "to": "set"}, changes["oauth"], "the tokens, as set")
	assert.Equal(t, "connection.created", ev[1]["action"])

	// A refused refresh: tether moves the row, as itself.
	as.SetRefuseRefresh(true)
	clock.Advance(time.Hour)
	res := ferniTest(t, h, key, id)
	require.Equal(t, false, res["connected"])
	ev = events()
	require.Equal(t, "connection.updated", ev[0]["action"])
	assert.Equal(t, map[string]any{"type": "system", "key_id": nil, "key_prefix": nil}, ev[0]["actor"])
	assert.Equal(t, map[string]any{"from": "active", "to": "reauth_required"}, ev[0]["changes"].(map[string]any)["status"])
	as.SetRefuseRefresh(false)

	// Re-authorize, and the user declines at the server.
	r := h.do(req{method: http.MethodPost, path: featherBase + "/" + id + "/reauthorize", key: key})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	back = oauthtest.Consent(t, r.json(t)["authorize_url"].(string))
	q := back.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	back.RawQuery = q.Encode()
	require.Equal(t, http.StatusOK, oauthVisit(t, h, oauthBrowser, back.String()).status)
	ev = events()
	require.Equal(t, "oauth.failed", ev[0]["action"])
	assert.Equal(t, "api_key", ev[0]["actor"].(map[string]any)["type"])
	assert.Equal(t, map[string]any{"from": "pending_oauth", "to": "error"}, ev[0]["changes"].(map[string]any)["status"])
	require.Equal(t, "connection.reauthorized", ev[1]["action"])
	assert.Equal(t, map[string]any{"from": "reauth_required", "to": "pending_oauth"}, ev[1]["changes"].(map[string]any)["status"])

	out := cliOutput(t, "audit", "--tenant", "acme", "--db", h.dbPath)
	for _, s := range as.SecretValues() {
		assert.NotContains(t, out, s)
	}
}
