package gateway_test

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
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/registry"
)

// Tool calls are served in front of the SDK, whose own idle timer never
// sees them: the handler's sweep must count them as activity, and close a
// session that made none.
func TestIdleSessionsClosedBusyOnesKept(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	e := newEnv(t, envOptions{sessionTimeout: timeout})
	calc := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})

	idle := e.agent(agentOptions{tenant: "acme"})
	busy := e.agent(agentOptions{tenant: "acme"})
	require.Equal(t, 2, e.gw.Stats().Sessions)

	// The busy agent calls a tool without pause for well over the timeout.
	before := e.gw.Stats().FastRequests
	deadline := time.Now().Add(2 * timeout)
	for time.Now().Before(deadline) {
		res := callTool(t, busy, "calc_add", map[string]any{"a": 1, "b": 2})
		require.False(t, res.IsError, text(res))
	}
	assert.Greater(t, e.gw.Stats().FastRequests, before)
	eventually(t, func() bool { return e.gw.Stats().Sessions == 1 }, "the idle session is closed")

	// The busy one is still there; the idle one is gone for good.
	res := callTool(t, busy, "calc_add", map[string]any{"a": 2, "b": 2})
	assert.False(t, res.IsError, text(res))
	_, err := idle.CallTool(context.Background(), &mcp.CallToolParams{Name: "calc_add", Arguments: map[string]any{"a": 1, "b": 1}})
	assert.Error(t, err)
}

// calcAgent is a gateway with tenant acme's "calc" upstream and an agent
// session that lists its tools.
func calcAgent(t *testing.T) (*env, *mcp.ClientSession) {
	e := newEnv(t, envOptions{})
	calc := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})
	cs := e.agent(agentOptions{tenant: "acme"})
	require.NotEmpty(t, toolNames(t, cs))
	return e, cs
}

// rawPost posts body to the gateway's /mcp as tenant acme with the given
// headers, and returns the status and body of the answer.
func (e *env) rawPost(t *testing.T, hdr map[string]string, body string) (int, string) {
	t.Helper()
	resp, b := e.rawPostResponse(t, hdr, body)
	return resp.StatusCode, b
}

// rawPostResponse is rawPost returning the whole response (its body read).
func (e *env) rawPostResponse(t *testing.T, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/mcp", bytes.NewBufferString(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(tenantHeader, "acme")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// A result larger than net/http's response buffer is sent whole, with its
// length (not chunked), and arrives intact.
func TestFastPathSendsLargeResultsWithTheirLength(t *testing.T) {
	t.Parallel()
	e, cs := calcAgent(t)
	before := e.gw.Stats().FastRequests

	text := strings.Repeat("tether ", 3000) // 21 KB
	resp, body := e.rawPostResponse(t, map[string]string{"Accept": "application/json, text/event-stream",
		"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": legacyVersion},
		`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"calc_echo","arguments":{"text":"`+text+`"}}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, before+1, e.gw.Stats().FastRequests)
	assert.Empty(t, resp.TransferEncoding, "not chunked")
	assert.Equal(t, int64(len(body)), resp.ContentLength)
	assert.Contains(t, body, text)
}

// What the fast path does not take goes to the SDK, which answers it as
// before: here a tools/call without the Accept header the transport
// requires, refused by the SDK, and a JSON-RPC batch.
func TestRequestsOutsideTheFastPathReachTheSDK(t *testing.T) {
	t.Parallel()
	e, cs := calcAgent(t)
	before := e.gw.Stats().FastRequests

	hdr := func(accept string) map[string]string {
		return map[string]string{"Accept": accept, "Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": legacyVersion}
	}
	call := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":1,"b":2}}}`
	status, _ := e.rawPost(t, hdr("application/json"), call)
	assert.Equal(t, http.StatusBadRequest, status, "the SDK requires both media types")
	status, body := e.rawPost(t, hdr("application/json, text/event-stream"), "["+call+"]")
	assert.Equal(t, http.StatusBadRequest, status, "batches are refused from 2025-06-18 on: %s", body)
	unknown := hdr("application/json, text/event-stream")
	unknown["Mcp-Protocol-Version"] = "1999-01-01"
	status, body = e.rawPost(t, unknown, call)
	assert.Equal(t, http.StatusBadRequest, status, "the SDK refuses a version it does not speak: %s", body)
	assert.Equal(t, before, e.gw.Stats().FastRequests)

	status, body = e.rawPost(t, hdr("application/jsonx, text/event-stream"), call)
	assert.Equal(t, http.StatusBadRequest, status, "the SDK wants application/json itself: %s", body)
	assert.Equal(t, before, e.gw.Stats().FastRequests)

	// A 2026-07-28 call without its client capabilities in _meta.
	stateless := map[string]string{"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": newVersion,
		"Mcp-Method": "tools/call", "Mcp-Name": "calc_add"}
	status, body = e.rawPost(t, stateless, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"calc_add","arguments":{"a":1,"b":2},`+
		`"_meta":{"io.modelcontextprotocol/protocolVersion":"`+newVersion+`"}}}`)
	assert.Contains(t, body, "clientCapabilities", "the SDK refuses it (status %d)", status)
	assert.Equal(t, before, e.gw.Stats().FastRequests)

	status, body = e.rawPost(t, hdr("application/json, text/event-stream"), call)
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"{\"sum\":3}"}],"structuredContent":{"sum":3}}}`, body)
	assert.Equal(t, before+1, e.gw.Stats().FastRequests)
}

// The fast path answers what the SDK answers. "Accept: */*" satisfies the
// SDK but not the fast path, which wants the media types spelled out, so
// the same request reaches one or the other.
func TestFastPathAnswersAsTheSDK(t *testing.T) { forEachVersion(t, testFastPathAnswersAsTheSDK) }

func testFastPathAnswersAsTheSDK(t *testing.T, version string) {
	e := newEnv(t, envOptions{})
	calc := newUpstream(t, "calc", false)
	e.connect("acme", connOptions{name: "calc", transport: calc.Transport(), endpoint: calc.URL()})
	asker := mcptest.NewAsking(t)
	e.connect("acme", connOptions{name: "asker", transport: registry.TransportHTTP, endpoint: asker.URL})
	hdr := map[string]string{"Mcp-Protocol-Version": version}
	meta := ""
	if version >= newVersion {
		meta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"` + version + `","io.modelcontextprotocol/clientCapabilities":{}}`
	} else {
		cs := e.agent(agentOptions{tenant: "acme", version: version})
		hdr["Mcp-Session-Id"] = cs.ID()
	}
	params := func(fields string) string {
		switch {
		case meta == "":
			return "{" + fields + "}"
		case fields == "":
			return "{" + meta + "}"
		}
		return "{" + fields + "," + meta + "}"
	}
	requests := []struct{ method, name, params string }{
		{"tools/list", "", params("")},
		{"tools/call", "calc_add", params(`"name":"calc_add","arguments":{"a":2,"b":3}`)},
		{"tools/call", "calc_echo", params(`"name":"calc_echo","arguments":{"text":"hi"}`)},
		{"tools/call", "calc_nope", params(`"name":"calc_nope","arguments":{}`)},
		{"tools/call", "calc_add", params(`"name":"calc_add","arguments":{"a":"two"}`)},
		{"tools/call", "calc_add", params(`"name":"calc_add","arguments":[1]`)},
		// input required: an isError result naming the input before
		// 2026-07-28, the input requests and a sealed state from then on
		{"tools/call", "asker_demand", params(`"name":"asker_demand","arguments":{}`)},
	}
	for _, rq := range requests {
		t.Run(rq.method+" "+rq.name, func(t *testing.T) {
			if version >= newVersion {
				hdr["Mcp-Method"] = rq.method
				hdr["Mcp-Name"] = rq.name
			}
			body := `{"jsonrpc":"2.0","id":"q","method":"` + rq.method + `","params":` + rq.params + `}`
			before := e.gw.Stats().FastRequests
			hdr["Accept"] = "*/*"
			sdkStatus, viaSDK := e.rawPost(t, hdr, body)
			require.Equal(t, before, e.gw.Stats().FastRequests, "the SDK served it")
			hdr["Accept"] = "application/json, text/event-stream"
			fastStatus, viaFast := e.rawPost(t, hdr, body)
			require.Equal(t, before+1, e.gw.Stats().FastRequests, "the fast path served it")
			assert.Equal(t, sdkStatus, fastStatus)
			sdk, fast := decodeAnswer(t, viaSDK), decodeAnswer(t, viaFast)
			sdkResult, _ := sdk["result"].(map[string]any)
			fastResult, _ := fast["result"].(map[string]any)
			if _, set := sdkResult["resultType"]; !set && fastResult["resultType"] == "complete" {
				// A result without one is complete (SEP-2322); the SDK
				// leaves it out of the answers of calls its middleware
				// serves (an unlisted tool's: unknownTools).
				delete(fastResult, "resultType")
			}
			for _, res := range []map[string]any{sdkResult, fastResult} {
				if _, sealed := res["requestState"].(string); sealed {
					res["requestState"] = "(sealed afresh each time)"
				}
			}
			assert.Equal(t, sdk, fast)
		})
	}
}

// decodeAnswer decodes a JSON-RPC answer.
func decodeAnswer(t *testing.T, answer string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(answer), &m), answer)
	return m
}
