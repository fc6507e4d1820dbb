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
