package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
)

func TestDiscover(t *testing.T) {
	t.Parallel()
	const prmWellKnownPath = "/.well-known/oauth-protected-resource/mcp"
	tests := []struct {
		name string
		// issuerPath and metadataPaths configure the fake AS.
		issuerPath    string
		metadataPaths []string
		rs            oauthtest.ResourceOptions
		// legacy mounts the MCP server on the AS itself, with no resource
		// metadata: the 2025-03-26 layout.
		legacy bool

		wantPRMPath   string // "" means no resource metadata
		wantResource  func(base string) string
		wantScopes    []string
		wantChallenge []string
		wantMetaPaths []string // metadata paths the AS was asked for, in order
		wantRSPaths   []string // requests the MCP server saw, in order
	}{
		{
			name: "resource_metadata from the WWW-Authenticate challenge",
			rs: oauthtest.ResourceOptions{
				PRMPath: "/meta/prm.json", Advertise: true,
				ChallengeScopes: []string{"mcp:read", "mcp:write"},
				PRMScopes:       []string{"mcp:read", "mcp:write", "mcp:admin"},
			},
			wantPRMPath:   "/meta/prm.json",
			wantScopes:    []string{"mcp:read", "mcp:write"},
			wantChallenge: []string{"mcp:read", "mcp:write"},
			wantMetaPaths: []string{"/.well-known/oauth-authorization-server"},
			wantRSPaths:   []string{"POST /mcp", "GET /meta/prm.json"},
		},
		{
			name:          "path-inserted well-known",
			rs:            oauthtest.ResourceOptions{PRMPath: prmWellKnownPath, PRMScopes: []string{"mcp:read"}},
			wantPRMPath:   prmWellKnownPath,
			wantScopes:    []string{"mcp:read"},
			wantMetaPaths: []string{"/.well-known/oauth-authorization-server"},
			wantRSPaths:   []string{"POST /mcp", "GET " + prmWellKnownPath},
		},
		{
			name: "root well-known naming the origin as resource",
			rs: oauthtest.ResourceOptions{
				PRMPath:  "/.well-known/oauth-protected-resource",
				Resource: func(base string) string { return base },
			},
			wantPRMPath:   "/.well-known/oauth-protected-resource",
			wantResource:  func(base string) string { return base },
			wantMetaPaths: []string{"/.well-known/oauth-authorization-server"},
			wantRSPaths: []string{
				"POST /mcp",
				"GET " + prmWellKnownPath,
				"GET /.well-known/oauth-protected-resource",
			},
		},
		{
			name:          "issuer with a path: RFC 8414 path-inserted",
			issuerPath:    "/tenants/acme",
			rs:            oauthtest.ResourceOptions{PRMPath: prmWellKnownPath},
			wantPRMPath:   prmWellKnownPath,
			wantMetaPaths: []string{"/.well-known/oauth-authorization-server/tenants/acme"},
		},
		{
			name:          "issuer with a path: OpenID Connect path-inserted",
			issuerPath:    "/tenants/acme",
			metadataPaths: []string{"/.well-known/openid-configuration/tenants/acme"},
			rs:            oauthtest.ResourceOptions{PRMPath: prmWellKnownPath},
			wantPRMPath:   prmWellKnownPath,
			wantMetaPaths: []string{
				"/.well-known/oauth-authorization-server/tenants/acme",
				"/.well-known/openid-configuration/tenants/acme",
			},
		},
		{
			name:          "issuer with a path: OpenID Connect path-appended",
			issuerPath:    "/tenants/acme",
			metadataPaths: []string{"/tenants/acme/.well-known/openid-configuration"},
			rs:            oauthtest.ResourceOptions{PRMPath: prmWellKnownPath},
			wantPRMPath:   prmWellKnownPath,
			wantMetaPaths: []string{
				"/.well-known/oauth-authorization-server/tenants/acme",
				"/.well-known/openid-configuration/tenants/acme",
				"/tenants/acme/.well-known/openid-configuration",
			},
		},
		{
			name:          "issuer without a path: OpenID Connect at the root",
			metadataPaths: []string{"/.well-known/openid-configuration"},
			rs:            oauthtest.ResourceOptions{PRMPath: prmWellKnownPath},
			wantPRMPath:   prmWellKnownPath,
			wantMetaPaths: []string{
				"/.well-known/oauth-authorization-server",
				"/.well-known/openid-configuration",
			},
		},
		{
			name:       "401 without resource metadata: the origin is the authorization server",
			legacy:     true,
			wantScopes: []string{"openid", "as:scope"},
			wantMetaPaths: []string{
				oauthProtectedResourceMCP, "/.well-known/oauth-protected-resource",
				"/.well-known/oauth-authorization-server",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := oauthtest.NewServer(t, oauthtest.Options{IssuerPath: tt.issuerPath, MetadataPaths: tt.metadataPaths})
			var base string
			var rs *oauthtest.ResourceServer
			if tt.legacy {
				as.ServeResource(tt.rs)
				base = as.URL
			} else {
				rs = oauthtest.NewResourceServer(t, as, tt.rs)
				base = rs.Base
			}

			d, err := newClient(t).Discover(testContext(t), base+"/mcp")
			require.NoError(t, err)

			wantResource := base + "/mcp"
			if tt.wantResource != nil {
				wantResource = tt.wantResource(base)
			}
			assert.Equal(t, wantResource, d.Resource)
			if tt.wantPRMPath == "" {
				assert.Empty(t, d.ResourceMetadataURL)
			} else {
				assert.Equal(t, base+tt.wantPRMPath, d.ResourceMetadataURL)
			}
			assert.Equal(t, as.Issuer(), d.Issuer)
			assert.Equal(t, as.URL+"/authorize", d.AuthorizationEndpoint)
			assert.Equal(t, as.URL+"/token", d.TokenEndpoint)
			assert.Equal(t, as.URL+"/register", d.RegistrationEndpoint)
			assert.Equal(t, as.URL+"/revoke", d.RevocationEndpoint)
			assert.True(t, d.SupportsDCR())
			assert.Contains(t, d.CodeChallengeMethods, "S256")
			assert.Equal(t, tt.wantChallenge, d.ChallengeScopes)
			assert.Equal(t, tt.wantScopes, d.Scopes(nil))
			assert.Equal(t, []string{"explicit"}, d.Scopes([]string{"explicit"}), "the user's scopes win")
			assert.Equal(t, tt.wantMetaPaths, as.MetadataRequests())
			if tt.wantRSPaths != nil {
				assert.Equal(t, tt.wantRSPaths, rs.Requested())
			}
		})
	}
}

// oauthProtectedResourceMCP is the path-inserted resource metadata URL of a
// server at /mcp; in the legacy layout the AS's mux sees it.
const oauthProtectedResourceMCP = "/.well-known/oauth-protected-resource/mcp"

func TestDiscoverRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		rs      oauthtest.ResourceOptions
		wantErr error
	}{
		{
			name:    "issuer in the metadata differs from the one fetched",
			edit:    func(m map[string]any) { m["issuer"] = "https://evil.example" },
			rs:      oauthtest.ResourceOptions{PRMPath: oauthProtectedResourceMCP},
			wantErr: oauth.ErrIssuerMismatch,
		},
		{
			name: "resource metadata for another origin",
			rs: oauthtest.ResourceOptions{
				PRMPath:  oauthProtectedResourceMCP,
				Resource: func(string) string { return "https://other.example/mcp" },
			},
			wantErr: oauth.ErrIssuerMismatch,
		},
		{
			name: "resource metadata for a sibling path",
			rs: oauthtest.ResourceOptions{
				PRMPath:  oauthProtectedResourceMCP,
				Resource: func(base string) string { return base + "/other-mcp" },
			},
			wantErr: oauth.ErrIssuerMismatch,
		},
		{
			name:    "no code_challenge_methods_supported",
			edit:    func(m map[string]any) { delete(m, "code_challenge_methods_supported") },
			rs:      oauthtest.ResourceOptions{PRMPath: oauthProtectedResourceMCP},
			wantErr: oauth.ErrNoPKCE,
		},
		{
			name:    "plain PKCE only",
			edit:    func(m map[string]any) { m["code_challenge_methods_supported"] = []string{"plain"} },
			rs:      oauthtest.ResourceOptions{PRMPath: oauthProtectedResourceMCP},
			wantErr: oauth.ErrNoPKCE,
		},
		{
			name:    "javascript: authorization endpoint",
			edit:    func(m map[string]any) { m["authorization_endpoint"] = "javascript:alert(1)" },
			rs:      oauthtest.ResourceOptions{PRMPath: oauthProtectedResourceMCP},
			wantErr: oauth.ErrInvalidMetadata,
		},
		{
			name:    "no token endpoint",
			edit:    func(m map[string]any) { delete(m, "token_endpoint") },
			rs:      oauthtest.ResourceOptions{PRMPath: oauthProtectedResourceMCP},
			wantErr: oauth.ErrInvalidMetadata,
		},
		{
			name:    "resource metadata names no authorization server",
			rs:      oauthtest.ResourceOptions{PRMPath: oauthProtectedResourceMCP, AuthServers: []string{}},
			wantErr: oauth.ErrNoOAuth,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := oauthtest.NewServer(t, oauthtest.Options{Edit: tt.edit})
			rs := oauthtest.NewResourceServer(t, as, tt.rs)
			d, err := newClient(t).Discover(testContext(t), rs.URL)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Nil(t, d)
		})
	}
}

func TestDiscoverNoOAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// metadataPaths configure the fake AS.
		metadataPaths []string
		handler       func(as *oauthtest.Server) http.Handler
	}{
		{
			name: "an open MCP server",
			handler: func(*oauthtest.Server) http.Handler {
				mux := http.NewServeMux()
				mux.Handle("/mcp", mcpHandler())
				return mux
			},
		},
		{
			name:          "resource metadata naming an authorization server without metadata",
			metadataPaths: []string{}, // the AS serves no metadata
			handler: func(as *oauthtest.Server) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == oauthProtectedResourceMCP {
						w.Header().Set("Content-Type", "application/json")
						_ = json.NewEncoder(w).Encode(map[string]any{
							"resource":              "http://" + r.Host + "/mcp",
							"authorization_servers": []string{as.Issuer()},
						})
						return
					}
					http.Error(w, "unauthorized", http.StatusUnauthorized)
				})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := oauthtest.NewServer(t, oauthtest.Options{MetadataPaths: tt.metadataPaths})
			srv := httptest.NewServer(tt.handler(as))
			t.Cleanup(srv.Close)
			d, err := newClient(t).Discover(testContext(t), srv.URL+"/mcp")
			require.ErrorIs(t, err, oauth.ErrNoOAuth)
			assert.Nil(t, d)
		})
	}
}

func TestDiscoverServerErrorIsNotNoOAuth(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mcp" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(t).Discover(testContext(t), srv.URL+"/mcp")
	require.Error(t, err)
	assert.NotErrorIs(t, err, oauth.ErrNoOAuth)
	assert.Contains(t, err.Error(), "503")
}

func TestDiscoverKeepsSecretsOutOfErrors(t *testing.T) {
	t.Parallel()
	// Users paste keys into server URLs; errors name the origin only.
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	_, err := newClient(t).Discover(testContext(t), srv.URL+"/mcp/sk-live-SECRET?api_key=SECRET2")
	require.ErrorIs(t, err, oauth.ErrNoOAuth)
	assert.NotContains(t, err.Error(), "SECRET")
}

func TestDiscoveryJSONRoundTrip(t *testing.T) {
	t.Parallel()
	as := oauthtest.NewServer(t, oauthtest.Options{Edit: func(m map[string]any) {
		m["client_id_metadata_document_supported"] = true
		m["authorization_response_iss_parameter_supported"] = true
	}})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/prm", Advertise: true, ChallengeScopes: []string{"a"}, PRMScopes: []string{"a", "b"}})
	d, err := newClient(t).Discover(testContext(t), rs.URL)
	require.NoError(t, err)
	assert.True(t, d.ClientIDMetadataDocumentSupported)
	assert.True(t, d.IssParameterSupported)

	b, err := json.Marshal(d)
	require.NoError(t, err)
	var back oauth.Discovery
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d, &back)
}

func TestCanonicalResource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "lowercases scheme and host", in: "HTTPS://MCP.Example.COM/Path", want: "https://mcp.example.com/Path"},
		{name: "drops the fragment", in: "https://mcp.example.com/mcp#frag", want: "https://mcp.example.com/mcp"},
		{name: "drops the default port", in: "https://mcp.example.com:443/mcp", want: "https://mcp.example.com/mcp"},
		{name: "keeps another port", in: "http://127.0.0.1:8080/mcp", want: "http://127.0.0.1:8080/mcp"},
		{name: "keeps no path as none", in: "https://mcp.example.com", want: "https://mcp.example.com"},
		{name: "keeps the query", in: "https://mcp.example.com/mcp?tenant=a", want: "https://mcp.example.com/mcp?tenant=a"},
		{name: "IPv6 host", in: "http://[::1]:8080/mcp", want: "http://[::1]:8080/mcp"},
		{name: "not http", in: "ftp://mcp.example.com", wantErr: true},
		{name: "relative", in: "/mcp", wantErr: true},
		{name: "userinfo", in: "https://user:pw@mcp.example.com/", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := oauth.CanonicalResource(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				assert.NotContains(t, err.Error(), "pw")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
