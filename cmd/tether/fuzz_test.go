package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/internal/syncbuf"
)

// The fuzz targets send arbitrary bytes as the JSON body of the write
// routes of both dialects to one real tether (started once per target, not
// per input) and check what comes back: never a 5xx, always JSON in the
// dialect's success or error shape, always a response openapi.yaml allows,
// and no secret value from the request echoed in the response. `go test`
// runs the seeds; `make soak` fuzzes for minutes:
//
//	go test -run '^$' -fuzz FuzzFerniCreate -fuzztime 2m ./cmd/tether/

// fuzzKey is the bootstrap API key of the fuzz targets' tether.
const fuzzKey = "tth_fuzz_only_0123456789abcdef"

// fuzzTarget is one running tether shared by every input of a fuzz target.
type fuzzTarget struct {
	m      *Main
	base   string
	client *http.Client
	seq    atomic.Int64 // for unique names across inputs
}

// startFuzzTether runs tether for the whole fuzz target; mods adjust the
// Config. Logs are discarded: a fuzz worker runs for minutes and must not
// accumulate them.
func startFuzzTether(f *testing.F, mods ...func(*Config)) *fuzzTarget {
	f.Helper()
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DB:              filepath.Join(f.TempDir(), "tether.db"),
		BootstrapAPIKey: fuzzKey,
		ShutdownTimeout: 5 * time.Second,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	m := &Main{Config: cfg}
	require.NoError(f, m.Run(context.Background()))
	f.Cleanup(func() { _ = m.Close() })
	// A client timeout turns a request that hangs into a failure.
	return &fuzzTarget{m: m, base: "http://" + m.Addr, client: &http.Client{Timeout: 30 * time.Second}}
}

// harness returns a harness for one input: same server, fresh record of
// bodies (so nothing accumulates across inputs), failures reported on t.
func (ft *fuzzTarget) harness(t *testing.T) *harness {
	return &harness{t: t, m: ft.m, base: ft.base, logs: &syncbuf.Buffer{}}
}

// send sends body as application/json with the fuzz key and validates the
// response against openapi.yaml.
func (ft *fuzzTarget) send(t *testing.T, method, path string, body []byte) response {
	t.Helper()
	httpReq, err := http.NewRequest(method, ft.base+path, bytes.NewReader(body))
	require.NoError(t, err)
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("x-api-key", fuzzKey)
	resp, err := ft.client.Do(httpReq)
	require.NoError(t, err, "%s %s", method, path)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	ft.harness(t).validate(method, path, body, resp, got)
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

// mustSend is send with a JSON value, for setup and clean-up requests,
// which must get want.
func (ft *fuzzTarget) mustSend(t testing.TB, method, path string, body any, want int) response {
	t.Helper()
	var payload []byte
	if body != nil {
		var err error
		payload, err = json.Marshal(body)
		require.NoError(t, err)
	}
	httpReq, err := http.NewRequest(method, ft.base+path, bytes.NewReader(payload))
	require.NoError(t, err)
	httpReq.Header.Set("x-api-key", fuzzKey)
	if payload != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	resp, err := ft.client.Do(httpReq)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, path, got)
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

// checkResponse asserts what every answer to a fuzzed body must satisfy.
func checkResponse(t *testing.T, method, path string, body []byte, r response) {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("%s %s answered %d for body %q:\n%s", method, path, r.status, body, r.body)
	}
	if r.status == http.StatusNoContent {
		if len(r.body) != 0 {
			t.Fatalf("%s %s: 204 with a body: %s", method, path, r.body)
		}
		return
	}
	if ct := strings.Split(r.header.Get("Content-Type"), ";")[0]; ct != "application/json" {
		t.Fatalf("%s %s → %d with Content-Type %q: %s", method, path, r.status, ct, r.body)
	}
	// UseNumber: a 422 echoes the input as sent, and JSON numbers such as
	// 1e400 are valid JSON that float64 cannot hold.
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		t.Fatalf("%s %s → %d: body is not one JSON value (%v): %s", method, path, r.status, err, r.body)
	}
	if dialectOfPath(path) == "ferni" {
		checkFerniShape(t, r, v)
	} else {
		checkFeatherShape(t, r, v)
	}
	for _, s := range secretValues(body) {
		if bytes.Contains(r.body, []byte(s)) || bytes.Contains(r.body, jsonString(s)) {
			t.Fatalf("%s %s → %d echoes the secret value %q: %s", method, path, r.status, s, r.body)
		}
	}
}

func checkFerniShape(t *testing.T, r response, v any) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("Ferni %d: body is not an object: %s", r.status, r.body)
	}
	success, ok := obj["success"].(bool)
	if !ok {
		t.Fatalf("Ferni %d: no boolean success: %s", r.status, r.body)
	}
	if ok2xx := r.status >= 200 && r.status < 300; success != ok2xx {
		t.Fatalf("Ferni %d with success %v: %s", r.status, success, r.body)
	}
	if success {
		if _, ok := obj["data"]; !ok {
			t.Fatalf("Ferni %d: success without data: %s", r.status, r.body)
		}
		return
	}
	if r.status == http.StatusUnprocessableEntity {
		t.Fatalf("Ferni answers schema violations with 400 VALIDATION_ERROR, not 422: %s", r.body)
	}
	e, ok := obj["error"].(map[string]any)
	if !ok {
		t.Fatalf("Ferni %d: no error object: %s", r.status, r.body)
	}
	if code, _ := e["code"].(string); code == "" {
		t.Fatalf("Ferni %d: empty error code: %s", r.status, r.body)
	}
	if _, ok := e["message"].(string); !ok {
		t.Fatalf("Ferni %d: no error message: %s", r.status, r.body)
	}
}

func checkFeatherShape(t *testing.T, r response, v any) {
	t.Helper()
	if r.status >= 200 && r.status < 300 {
		return // success bodies are checked against openapi.yaml
	}
	obj, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("Feather %d: error body is not an object: %s", r.status, r.body)
	}
	if detail, ok := obj["detail"]; ok {
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("Feather %d with a detail list (only 422 has one): %s", r.status, r.body)
		}
		items, ok := detail.([]any)
		if !ok || len(items) == 0 {
			t.Fatalf("Feather 422: detail is not a non-empty list: %s", r.body)
		}
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				t.Fatalf("Feather 422: detail item is not an object: %s", r.body)
			}
			loc, _ := m["loc"].([]any)
			typ, _ := m["type"].(string)
			msg, _ := m["msg"].(string)
			if len(loc) == 0 || typ == "" || msg == "" {
				t.Fatalf("Feather 422: detail item without loc, type or msg: %s", r.body)
			}
		}
		return
	}
	if code, _ := obj["error"].(string); code == "" {
		t.Fatalf("Feather %d: ErrorResponse without error: %s", r.status, r.body)
	}
	if _, ok := obj["message"].(string); !ok {
		t.Fatalf("Feather %d: ErrorResponse without message: %s", r.status, r.body)
	}
}

// secretValues returns the secret values a request body carries (Feather
// token, api_key and oauth_client_secret; Ferni secrets), when they are
// distinctive enough to look for in a response: at least 16 bytes, and
// found nowhere else in the request.
func secretValues(body []byte) []string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return nil
	}
	var out []string
	add := func(v any) {
		s, ok := v.(string)
		if !ok || len(s) < 16 || bytes.Count(body, jsonString(s)) != 1 {
			return
		}
		out = append(out, s)
	}
	for _, k := range []string{"token", "api_key", "oauth_client_secret"} {
		add(obj[k])
	}
	if secrets, ok := obj["secrets"].(map[string]any); ok {
		for _, v := range secrets {
			add(v)
		}
	}
	return out
}

// jsonString is s as a JSON string literal without the quotes.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return bytes.Trim(b, `"`)
}

// idOfCreated returns the id of the connection a 201 created, in either
// dialect, or "".
func idOfCreated(r response) string {
	if r.status != http.StatusCreated {
		return ""
	}
	var v struct {
		ConnectionID string `json:"connection_id"`
		Data         struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(r.body, &v) != nil {
		return ""
	}
	if v.ConnectionID != "" {
		return v.ConnectionID
	}
	return v.Data.ID
}

// The seeds' endpoints are under .invalid (RFC 2606): accepted by the URL
// policy, never resolved, so the probes that valid creates start in the
// background stay off the network.

// commonSeeds are bodies every route gets: not JSON, the wrong JSON types,
// extremes of nesting, numbers and text.
func commonSeeds() []string {
	return []string{
		``,
		` `,
		`null`,
		`true`,
		`0`,
		`-1e400`,
		`"string"`,
		`[]`,
		`[{}]`,
		`{}`,
		`{`,
		`}`,
		`{"a":}`,
		`{"a":1,}`,
		`{"":""}`,
		`{"__proto__":{"x":1}}`,
		"\xef\xbb\xbf{}",
		"{\"\xff\xfe\":\"\xc3\x28\"}",
		`{"a":"\ud800"}`,
		`{"a":"\u0000"}`,
		strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001),
		`{"a":` + strings.Repeat(`{"a":`, 200) + `1` + strings.Repeat(`}`, 201),
		`{"x":123456789012345678901234567890}`,
		`{"x":1e400}`,
		`{"x":-0}`,
		`{"x":NaN}`,
		`{"dup":1,"dup":2}`,
		`{"x":"` + strings.Repeat("é", 3000) + `"}`,
	}
}

// FuzzFeatherConnect fuzzes POST /v1/integrations/connections/custom-mcp.
func FuzzFeatherConnect(f *testing.F) {
	seeds := append(commonSeeds(),
		`{"nickname":"My MCP","server_url":"https://mcp.example.invalid/mcp"}`,
		`{"nickname":"My CRM Tools","server_url":"https://mcp.example.invalid/mcp","transport":"http","auth_type":"bearer","token":"t0ken-value-0123456789"}`,
		`{"nickname":"k","server_url":"https://mcp.example.invalid/mcp","auth_type":"api_key","api_key":"api-key-value-0123456789","api_key_header":"X-Custom-Key","headers":{"X-Tenant":"t1"}}`,
		`{"nickname":"ws","server_url":"wss://mcp.example.invalid/ws","transport":"websocket"}`,
		`{"nickname":"o","server_url":"https://mcp.example.invalid/mcp","auth_type":"oauth","oauth_client_id":"c","oauth_scopes":["a","b"]}`,
		`{"nickname":"b","server_url":"https://mcp.example.invalid/mcp","auth_type":"bearer"}`,
		`{"nickname":"b","server_url":"https://mcp.example.invalid/mcp","token":"stray-token-0123456789"}`,
		`{"nickname":"","server_url":"https://mcp.example.invalid/mcp"}`,
		`{"nickname":"!!!","server_url":"https://mcp.example.invalid/mcp"}`,
		`{"nickname":"`+strings.Repeat("Ab ", 66)+`","server_url":"https://mcp.example.invalid/mcp"}`,
		`{"nickname":"日本語のサーバー 🚀","server_url":"https://mcp.example.invalid/mcp"}`,
		`{"nickname":"x","server_url":"http://127.0.0.1/mcp"}`,
		`{"nickname":"x","server_url":"http://169.254.169.254/latest/meta-data/"}`,
		`{"nickname":"x","server_url":"file:///etc/passwd"}`,
		`{"nickname":"x","server_url":"https://user:pass@mcp.example.invalid/"}`,
		`{"nickname":"x","server_url":"not a url"}`,
		`{"nickname":"x","server_url":""}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","transport":"stdio"}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","transport":"carrier-pigeon"}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","headers":{"Bad Header":"v"}}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","headers":{"X":"line\r\nInjected: 1"}}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","headers":{"X":"{{secrets.missing}}"}}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","headers":{"X":1}}`,
		`{"nickname":1,"server_url":true}`,
		`{"nickname":null,"server_url":null}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","unknown":"field"}`,
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","token":null,"api_key":null}`,
		`{"nickname":["x"],"server_url":{"u":1}}`,
		// An over-long secret: the 422 must not echo it back.
		`{"nickname":"x","server_url":"https://mcp.example.invalid/mcp","auth_type":"bearer","token":"`+strings.Repeat("s", 16385)+`"}`,
	)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	ft := startFuzzTether(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		path := featherBase + "/custom-mcp"
		r := ft.send(t, http.MethodPost, path, body)
		if id := idOfCreated(r); id != "" {
			t.Cleanup(func() { ft.mustSend(t, http.MethodDelete, featherBase+"/"+id, nil, http.StatusNoContent) })
		}
		checkResponse(t, http.MethodPost, path, body, r)
	})
}

// FuzzFerniCreate fuzzes POST /api/v2/developers/mcp-servers.
func FuzzFerniCreate(f *testing.F) {
	seeds := append(commonSeeds(),
		`{"name":"my-crm-tools","description":"CRM","transport":"http","endpoint":"https://mcp.example.invalid/mcp","autoConnect":false}`,
		`{"name":"full","description":"d","transport":"streamable_http","endpoint":"https://mcp.example.invalid/mcp","headers":{"X-API-Key":"{{secrets.K}}","Authorization":"Basic literal"},"secrets":{"K":"secret-value-0123456789"},"autoConnect":false,"timeout":45000,"personaId":"p","enabled":false}`,
		`{"name":"sse","description":"d","transport":"sse","endpoint":"https://mcp.example.invalid/sse","autoConnect":false}`,
		`{"name":"ws","description":"d","transport":"websocket","endpoint":"wss://mcp.example.invalid/ws","autoConnect":false}`,
		`{"name":"ws-bad","description":"d","transport":"websocket","endpoint":"https://mcp.example.invalid/ws","autoConnect":false}`,
		`{"name":"std","description":"d","transport":"stdio","command":"npx","args":["-y","server"]}`,
		`{"name":"std","description":"d","transport":"stdio","endpoint":"https://mcp.example.invalid/"}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","command":"ls"}`,
		`{"name":"Not Kebab","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/"}`,
		`{"name":"a--b","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/"}`,
		`{"name":"`+strings.Repeat("a", 65)+`","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/"}`,
		`{"name":"x","description":"d","transport":"http"}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"http://10.0.0.1/"}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"http://[::1]:8080/"}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid:22/"}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","timeout":999}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","timeout":300001}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","timeout":1.5}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","timeout":1e400}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","timeout":"30000"}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","timeout":99999999999999999999}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","headers":{"X":"{{secrets.NOPE}}"}}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","secrets":{"bad name!":"v"}}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","secrets":{"K":null}}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","secrets":{"K":1}}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","headers":{"":"v"}}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","headers":{"Host":"evil.example"}}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","args":["a"]}`,
		`{"name":"x","description":"日本語 🚀 \u202e","transport":"http","endpoint":"https://bücher.example/mcp","autoConnect":false}`,
		`{"name":"x","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/","unknownField":1}`,
		`{"name":null,"description":null,"transport":null}`,
		`{"name":1,"description":[],"transport":{}}`,
	)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	ft := startFuzzTether(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := ft.send(t, http.MethodPost, ferniBase, body)
		if id := idOfCreated(r); id != "" {
			t.Cleanup(func() { ft.mustSend(t, http.MethodDelete, ferniBase+"/"+id, nil, http.StatusOK) })
		}
		checkResponse(t, http.MethodPost, ferniBase, body, r)
	})
}

// storedSecret is the secret of the rows FuzzRequestBodies updates.
const storedSecret = "stored-secret-value-0123456789"

// fuzzUpstream is a go-sdk MCP server with one tool, for the routes that
// need a synced connection.
func fuzzUpstream(f *testing.F) string {
	return mcptest.New(f, mcptest.Options{Name: "fuzz-upstream", Tools: []mcptest.Tool{mcptest.Add}}).URL()
}

// bodyRoutes are the routes FuzzRequestBodies sends to, by the first
// fuzzed byte.
var bodyRoutes = []string{"ferni-put", "feather-patch", "feather-tools-bulk", "feather-tool-patch", "feather-test-call", "feather-invoke", "ferni-create", "feather-connect"}

// FuzzRequestBodies fuzzes the body of every write route of both dialects,
// updates, tool settings and tool calls included (the first fuzzed byte
// picks the route). Routes that change a row get a fresh one per input, and
// tool settings are reset after each input, so an input behaves the same
// whatever ran before it. The tool routes need a real upstream on loopback,
// so this tether allows loopback: an input may make it probe a local port.
// Discover and OAuth flows, which go out to the network by design, and
// tether's own /mcp endpoint are not fuzzed here.
func FuzzRequestBodies(f *testing.F) {
	routeSeeds := map[string][]string{
		"ferni-put": {
			`{"description":"new"}`,
			`{"name":"fz-base"}`,
			`{"name":"other-name"}`,
			`{"timeout":60000,"secrets":{"K":null,"NEW":"new-secret-value-0123456789"}}`,
			`{"headers":{"X-API-Key":"********"}}`,
			`{"headers":{"X-Other":"********"}}`,
			`{"headers":{"X":"{{secrets.NEW}}"}}`,
			`{"secrets":{"K":null}}`,
			`{"transport":"stdio"}`,
			`{"transport":"websocket"}`,
			`{"transport":"stdio","command":"ls","endpoint":null}`,
			`{"endpoint":"http://127.0.0.1:1/mcp","autoConnect":false}`,
			`{"enabled":false}`,
			`{"enabled":true,"autoConnect":false}`,
			`{"personaId":null}`,
			`{"personaId":"p-1"}`,
			`{"timeout":0}`,
			`{"args":[]}`,
			`{"args":null}`,
		},
		"feather-patch": {
			`{"nickname":"Renamed"}`,
			`{"nickname":null}`,
			`{"nickname":""}`,
			`{"nickname":"` + strings.Repeat("n", 201) + `"}`,
			`{"nickname":"x","server_url":"https://mcp.example.invalid/"}`,
		},
		"feather-tools-bulk": {
			`{"is_enabled":false}`,
			`{"is_enabled":true}`,
			`{"is_enabled":null}`,
			`{"is_enabled":"yes"}`,
		},
		"feather-tool-patch": {
			`{"is_enabled":false}`,
			`{"is_enabled":null}`,
			`{"input_defaults":{"b":{"value":10,"type":"pinned"}}}`,
			`{"input_defaults":{"a":{"value":"not a number"},"zzz":{"value":1}}}`,
			`{"input_defaults":{"a":{"value":1,"type":"frozen"}}}`,
			`{"input_defaults":{"a":{}}}`,
			`{"input_defaults":{"a":{"value":null}}}`,
			`{"input_defaults":{"a":{"value":1e400}}}`,
			`{"input_defaults":null,"response_field_map":null}`,
			`{"input_defaults":[]}`,
			`{"response_field_map":{"field_mappings":[{"path":"sum","as":"total"}]}}`,
			`{"response_field_map":{"field_mappings":[{"path":"","as":""}]}}`,
			`{"response_field_map":{"field_mappings":[{"path":"a..b"}]}}`,
			`{"response_field_map":{"field_mappings":"nope"}}`,
			`{"response_field_map":{"field_mappings":[null,1,"x"]}}`,
			`{"response_field_map":{"other":true}}`,
		},
		"feather-test-call": {
			`{"slug":"calc_add","input":{"a":1,"b":2}}`,
			`{"slug":"calc_add"}`,
			`{"slug":"calc_add","input":{"a":"one"}}`,
			`{"slug":"calc_add","input":{"a":1e300,"b":1e300}}`,
			`{"slug":"calc_add","input":{"a":123456789012345678901234567890}}`,
			`{"slug":"calc_add","input":{"a":1,"b":2,"extra":{"deep":[[[[]]]]}}}`,
			`{"slug":"calc_add","input":null}`,
			`{"slug":"calc_nope"}`,
			`{"slug":""}`,
			`{"slug":"calc_add","input":[]}`,
		},
		"feather-invoke": {
			`{}`,
			`{"input":{"a":1,"b":2}}`,
			`{"input":{"a":"one"}}`,
			`{"input":{"a":1e400}}`,
			`{"input":{"a":1,"b":2,"c":{"d":[null,true,"x"]}}}`,
			`{"input":null}`,
			`{"input":[]}`,
			`{"slug":"calc_add"}`,
		},
		"ferni-create": {
			`{"name":"fz-new","description":"d","transport":"http","endpoint":"https://mcp.example.invalid/mcp","autoConnect":false}`,
		},
		"feather-connect": {
			`{"nickname":"Fz New","server_url":"https://mcp.example.invalid/mcp","transport":"streamable_http"}`,
		},
	}
	for i, route := range bodyRoutes {
		for _, s := range append(commonSeeds()[:12], routeSeeds[route]...) {
			f.Add(uint8(i), []byte(s))
		}
	}

	upstreamURL := fuzzUpstream(f)
	ft := startFuzzTether(f, allowLoopback)
	// One connection with a synced tool, for the tool routes.
	r := ft.mustSend(f, http.MethodPost, featherBase+"/custom-mcp", map[string]any{"nickname": "Calc", "server_url": upstreamURL, "transport": "streamable_http"}, http.StatusCreated)
	calcID := idOfCreated(r)
	var toolID string
	require.Eventually(f, func() bool {
		var c struct {
			ToolsStatus string `json:"tools_status"`
			Tools       []struct {
				ID   string `json:"id"`
				Slug string `json:"slug"`
			} `json:"tools"`
		}
		require.NoError(f, json.Unmarshal(ft.mustSend(f, http.MethodGet, featherBase+"/"+calcID, nil, http.StatusOK).body, &c))
		for _, tool := range c.Tools {
			if tool.Slug == "calc_add" {
				toolID = tool.ID
			}
		}
		return c.ToolsStatus == "synced" && toolID != ""
	}, 15*time.Second, 20*time.Millisecond, "the calc connection never synced its tools")
	resetTools := func(t *testing.T) {
		ft.mustSend(t, http.MethodPatch, featherBase+"/"+calcID+"/tools/"+toolID, map[string]any{"is_enabled": true, "input_defaults": nil, "response_field_map": nil}, http.StatusOK)
	}

	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		name := bodyRoutes[int(route)%len(bodyRoutes)]
		var method, path string
		switch name {
		case "ferni-put", "feather-patch":
			// A fresh row per input, with a secret and a header template.
			created := ft.mustSend(t, http.MethodPost, ferniBase, map[string]any{
				"name": fmt.Sprintf("fz-%d", ft.seq.Add(1)), "description": "d", "transport": "http",
				"endpoint": "https://mcp.example.invalid/mcp", "autoConnect": false,
				"headers": map[string]any{"X-API-Key": "{{secrets.K}}"}, "secrets": map[string]any{"K": storedSecret},
			}, http.StatusCreated)
			id := idOfCreated(created)
			t.Cleanup(func() { ft.mustSend(t, http.MethodDelete, ferniBase+"/"+id, nil, http.StatusOK) })
			if name == "ferni-put" {
				method, path = http.MethodPut, ferniBase+"/"+id
			} else {
				method, path = http.MethodPatch, featherBase+"/"+id
			}
		case "feather-tools-bulk":
			method, path = http.MethodPatch, featherBase+"/"+calcID+"/tools"
			t.Cleanup(func() { resetTools(t) })
		case "feather-tool-patch":
			method, path = http.MethodPatch, featherBase+"/"+calcID+"/tools/"+toolID
			t.Cleanup(func() { resetTools(t) })
		case "feather-test-call":
			method, path = http.MethodPost, featherBase+"/"+calcID+"/test-mcp-call"
		case "feather-invoke":
			method, path = http.MethodPost, "/v1/integrations/tools/calc_add/invoke"
		case "ferni-create":
			method, path = http.MethodPost, ferniBase
		case "feather-connect":
			method, path = http.MethodPost, featherBase+"/custom-mcp"
		}
		r := ft.send(t, method, path, body)
		if id := idOfCreated(r); id != "" {
			del, want := ferniBase+"/"+id, http.StatusOK
			if name == "feather-connect" {
				del, want = featherBase+"/"+id, http.StatusNoContent
			}
			t.Cleanup(func() { ft.mustSend(t, http.MethodDelete, del, nil, want) })
		}
		checkResponse(t, method, path, body, r)
		require.NotContains(t, string(r.body), storedSecret, "a stored secret value is never shown")
	})
}
