package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/server"
)

// StillAuthorized answers, for a request /mcp is serving, whether its key
// still holds: true while it does, false once it is revoked (the gateway
// then ends the request's stream).
func TestStillAuthorized(t *testing.T) {
	var seen *http.Request
	var keys server.APIKeys
	ts := newTestServer(t, withServer(func(o *server.Options) {
		keys = o.Keys
		o.MCP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = r
			if !server.StillAuthorized(keys, r) {
				w.WriteHeader(http.StatusForbidden)
			}
		})
	}))
	key := ts.newKey("globex")
	r := ts.do(req{method: http.MethodPost, path: "/mcp", key: key, raw: []byte(`{}`)})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.NotNil(t, seen)
	assert.True(t, server.StillAuthorized(keys, seen))

	list, err := ts.keys.List(context.Background())
	require.NoError(t, err)
	for _, k := range list {
		if k.TenantName == "globex" {
			require.NoError(t, ts.keys.Revoke(context.Background(), k.ID))
		}
	}
	assert.False(t, server.StillAuthorized(keys, seen), "revoked")

	// The acme key's request holds; a request that never authenticated
	// does not.
	r = ts.do(req{method: http.MethodPost, path: "/mcp", raw: []byte(`{}`)})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.True(t, server.StillAuthorized(keys, seen))
	bare, err := http.NewRequest(http.MethodPost, "/mcp", nil)
	require.NoError(t, err)
	assert.False(t, server.StillAuthorized(keys, bare))
}
