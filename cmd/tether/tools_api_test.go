package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRESTToolAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, on func(*Config)) {
		up := newUpstream(t, false)
		upSSE := newUpstream(t, true)
		h := startTether(t, on, allowLoopback)
		key := h.newKey("acme")
		calc := featherConnection(t, h, key, up.URL())
		r := featherConnect(h, key, map[string]any{"nickname": "Legacy", "server_url": upSSE.URL(), "transport": "sse"})
		require.Equal(t, http.StatusCreated, r.status)
		legacy := r.json(t)["connection_id"].(string)
		waitToolsStatus(t, h, key, legacy, "synced")

		list := h.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: key}).list(t)
		require.Len(t, list, 2*upstreamTools, "tools of both connections, over both transports")
		first := list[0].(map[string]any)
		assert.Equal(t, "calc_add", first["slug"])
		assert.Equal(t, calc, first["connection_id"])
		assert.Equal(t, true, first["is_callable"])

		invoke := func(key, slug string, input map[string]any, query string) response {
			body := map[string]any{}
			if input != nil {
				body["input"] = input
			}
			return h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/" + slug + "/invoke" + query, key: key, body: body})
		}
		r = invoke(key, "legacy_add", map[string]any{"a": 2, "b": 3}, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, map[string]any{"sum": float64(5)}, r.json(t)["result"].(map[string]any)["structuredContent"])
		assert.Equal(t, r.json(t)["result"], r.json(t)["narrowed"], "no field map: narrowed is the result")

		// A field map narrows; pins and defaults apply.
		c := h.do(req{method: http.MethodGet, path: featherBase + "/" + calc, key: key}).json(t)
		profile := toolBySlug(c, "calc_profile")["id"].(string)
		add := toolBySlug(c, "calc_add")["id"].(string)
		r = h.do(req{method: http.MethodPatch, path: featherBase + "/" + calc + "/tools/" + profile, key: key, body: map[string]any{
			"response_field_map": map[string]any{"field_mappings": []any{map[string]any{"path": "user.email"}, map[string]any{"path": "plan", "as": "tier"}}},
		}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = invoke(key, "calc_profile", nil, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		assert.Equal(t, map[string]any{"email": "ada@example.com", "tier": "pro"}, r.json(t)["narrowed"])

		r = h.do(req{method: http.MethodPatch, path: featherBase + "/" + calc + "/tools/" + add, key: key, body: map[string]any{
			"input_defaults": map[string]any{"b": map[string]any{"value": 100, "type": "pinned"}, "a": map[string]any{"value": 1}},
		}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		listed := h.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: key}).list(t)
		schema := listed[0].(map[string]any)["input_schema"].(map[string]any)
		assert.NotContains(t, schema["properties"], "b", "a pinned field is not advertised")
		assert.NotContains(t, schema["required"], "a", "a defaulted field is optional")
		sum := func(r response) any {
			return r.json(t)["result"].(map[string]any)["structuredContent"].(map[string]any)["sum"]
		}
		assert.Equal(t, float64(101), sum(invoke(key, "calc_add", map[string]any{}, "")))
		assert.Equal(t, float64(105), sum(invoke(key, "calc_add", map[string]any{"a": 5, "b": 1}, "")), "the pin wins over the caller")

		// Unknown 404, disabled 400.
		r = invoke(key, "calc_nope", nil, "")
		assert.Equal(t, http.StatusNotFound, r.status)
		assert.Equal(t, "not_found", r.json(t)["error"])
		require.Equal(t, http.StatusOK, h.do(req{method: http.MethodPatch, path: featherBase + "/" + calc + "/tools/" + add, key: key, body: map[string]any{"is_enabled": false}}).status)
		r = invoke(key, "calc_add", nil, "")
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "tool_unavailable", r.json(t)["error"])
		listed = h.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: key}).list(t)
		assert.Equal(t, false, listed[0].(map[string]any)["is_enabled"])

		// A tool error is a result.
		r = invoke(key, "calc_fail", nil, "")
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, true, r.json(t)["result"].(map[string]any)["isError"])

		// Tenant isolation: another tenant sees nothing and cannot call.
		other := h.newKey("other")
		assert.Empty(t, h.do(req{method: http.MethodGet, path: "/v1/integrations/tools", key: other}).list(t))
		assert.Equal(t, http.StatusNotFound, invoke(other, "calc_echo", map[string]any{"text": "x"}, "").status)

		// Call records: newest first, with outcomes.
		var calls []any
		require.Eventually(t, func() bool {
			calls = h.do(req{method: http.MethodGet, path: featherBase + "/" + calc + "/calls?limit=10", key: key}).list(t)
			return len(calls) >= 5
		}, 5*time.Second, 20*time.Millisecond)
		newest := calls[0].(map[string]any)
		assert.Equal(t, "calc_fail", newest["slug"])
		assert.Equal(t, "tool_error", newest["outcome"])
		assert.Equal(t, "rest", newest["via"])
		refused := calls[1].(map[string]any)
		assert.Equal(t, "refused", refused["outcome"])
		assert.NotEmpty(t, refused["error"])
		assert.NotNil(t, h.do(req{method: http.MethodGet, path: featherBase + "/" + calc, key: key}).json(t)["last_used_at"])
		assert.Equal(t, http.StatusNotFound, h.do(req{method: http.MethodGet, path: featherBase + "/" + calc + "/calls", key: other}).status)
	})
}

func TestRESTInvokeTimeoutAndPersona(t *testing.T) {
	up := newUpstream(t, false)
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	slow := ferniServer(t, h, key, "slow", up.URL(), map[string]any{"timeout": 1000})
	require.Equal(t, true, ferniTest(t, h, key, slow)["connected"])
	scoped := ferniServer(t, h, key, "scoped", up.URL(), map[string]any{"personaId": "p1"})
	require.Equal(t, true, ferniTest(t, h, key, scoped)["connected"])

	// A hanging call does not hold up others on the same connection: a
	// call that can only end when its client gives up (a 10-minute sleep
	// under a 2-minute timeout) is in flight while another is answered.
	// No clock is read: the hanging call cannot end by itself, however
	// slow the machine.
	hang := ferniServer(t, h, key, "hang", up.URL(), map[string]any{"timeout": 120000})
	require.Equal(t, true, ferniTest(t, h, key, hang)["connected"])
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hung := make(chan error, 1)
	go func() {
		rq, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/integrations/tools/hang_sleep/invoke",
			strings.NewReader(`{"input":{"ms":600000}}`))
		if err != nil {
			hung <- err
			return
		}
		rq.Header.Set("Content-Type", "application/json")
		rq.Header.Set("x-api-key", key)
		resp, err := h.httpClient().Do(rq)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("answered %d", resp.StatusCode)
		}
		hung <- err
	}()
	for range 3 {
		fast := h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/hang_add/invoke", key: key, body: map[string]any{"input": map[string]any{"a": 1, "b": 1}}})
		assert.Equal(t, http.StatusOK, fast.status, "%s", fast.body)
		select {
		case err := <-hung:
			t.Fatalf("the hanging call ended by itself: %v", err)
		default:
		}
	}
	cancel()
	assert.ErrorIs(t, <-hung, context.Canceled)

	// A call over its connection's timeout: 504, named as a timeout.
	start := time.Now()
	r := h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/slow_sleep/invoke", key: key, body: map[string]any{"input": map[string]any{"ms": 10000}}})
	t.Logf("the timed-out call answered after %v", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, http.StatusGatewayTimeout, r.status, "%s", r.body)
	assert.Equal(t, "upstream_timeout", r.json(t)["error"])
	assert.Contains(t, r.json(t)["message"], "1000ms")

	// Persona filter: p2 sees only connections for every persona.
	slugs := func(query string) []string {
		var out []string
		for _, tl := range h.do(req{method: http.MethodGet, path: "/v1/integrations/tools" + query, key: key}).list(t) {
			out = append(out, tl.(map[string]any)["slug"].(string))
		}
		return out
	}
	assert.Contains(t, slugs("?persona=p1"), "scoped_add")
	assert.NotContains(t, slugs("?persona=p2"), "scoped_add")
	assert.Contains(t, slugs("?persona=p2"), "slow_add")
	r = h.do(req{method: http.MethodPost, path: "/v1/integrations/tools/scoped_add/invoke?persona=p2", key: key, body: map[string]any{"input": map[string]any{"a": 1, "b": 1}}})
	assert.Equal(t, http.StatusNotFound, r.status, "a persona cannot call outside its view")
}
