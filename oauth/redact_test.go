package oauth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/oauth"
)

// TestRedaction prints secret-holding values every way a log line or error
// might, and looks for the secrets.
func TestRedaction(t *testing.T) {
	t.Parallel()
	tok := oauth.Token{AccessToken: "AT-SECRET", RefreshToken: "RT-SECRET", TokenType: "Bearer", Scope: "mcp", Expiry: fixedNow}
	cr := oauth.Credentials{ClientID: "cid", ClientSecret: "CS-SECRET", AuthMethod: "client_secret_basic", RegistrationAccessToken: "RAT-SECRET",
		PrivateKey: "-----BEGIN PRIVATE KEY-----\nKEY-SECRET\n-----END PRIVATE KEY-----\n"}
	ar := oauth.AuthRequest{State: "STATE-SECRET", Verifier: "VERIFIER-SECRET", URL: "https://as.example.com/authorize?state=STATE-SECRET"}
	tests := []struct {
		name    string
		v       any
		visible string // something harmless that should still show
	}{
		{name: "Token", v: tok, visible: "mcp"},
		{name: "*Token", v: &tok, visible: "mcp"},
		{name: "Credentials", v: cr, visible: "cid"},
		{name: "*Credentials", v: &cr, visible: "cid"},
		{name: "AuthRequest", v: ar, visible: "has_verifier"},
		{name: "*AuthRequest", v: &ar, visible: "has_verifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%T"} {
				fmt.Fprintf(&out, verb+"\n", tt.v)
			}
			fmt.Fprintln(&out, tt.v)
			fmt.Fprintln(&out, fmt.Errorf("wrapped: %v", tt.v))
			if s, ok := tt.v.(fmt.Stringer); ok {
				fmt.Fprintln(&out, s.String())
			}
			fmt.Fprintf(&out, "%v\n", []any{tt.v})
			fmt.Fprintf(&out, "%+v\n", struct{ V any }{tt.v})

			logger := slog.New(slog.NewJSONHandler(&out, nil))
			logger.Info("x", "v", tt.v)
			slog.New(slog.NewTextHandler(&out, nil)).Info("x", "v", tt.v)

			s := out.String()
			assert.NotContains(t, s, "SECRET")
			assert.NotContains(t, s, "PRIVATE KEY")
			assert.Contains(t, s, tt.visible)
		})
	}
}

// TestJSONRoundTrip: the stored form keeps everything (it is encrypted at
// rest by the caller).
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	tok := oauth.Token{AccessToken: "a", RefreshToken: "r", TokenType: "Bearer", Scope: "s", Expiry: fixedNow.Add(time.Hour)}
	b, err := json.Marshal(tok)
	require.NoError(t, err)
	var tok2 oauth.Token
	require.NoError(t, json.Unmarshal(b, &tok2))
	assert.Equal(t, tok, tok2)
	assert.True(t, tok.Expiry.Equal(tok2.Expiry))

	cr := oauth.Credentials{
		ClientID: "c", ClientSecret: "s", AuthMethod: "client_secret_post", Issuer: "https://as.example.com",
		RegistrationAccessToken: "rat", RegistrationClientURI: "https://as.example.com/register/c",
		ClientSecretExpiresAt: fixedNow, PrivateKey: "pem",
	}
	b, err = json.Marshal(cr)
	require.NoError(t, err)
	var cr2 oauth.Credentials
	require.NoError(t, json.Unmarshal(b, &cr2))
	assert.Equal(t, cr, cr2)
}
