package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// item is one FastAPI validation error as it must appear in a 422 detail
// list; input is left out where the field is secret.
type item = map[string]any

// TestFeatherDetailMapping: schema violations in Feather requests answer
// FastAPI's 422 {detail:[{loc,msg,type,input}]}, with pydantic's types and
// messages, a loc that names where the problem is (body, query or path,
// then the path into the value), and never the input of a secret field.
func TestFeatherDetailMapping(t *testing.T) {
	ts := newTestServer(t)
	const id = "00000000-0000-4000-8000-000000000001"
	connect := featherBase + "/custom-mcp"
	longSecret := strings.Repeat("s", 16385)
	cases := []struct {
		name, method, path, body string
		want                     []item
	}{
		{"missing fields", http.MethodPost, connect, `{}`, []item{
			{"loc": []any{"body", "nickname"}, "msg": "Field required", "type": "missing"},
			{"loc": []any{"body", "server_url"}, "msg": "Field required", "type": "missing"},
		}},
		{"empty body", http.MethodPost, connect, ``, []item{
			{"loc": []any{"body"}, "msg": "Field required", "type": "missing"},
		}},
		{"not JSON", http.MethodPost, connect, `{"nickname":`, []item{
			{"loc": []any{"body"}, "msg": "JSON decode error", "type": "json_invalid"},
		}},
		{"extra field", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","colour":"blue"}`, []item{
			{"loc": []any{"body", "colour"}, "msg": "Extra inputs are not permitted", "type": "extra_forbidden", "input": "blue"},
		}},
		{"string_type", http.MethodPost, connect, `{"nickname":5,"server_url":"https://a.example/"}`, []item{
			{"loc": []any{"body", "nickname"}, "msg": "Input should be a valid string", "type": "string_type", "input": float64(5)},
		}},
		{"string_too_short", http.MethodPost, connect, `{"nickname":"","server_url":"https://a.example/"}`, []item{
			{"loc": []any{"body", "nickname"}, "msg": "String should have at least 1 character", "type": "string_too_short", "input": ""},
		}},
		{"dict_type", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","headers":["x"]}`, []item{
			{"loc": []any{"body", "headers"}, "msg": "Input should be a valid dictionary", "type": "dict_type"},
		}},
		{"list_type", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","oauth_scopes":"a"}`, []item{
			{"loc": []any{"body", "oauth_scopes"}, "msg": "Input should be a valid list", "type": "list_type", "input": "a"},
		}},
		{"list item", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","oauth_scopes":["a",1]}`, []item{
			{"loc": []any{"body", "oauth_scopes", "1"}, "msg": "Input should be a valid string", "type": "string_type", "input": float64(1)},
		}},
		{"enum", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","auth_type":"magic"}`, []item{
			{"loc": []any{"body", "auth_type"}, "msg": "Input should be 'none', 'bearer', 'api_key' or 'oauth'", "type": "enum", "input": "magic"},
		}},
		{"transport enum", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","transport":"stdio"}`, []item{
			{"loc": []any{"body", "transport"}, "msg": "Input should be 'sse', 'http', 'streamable_http' or 'websocket'", "type": "enum", "input": "stdio"},
		}},
		{"bool_type", http.MethodPatch, featherBase + "/" + id + "/tools", `{"is_enabled":"yes"}`, []item{
			{"loc": []any{"body", "is_enabled"}, "msg": "Input should be a valid boolean", "type": "bool_type", "input": "yes"},
		}},
		{"nested in a nullable object", http.MethodPatch, featherBase + "/" + id + "/tools/" + id, `{"input_defaults":{"a":{"value":1,"type":"frozen"}}}`, []item{
			{"loc": []any{"body", "input_defaults", "a", "type"}, "msg": "Input should be 'default' or 'pinned'", "type": "enum", "input": "frozen"},
		}},
		{"number too large for a float", http.MethodPost, featherBase + "/" + id + "/test-mcp-call", `{"slug":"x","input":{"a":1e400}}`, []item{
			{"loc": []any{"body", "input"}, "msg": "Input should be a number that fits in a 64-bit float", "type": "value_error"},
		}},
		{"uuid_parsing", http.MethodGet, featherBase + "/not-a-uuid", ``, []item{
			{"loc": []any{"path", "connection_id"}, "msg": "Input should be a valid UUID", "type": "uuid_parsing", "input": "not-a-uuid"},
		}},
		{"int_parsing", http.MethodGet, featherBase + "?limit=abc", ``, []item{
			{"loc": []any{"query", "limit"}, "msg": "Input should be a valid integer, unable to parse string as an integer", "type": "int_parsing", "input": "abc"},
		}},
		{"uuid_parsing in a PATCH", http.MethodPatch, featherBase + "/not-a-uuid", `{}`, []item{
			{"loc": []any{"path", "connection_id"}, "msg": "Input should be a valid UUID", "type": "uuid_parsing", "input": "not-a-uuid"},
		}},
		{"uuid_parsing in a DELETE", http.MethodDelete, featherBase + "/not-a-uuid", ``, []item{
			{"loc": []any{"path", "connection_id"}, "msg": "Input should be a valid UUID", "type": "uuid_parsing", "input": "not-a-uuid"},
		}},
		{"extra field in a PATCH", http.MethodPatch, featherBase + "/" + id, `{"slug":"x"}`, []item{
			{"loc": []any{"body", "slug"}, "msg": "Extra inputs are not permitted", "type": "extra_forbidden", "input": "x"},
		}},
		{"limit below the minimum", http.MethodGet, featherBase + "?limit=0", ``, []item{
			{"loc": []any{"query", "limit"}, "msg": "Input should be greater than or equal to 1", "type": "greater_than_equal", "input": float64(0)},
		}},
		{"greater_than_equal", http.MethodGet, featherBase + "?offset=-1", ``, []item{
			{"loc": []any{"query", "offset"}, "msg": "Input should be greater than or equal to 0", "type": "greater_than_equal", "input": float64(-1)},
		}},
		// Secret fields: the problem is named, the value never echoed.
		{"token of the wrong type", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","auth_type":"bearer","token":true}`, []item{
			{"loc": []any{"body", "token"}, "msg": "Input should be a valid string", "type": "string_type"},
		}},
		{"token too long", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","auth_type":"bearer","token":"` + longSecret + `"}`, []item{
			{"loc": []any{"body", "token"}, "msg": "String should have at most 16384 characters", "type": "string_too_long"},
		}},
		{"api_key too long", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","auth_type":"api_key","api_key":"` + longSecret + `"}`, []item{
			{"loc": []any{"body", "api_key"}, "msg": "String should have at most 16384 characters", "type": "string_too_long"},
		}},
		{"client secret of the wrong type", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","oauth_client_secret":["hunter2-client-secret"]}`, []item{
			{"loc": []any{"body", "oauth_client_secret"}, "msg": "Input should be a valid string", "type": "string_type"},
		}},
		{"header value of the wrong type", http.MethodPost, connect, `{"nickname":"a","server_url":"https://a.example/","headers":{"X-Key":{"v":"hunter2-header"}}}`, []item{
			{"loc": []any{"body", "headers", "X-Key"}, "msg": "Input should be a valid string", "type": "string_type"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var raw []byte
			if tc.body != "" || tc.method == http.MethodPost {
				raw = []byte(tc.body)
			}
			r := ts.do(req{method: tc.method, path: tc.path, raw: raw})
			require.Equal(t, http.StatusUnprocessableEntity, r.status, "%s", r.body)
			detail, ok := r.json(t)["detail"].([]any)
			require.True(t, ok, "no detail list: %s", r.body)
			got := make([]item, len(detail))
			for i, d := range detail {
				got[i] = d.(map[string]any)
			}
			assert.Equal(t, tc.want, got)
			for _, secret := range []string{longSecret, "hunter2"} {
				assert.NotContains(t, string(r.body), secret)
			}
		})
	}
}

// TestFerniValidationMessages: Ferni answers the same violations with 400
// VALIDATION_ERROR and one message naming each field.
func TestFerniValidationMessages(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		name, body, want string
	}{
		{"missing fields", `{"transport":"http"}`, "name: Field required; description: Field required"},
		{"below the minimum", `{"name":"a","description":"d","transport":"http","timeout":10}`, "timeout: Input should be greater than or equal to 1000"},
		{"enum", `{"name":"a","description":"d","transport":"pigeon"}`, "transport: Input should be 'http', 'sse', 'streamable_http', 'websocket' or 'stdio'"},
		{"extra field", `{"name":"a","description":"d","transport":"http","colour":"blue"}`, "colour: Extra inputs are not permitted"},
		{"secret value of the wrong type", `{"name":"a","description":"d","transport":"http","secrets":{"K":1}}`, "secrets.K: Input should be a valid string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.do(req{method: http.MethodPost, path: ferniBase, raw: []byte(tc.body)})
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			assert.Equal(t, map[string]any{"code": "VALIDATION_ERROR", "message": tc.want}, r.json(t)["error"])
		})
	}
}
