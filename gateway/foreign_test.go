package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/gateway"
	"github.com/tether-dev/tether/mcpclient"
	"github.com/tether-dev/tether/registry"
)

// A replica serves a session another replica opened (gateway/foreign.go)
// for the session's own tenant and persona only: another tenant, or
// another persona, holding the id gets 404 there too; and what the
// session's revision has not (subscriptions/listen) is refused there as on
// the replica holding it.
func TestForeignSessionIsItsTenantsOnly(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, envOptions{sessionKey: key})
	up := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})
	e.connect("globex", connOptions{name: "calc", transport: up.Transport(), endpoint: up.URL()})

	pool := mcpclient.NewPool(mcpclient.PoolOptions{Client: mcpclient.New(mcpclient.Options{Guard: e.guard()})})
	svc := registry.NewService(registry.Options{Store: e.store, Prober: pool})
	gw := gateway.New(gateway.Options{Registry: svc, SessionKey: key, Tenant: func(r *http.Request) (string, bool) {
		id := r.Header.Get(tenantHeader)
		return id, id != ""
	}})
	replica := httptest.NewServer(gw)
	t.Cleanup(func() { gw.Close(); replica.Close(); svc.Close(); pool.Close() })

	acme := e.agent(agentOptions{tenant: "acme"})
	require.NotEmpty(t, acme.ID())
	post := func(tenant, query, body string) (int, string) {
		resp := sessionRequest(t, replica.URL, query, http.MethodPost, tenant, acme.ID(), legacyVersion, body)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":2,"b":3}}}`
	status, body := post("acme", "", call)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"sum":5`, "the session's tenant is served on the other replica")

	status, body = post("globex", "", call)
	assert.Equal(t, http.StatusNotFound, status, body)
	status, body = post("acme", "?persona=ops", call)
	assert.Equal(t, http.StatusNotFound, status, body)

	status, body = post("acme", "", `{"jsonrpc":"2.0","id":"l1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`)
	assert.Contains(t, body, `"code":-32601`, "status %d", status)
}
