package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// The cache hint of a server's last tool list (ttlMs) is shown in both
// dialects, in a get and a list: Ferni toolsTtlMs, Feather
// metadata.tools_ttl_ms; a server without one shows none, and a failed
// probe drops it.
func TestToolsTTLIsShown(t *testing.T) {
	ts := newTestServer(t)
	id := ts.ferniCreate(validFerni("calc"))["id"].(string)
	probe := func() {
		t.Helper()
		r := ts.do(req{method: http.MethodPost, path: ferniBase + "/" + id + "/test"})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	}
	shown := func() (ferni, ferniListed, feather, featherListed any) {
		t.Helper()
		ferni = ts.do(req{method: http.MethodGet, path: ferniBase + "/" + id}).data(t)["toolsTtlMs"]
		ferniListed = ts.do(req{method: http.MethodGet, path: ferniBase}).json(t)["data"].([]any)[0].(map[string]any)["toolsTtlMs"]
		meta := ts.do(req{method: http.MethodGet, path: featherBase + "/" + id}).json(t)["metadata"].(map[string]any)
		listed := ts.do(req{method: http.MethodGet, path: featherBase}).list(t)[0].(map[string]any)["metadata"].(map[string]any)
		return ferni, ferniListed, meta["tools_ttl_ms"], listed["tools_ttl_ms"]
	}

	probe()
	a, b, c, d := shown()
	assert.Nil(t, a, "no hint: none shown")
	assert.Nil(t, b)
	assert.Nil(t, c)
	assert.Nil(t, d)

	ts.prober.SetToolsTTL(90 * time.Second)
	probe()
	a, b, c, d = shown()
	assert.Equal(t, float64(90000), a)
	assert.Equal(t, float64(90000), b)
	assert.Equal(t, float64(90000), c)
	assert.Equal(t, float64(90000), d)

	ts.prober.Fail(fmt.Errorf("%w: connection refused", registry.ErrUpstreamConnection))
	probe()
	a, _, c, _ = shown()
	assert.Nil(t, a, "a failed probe drops the hint")
	assert.Nil(t, c)
}
