package oauth_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/netguard"
	"github.com/tether-dev/tether/oauth"
)

// TestGuardRefusal: with netguard's production policy (no allow list),
// loopback servers are refused at dial time, the refusal stays visible
// through errors.Is, it is never mistaken for "no OAuth", and nothing
// reaches the servers.
func TestGuardRefusal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil) // discovered through an allowing guard
	strict := oauth.New(oauth.Options{
		HTTPClient: netguard.New(netguard.Options{}).HTTPClient(netguard.ClientOptions{}),
	})
	pub := &oauth.Credentials{ClientID: "c", AuthMethod: "none"}
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{name: "discover", call: func(ctx context.Context) error {
			_, err := strict.Discover(ctx, w.rs.URL)
			return err
		}},
		{name: "register", call: func(ctx context.Context) error {
			_, err := strict.Register(ctx, w.d, oauth.RegisterRequest{RedirectURI: redirectURI})
			return err
		}},
		{name: "exchange", call: func(ctx context.Context) error {
			_, err := strict.Exchange(ctx, w.d, pub, "code", "verifier", redirectURI)
			return err
		}},
		{name: "refresh", call: func(ctx context.Context) error {
			_, err := strict.Refresh(ctx, w.d, pub, "rt")
			return err
		}},
		{name: "revoke", call: func(ctx context.Context) error {
			return strict.Revoke(ctx, w.d, pub, "rt", "refresh_token")
		}},
	}
	asBefore, rsBefore := w.as.Hits(), w.rs.Hits()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(testContext(t))
			require.ErrorIs(t, err, netguard.ErrRefused)
			assert.NotErrorIs(t, err, oauth.ErrNoOAuth)
			assert.NotErrorIs(t, err, oauth.ErrTokenEndpoint)
		})
	}
	assert.Equal(t, asBefore, w.as.Hits(), "nothing reached the authorization server")
	assert.Equal(t, rsBefore, w.rs.Hits(), "nothing reached the MCP server")
}

func TestNilHTTPClientFailsClosed(t *testing.T) {
	t.Parallel()
	as := oauthtest.NewServer(t, oauthtest.Options{})
	_, err := oauth.New(oauth.Options{}).Discover(testContext(t), as.URL+"/mcp")
	require.Error(t, err)
	assert.NotErrorIs(t, err, oauth.ErrNoOAuth)
	assert.Zero(t, as.Hits(), "no request without the caller's (guarded) client")
}
