package oauth_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/oauth"
)

func TestWithOverrides(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		o         oauth.Overrides
		wantAuth  string
		wantToken string
		wantErr   error
	}{
		{name: "none", wantAuth: "https://as.example.com/authorize?tenant=acme", wantToken: "https://as.example.com/token"},
		{
			name:      "both",
			o:         oauth.Overrides{AuthorizationEndpoint: "https://login.example.com/auth", TokenEndpoint: "https://login.example.com/tok"},
			wantAuth:  "https://login.example.com/auth",
			wantToken: "https://login.example.com/tok",
		},
		{
			name:      "token only",
			o:         oauth.Overrides{TokenEndpoint: "https://login.example.com/tok"},
			wantAuth:  "https://as.example.com/authorize?tenant=acme",
			wantToken: "https://login.example.com/tok",
		},
		{name: "javascript", o: oauth.Overrides{AuthorizationEndpoint: "javascript:alert(1)"}, wantErr: oauth.ErrInvalidMetadata},
		{name: "http under an https issuer", o: oauth.Overrides{TokenEndpoint: "http://login.example.com/tok"}, wantErr: oauth.ErrInvalidMetadata},
		{name: "fragment", o: oauth.Overrides{AuthorizationEndpoint: "https://login.example.com/auth#x"}, wantErr: oauth.ErrInvalidMetadata},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := testDiscovery()
			got, err := d.WithOverrides(tt.o)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantAuth, got.AuthorizationEndpoint)
			assert.Equal(t, tt.wantToken, got.TokenEndpoint)
			assert.Equal(t, d.Issuer, got.Issuer)
			assert.Equal(t, testDiscovery(), d, "the original is unchanged")
		})
	}
}

func TestManualDiscovery(t *testing.T) {
	t.Parallel()
	d, err := oauth.ManualDiscovery("HTTPS://MCP.example.com/mcp#x", oauth.Overrides{
		AuthorizationEndpoint: "https://login.example.com/auth",
		TokenEndpoint:         "https://login.example.com/tok",
	})
	require.NoError(t, err)
	assert.Equal(t, "https://mcp.example.com/mcp", d.Resource)
	assert.False(t, d.SupportsDCR())
	assert.Empty(t, d.Issuer)

	_, err = oauth.ManualDiscovery("https://mcp.example.com/mcp", oauth.Overrides{AuthorizationEndpoint: "https://login.example.com/auth"})
	require.ErrorIs(t, err, oauth.ErrInvalidMetadata, "both endpoints are required")
}
