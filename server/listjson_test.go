package server

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gen"
)

// The Ferni list is written by its own encoder; it must answer exactly
// what the generated response would, byte for byte: a field added to the
// schema, or an escaping rule that differs, fails here.
func TestFerniListEncodesLikeTheGeneratedCode(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 57, 54, 123e6, time.UTC)
	later := now.Add(90 * time.Minute).In(time.FixedZone("X", 3600))
	str := func(s string) *string { return &s }
	resp := gen.ListMcpServers200JSONResponse{
		Success: true,
		Data: []gen.McpServer{
			{
				Id: "00000000-0000-4000-8000-000000000001", Name: "crm-tools", Description: `<b>"CRM"</b> & co — ünïcode \ 	tab`,
				Status: "active", Transport: "http", Endpoint: str("https://mcp.example.com/mcp?a=1&b=<2>"),
				Headers:     map[string]string{"X-Key": "{{secrets.K}}", "Authorization": "********", "A-First": "Bearer {{ secrets.token }}"},
				HasSecrets:  true,
				SecretNames: []string{"K", "token"},
				AutoConnect: true, Enabled: true, Timeout: 30000, PersonaId: str("persona-1"), ToolCount: 7,
				LastConnected: &later, LastError: str("dial tcp: refused\n"), ConnectedTransport: str("streamable_http"),
				CreatedAt: now, UpdatedAt: later,
			},
			{
				Id: "00000000-0000-4000-8000-000000000002", Name: "local", Status: "disabled", Transport: "stdio",
				Command: str("node"), Args: &[]string{"server.js", "--flag=<x>"},
				Headers: map[string]string{}, SecretNames: []string{},
				Timeout: 1000, CreatedAt: now, UpdatedAt: now,
			},
		},
		Pagination: gen.Pagination{Total: 1234, Limit: 50, Offset: 100},
	}

	want := httptest.NewRecorder()
	require.NoError(t, resp.VisitListMcpServersResponse(want))
	got := httptest.NewRecorder()
	require.NoError(t, ferniList(resp).VisitListMcpServersResponse(got))

	assert.Equal(t, want.Code, got.Code)
	assert.Equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"))
	assert.Equal(t, strconv.Itoa(want.Body.Len()), got.Header().Get("Content-Length"))
	assert.Equal(t, want.Body.String(), got.Body.String())
}
