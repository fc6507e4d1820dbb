package mcpclient

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// The values a reflecting server is given, in the forms the redactor knows:
// a secret, a secret in a "Bearer" header, a literal header value whose
// credential part the server echoes alone, the endpoint's query.
const (
	reflectAPIKey = "r3flected-api-key-0451"
	reflectToken  = "r3flected-token-0452"
	reflectBasic  = "c3RhdGljOnIzZmxlY3RlZA=="
	reflectQuery  = "sig=r3flected-query-0453"
)

var reflectSecrets = []string{reflectAPIKey, reflectToken, reflectBasic, reflectQuery}

// reflectingHandler is a real go-sdk server over streamable HTTP that puts
// what it was sent (headers and query) everywhere a server can say
// something: server info, instructions, tool names, titles, descriptions,
// schemas and annotations, and tool results of several content types.
func reflectingHandler() http.Handler {
	return mcp.NewStreamableHTTPHandler(func(r *http.Request) *mcp.Server {
		apiKey := r.Header.Get("X-API-Key")
		auth := r.Header.Get("Authorization")
		_, basic, _ := strings.Cut(r.Header.Get("X-Static"), " ")
		echo := strings.Join([]string{apiKey, auth, basic, r.URL.RawQuery}, " | ")
		s := mcp.NewServer(&mcp.Implementation{Name: "echo " + apiKey, Title: "Echo " + auth, Version: basic},
			&mcp.ServerOptions{Instructions: "sent: " + echo})
		s.AddTool(&mcp.Tool{
			Name:        "lookup_" + apiKey,
			Title:       "Look up " + basic,
			Description: "Sent: " + echo,
			InputSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"q":    map[string]any{"type": "string", "description": echo, "default": auth},
					apiKey: map[string]any{"type": "string", "enum": []any{basic, r.URL.RawQuery}},
				},
			},
			Annotations: &mcp.ToolAnnotations{Title: "Annotated " + echo},
		}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
		s.AddTool(&mcp.Tool{Name: "whoami", Description: "Reports what it was sent", InputSchema: map[string]any{"type": "object"}},
			func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				h := req.Extra.Header
				return &mcp.CallToolResult{
					Content: []mcp.Content{
						&mcp.TextContent{Text: "you sent " + h.Get("X-API-Key") + " and " + h.Get("Authorization")},
						&mcp.ResourceLink{URI: "https://example.com/?" + r.URL.RawQuery, Name: basic},
						&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "mem://x", Text: echo}},
					},
					StructuredContent: map[string]any{"headers": h, "count": 3, apiKey: true},
					Meta:              mcp.Meta{"echo": echo},
				}, nil
			})
		return s
	}, nil)
}

// reflectedConn reaches srv with every form of secret.
func reflectedConn(endpoint string) *registry.Connection {
	conn := httpConn(registry.TransportStreamableHTTP, endpoint+"/mcp?"+reflectQuery)
	conn.Headers = registry.Sensitive{
		"X-API-Key":     "{{secrets.api_key}}",
		"Authorization": "Bearer {{secrets.token}}",
		"X-Static":      "Basic " + reflectBasic,
	}
	conn.Secrets = registry.Sensitive{"api_key": reflectAPIKey, "token": reflectToken}
	return conn
}

func assertRedacted(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	for _, s := range reflectSecrets {
		assert.NotContains(t, string(b), s)
	}
	assert.Contains(t, string(b), "***", "the fixture reflected nothing: the test would be vacuous")
	return string(b)
}

// A server that reflects what it was sent must not get the connection's
// secrets into what a probe returns (and tether stores and shows).
func TestProbeRedactsReflectedSecrets(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t, reflectingHandler())
	c := newTestClient(t, Options{})

	res, err := c.Probe(ctxT(t), reflectedConn(srv.URL))
	require.NoError(t, err)
	assertRedacted(t, res)
	assert.Equal(t, "echo ***", res.ServerInfo.Name)
	assert.Equal(t, "Echo ***", res.ServerInfo.Title)
	assert.Equal(t, "***", res.ServerInfo.Version)
	require.Len(t, res.Tools, 2)
	byName := map[string]registry.ToolSpec{}
	for _, tool := range res.Tools {
		byName[tool.Name] = tool
	}
	lookup := byName["lookup_***"]
	assert.Equal(t, "Look up ***", lookup.Title)
	assert.Equal(t, "Sent: *** | *** | *** | ***", lookup.Description)
	props := lookup.InputSchema["properties"].(map[string]any)
	assert.Contains(t, props, "***", "object keys are redacted too")
	assert.Equal(t, "*** | *** | *** | ***", props["q"].(map[string]any)["description"])
	assert.Equal(t, "Annotated *** | *** | *** | ***", lookup.Annotations["title"])
	// What holds no secret is left alone.
	assert.Equal(t, "Reports what it was sent", byName["whoami"].Description)

	// The same probe again, as the registry sees it.
	pr, err := c.Probe(ctxT(t), reflectedConn(srv.URL))
	require.NoError(t, err)
	assertRedacted(t, pr)
}

// Tool results are redacted too, whatever the content type: the agent that
// called is the tenant's, but secrets are write-only, and a model's input
// ends up in transcripts and logs.
func TestCallRedactsReflectedSecrets(t *testing.T) {
	t.Parallel()
	srv, _ := serve(t, reflectingHandler())
	c := newTestClient(t, Options{})

	res, err := c.call(ctxT(t), reflectedConn(srv.URL), "whoami", nil)
	require.NoError(t, err)
	require.False(t, res.IsError)
	assertRedacted(t, res)
	require.Len(t, res.Content, 3)
	assert.Equal(t, "you sent *** and ***", res.Content[0].(*mcp.TextContent).Text)
	assert.Equal(t, "https://example.com/?***", res.Content[1].(*mcp.ResourceLink).URI)
	assert.Equal(t, "*** | *** | *** | ***", res.Content[2].(*mcp.EmbeddedResource).Resource.Text)
	sc := res.StructuredContent.(map[string]any)
	assert.Equal(t, true, sc["***"])
	assert.EqualValues(t, 3, sc["count"], "values without secrets pass unchanged")
	assert.Equal(t, "*** | *** | *** | ***", res.Meta["echo"])

	// As registry.Prober: the result as a JSON object.
	out, err := c.CallTool(ctxT(t), reflectedConn(srv.URL), "whoami", nil)
	require.NoError(t, err)
	assertRedacted(t, out)

	// A warm session redacts every call, not just the first.
	s, err := c.Connect(ctxT(t), reflectedConn(srv.URL))
	require.NoError(t, err)
	defer s.Close()
	for range 2 {
		res, err := s.CallTool(ctxT(t), "whoami", nil)
		require.NoError(t, err)
		assertRedacted(t, res)
	}
	tools, err := s.ListTools(ctxT(t))
	require.NoError(t, err)
	assertRedacted(t, tools)
	assertRedacted(t, s.ServerInfo())
}

// The walk leaves clean values as they are, and numbers exact.
func TestRedactorValue(t *testing.T) {
	t.Parallel()
	r := newRedactor("s3cret-value")
	clean := map[string]any{"a": []any{"x", json.Number("12345678901234567890")}, "b": map[string]any{"c": "d"}}
	got, changed := r.value(clean)
	assert.False(t, changed)
	assert.Equal(t, clean, got)

	dirty := map[string]any{"a": []any{"x", "is s3cret-value"}, "s3cret-value": map[string]any{"k": "s3cret-value"}, "n": json.Number("12345678901234567890")}
	got, changed = r.value(dirty)
	assert.True(t, changed)
	assert.Equal(t, map[string]any{"a": []any{"x", "is ***"}, "***": map[string]any{"k": "***"}, "n": json.Number("12345678901234567890")}, got)
	assert.Equal(t, "is s3cret-value", dirty["a"].([]any)[1], "the input is not modified")

	var none *redactor
	got, changed = none.value(dirty)
	assert.False(t, changed)
	assert.Equal(t, dirty, got)
}

// A secret spelled with JSON escapes, at any of the first levels of
// escaping, is cut from the string as written; the rest is left as it is.
func TestScrubEscaped(t *testing.T) {
	t.Parallel()
	r := newRedactor("s3cret/value", "Bearer t0ken-4567")
	tests := []struct {
		name, in, want string
	}{
		{name: "clean, with escapes", in: `{"a":"b\"c\/d"}`, want: `{"a":"b\"c\/d"}`},
		{name: "plain", in: `x s3cret/value y`, want: `x *** y`},
		{name: "plain beside an escape", in: `"\"s3cret/value\""`, want: `"\"***\""`},
		{name: "escaped slash", in: `{"k":"s3cret\/value"}`, want: `{"k":"***"}`},
		{name: "unicode escape", in: `{"k":"\u0073\u0033cret/value"}`, want: `{"k":"***"}`},
		{name: "case matters", in: `\u00733CRET\/value`, want: `\u00733CRET\/value`},
		{name: "upper-case hex digits", in: `s3cret\u002Fvalue`, want: `***`},
		{name: "twice escaped", in: `{"o":"{\"k\":\"\\u0073\\u0033cret\\/value\"}"}`, want: `{"o":"{\"k\":\"***\"}"}`},
		{name: "surrogate pair before", in: `\ud83d\ude00s3cret\/value`, want: `\ud83d\ude00***`},
		{name: "longest value first, overlapping", in: `Bearer t0ken\u002d4567 and t0ken-4567`, want: `*** and t0ken-4567`},
		{name: "invalid escapes left alone", in: `\x \u12 s3cret\/value \`, want: `\x \u12 *** \`},
		{name: "two occurrences", in: `s3cret\/value,\u0073\u0033cret/value`, want: `***,***`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := r.scrub(tt.in)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in != tt.want, changed)
			if json.Valid([]byte(tt.in)) {
				assert.True(t, json.Valid([]byte(got)), "JSON stays JSON: %s", got)
			}
		})
	}
}

// Whatever a server sends, scrub neither fails nor leaves a secret that
// decoding (as far as it looks) would reveal.
func FuzzScrub(f *testing.F) {
	for _, seed := range []string{`s3cret\/value`, `\u0073\u0033cret/value`, `{"o":"{\"k\":\"\\u0073\\u0033cret\\/value\"}"}`,
		`\ud83d\ude00s3cret\/value`, `\`, `\u`, `\ud800\u`, `x\\\/`} {
		f.Add(seed)
	}
	r := newRedactor("s3cret/value")
	f.Fuzz(func(t *testing.T, in string) {
		got, _ := r.scrub(in)
		cur := got
		for level := 0; ; level++ {
			if strings.Contains(cur, "s3cret/value") {
				t.Fatalf("scrub(%q) = %q, which holds the secret after %d levels of decoding", in, got, level)
			}
			dec, _, ok := unescape(cur, false)
			if !ok || level == maxUnescape {
				break
			}
			cur = dec
		}
	})
}
