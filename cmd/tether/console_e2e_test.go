package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/mcptest"
	"github.com/tether-dev/tether/internal/oauthtest"
)

// The console in a real browser: Debian's headless chromium, driven by
// console/e2e/console.test.mjs (playwright-core), against the real wiring,
// a bearer-protected go-sdk MCP server and an OAuth-protected one with a
// real authorization server. The browser script asks this test, over a
// small HTTP endpoint, what an MCP client sees on tether's /mcp, so the
// effect of the page's edits is checked by go-sdk's client rather than by
// the page itself.

const (
	consoleChromium = "/usr/bin/chromium"
	// consoleHostileName and consoleHostileDescription must show as text.
	consoleHostileName        = `<b>Acme</b> <img src=x onerror="window.__xss=1">`
	consoleHostileDescription = `<img src=x onerror="window.__xss=2"><script>window.__xss=3</script> Formats <b>bold</b> text`
	consoleStaticToken        = "static-bearer-5e3c1f"
)

// consoleStaticUpstream is a go-sdk MCP server that wants a static bearer
// token, serving add, echo, lookup and a tool whose description is HTML.
func consoleStaticUpstream(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: consoleHostileName, Version: "3.1.4"}, nil)
	mcptest.Add(s)
	mcptest.Echo(s)
	mcptest.Lookup(s)
	mcptest.Profile(s)
	mcptest.AddNamed("format", consoleHostileDescription)(s)
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		if token != consoleStaticToken {
			return nil, auth.ErrInvalidToken
		}
		return &auth.TokenInfo{Expiration: time.Now().Add(time.Hour)}, nil
	}
	h := auth.RequireBearerToken(verify, nil)(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/mcp"
}

// consoleAgentView serves GET /mcp-tools: the tools an MCP client (go-sdk)
// lists on tether's /mcp with key, as [{name, inputSchema}].
func consoleAgentView(t *testing.T, h *harness, key string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mcp-tools", func(w http.ResponseWriter, r *http.Request) {
		c := mcp.NewClient(&mcp.Implementation{Name: "console-check", Version: "1"}, nil)
		s, err := c.Connect(r.Context(), &mcp.StreamableClientTransport{
			Endpoint: h.base + "/mcp", HTTPClient: &http.Client{Transport: keyTransport{key: key}},
		}, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer s.Close()
		res, err := s.ListTools(r.Context(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		type tool struct {
			Name        string `json:"name"`
			InputSchema any    `json:"inputSchema"`
		}
		out := []tool{}
		for _, tl := range res.Tools {
			out = append(out, tool{tl.Name, tl.InputSchema})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestConsoleInBrowser drives the console through sign-in, connecting a
// static and an OAuth server, tool edits seen on /mcp, "try it", delete,
// and its security properties (see console/e2e/console.test.mjs). It
// needs chromium and node and fails, never skips, without them.
func TestConsoleInBrowser(t *testing.T) {
	if _, err := os.Stat(consoleChromium); err != nil {
		t.Fatalf("the console's browser test needs Debian's chromium at %s (apt-get install chromium; .ci/run installs it): %v", consoleChromium, err)
	}
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the console's browser test needs node (.ci/run installs it)")
	e2e, err := filepath.Abs("../../console/e2e")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(e2e, "node_modules", "playwright-core"))
	require.NoError(t, err, "run `npm ci` in console/e2e (make test and .ci/run do)")

	staticURL := consoleStaticUpstream(t)
	as := oauthtest.NewServer(t, oauthtest.Options{})
	rs := newOAuthMCP(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	h := startTether(t, allowLoopback)
	key := h.newKey("acme")
	check := consoleAgentView(t, h, key)
	// A second key of the same tenant, which the browser test has revoked
	// (POST /revoke) while a page is signed in with it.
	key2 := h.newKey("acme")
	revoke := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := runCLI(t, "apikey", "revoke", key2[:12], "--db", h.dbPath); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(revoke.Close)

	// Screenshots go to a scratch folder unless asked for: `make
	// screenshots` refreshes the committed ones, and a test run must not
	// leave the tree modified.
	shots := os.Getenv("TETHER_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.test.mjs")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(),
		"TETHER_URL="+h.base,
		"TETHER_KEY="+key,
		"STATIC_URL="+staticURL,
		"STATIC_TOKEN="+consoleStaticToken,
		"OAUTH_URL="+rs.URL,
		"CLOSED_URL="+mcptest.ClosedURL(t),
		"OAUTH_ORIGIN="+as.URL,
		"CHECK_URL="+check,
		"TETHER_KEY2="+key2,
		"REVOKE_URL="+revoke.URL,
		"HOSTILE_NAME="+consoleHostileName,
		"HOSTILE_DESCRIPTION="+consoleHostileDescription,
		"CHROMIUM="+consoleChromium,
		"SCREENSHOTS="+shots,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("console.test.mjs:\n%s", out)
	require.NoError(t, err, "the browser test failed (its output is above)")

	// What the browser did, as the API sees it: the static connection was
	// deleted; the OAuth one is active with its tools; the key the page
	// held never reached the upstreams or the logs.
	r := h.do(req{method: http.MethodGet, path: featherBase, key: key})
	require.Equal(t, http.StatusOK, r.status)
	conns := r.list(t)
	require.Len(t, conns, 1, "%s", r.body)
	c := conns[0].(map[string]any)
	assert.Equal(t, "active", c["status"])
	assert.Equal(t, "oauth", c["metadata"].(map[string]any)["auth_type"])
	assert.ElementsMatch(t, []string{"docs_add", "docs_echo"}, oauthToolSlugs(c))
	require.NotEmpty(t, as.TokenRequestsOf("authorization_code"), "the popup completed a real authorization")
	h.assertNoLeak(consoleStaticToken)
}
