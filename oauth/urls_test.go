package oauth

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResourceMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, resource, server string
		want                   bool
	}{
		{name: "identical", resource: "https://mcp.example.com/mcp", server: "https://mcp.example.com/mcp", want: true},
		{name: "case and default port", resource: "HTTPS://MCP.example.com:443/mcp", server: "https://mcp.example.com/mcp", want: true},
		{name: "trailing slash", resource: "https://mcp.example.com/mcp/", server: "https://mcp.example.com/mcp", want: true},
		{name: "origin", resource: "https://mcp.example.com", server: "https://mcp.example.com/mcp", want: true},
		{name: "origin with slash", resource: "https://mcp.example.com/", server: "https://mcp.example.com/mcp", want: true},
		{name: "parent path", resource: "https://mcp.example.com/tenant", server: "https://mcp.example.com/tenant/mcp", want: true},
		{name: "sibling path", resource: "https://mcp.example.com/other", server: "https://mcp.example.com/mcp"},
		{name: "path prefix is not a segment prefix", resource: "https://mcp.example.com/mc", server: "https://mcp.example.com/mcp"},
		{name: "child path", resource: "https://mcp.example.com/mcp/deeper", server: "https://mcp.example.com/mcp"},
		{name: "another host", resource: "https://evil.example.com/mcp", server: "https://mcp.example.com/mcp"},
		{name: "another port", resource: "https://mcp.example.com:8443/mcp", server: "https://mcp.example.com/mcp"},
		{name: "another scheme", resource: "http://mcp.example.com/mcp", server: "https://mcp.example.com/mcp"},
		{name: "same query", resource: "https://mcp.example.com/mcp?t=1", server: "https://mcp.example.com/mcp?t=1", want: true},
		{name: "another query", resource: "https://mcp.example.com/mcp?t=2", server: "https://mcp.example.com/mcp?t=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := canonicalURL("resource", tt.resource)
			require.NoError(t, err)
			s, err := canonicalURL("server", tt.server)
			require.NoError(t, err)
			assert.Equal(t, tt.want, resourceMatches(r, s))
		})
	}
}

func TestWellKnownURLs(t *testing.T) {
	t.Parallel()
	mustParse := func(s string) *url.URL {
		u, err := url.Parse(s)
		require.NoError(t, err)
		return u
	}
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{
			name: "resource with a path",
			got:  protectedResourceMetadataURLs(mustParse("https://mcp.example.com/public/mcp/?q=1")),
			want: []string{
				"https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp",
				"https://mcp.example.com/.well-known/oauth-protected-resource",
			},
		},
		{
			name: "resource without a path",
			got:  protectedResourceMetadataURLs(mustParse("https://mcp.example.com")),
			want: []string{"https://mcp.example.com/.well-known/oauth-protected-resource"},
		},
		{
			name: "issuer with a path",
			got:  authServerMetadataURLs(mustParse("https://as.example.com/tenant1/")),
			want: []string{
				"https://as.example.com/.well-known/oauth-authorization-server/tenant1",
				"https://as.example.com/.well-known/openid-configuration/tenant1",
				"https://as.example.com/tenant1/.well-known/openid-configuration",
			},
		},
		{
			name: "issuer without a path",
			got:  authServerMetadataURLs(mustParse("https://as.example.com/")),
			want: []string{
				"https://as.example.com/.well-known/oauth-authorization-server",
				"https://as.example.com/.well-known/openid-configuration",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.got)
		})
	}
}

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw   string
		required    bool
		issuerHTTPS bool
		wantErr     bool
	}{
		{name: "https", raw: "https://as.example.com/token"},
		{name: "http under an http issuer", raw: "http://127.0.0.1:9000/token"},
		{name: "http under an https issuer", raw: "http://as.example.com/token", issuerHTTPS: true, wantErr: true},
		{name: "empty optional", raw: ""},
		{name: "empty required", raw: "", required: true, wantErr: true},
		{name: "javascript", raw: "javascript:alert(1)", wantErr: true},
		{name: "data", raw: "data:text/html,x", wantErr: true},
		{name: "relative", raw: "/token", wantErr: true},
		{name: "userinfo", raw: "https://u:p@as.example.com/token", wantErr: true},
		{name: "fragment", raw: "https://as.example.com/token#f", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkEndpoint("token_endpoint", tt.raw, tt.required, tt.issuerHTTPS)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidMetadata)
				return
			}
			require.NoError(t, err)
		})
	}
}
