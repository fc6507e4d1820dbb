package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// TestCodeGrantEchoingServer: for the authorization code grant with a
// client secret (the user's oauth_client_secret, or one issued by dynamic
// registration), an authorization server whose error description quotes
// the secret it was sent does not carry it into the errors of the code
// exchange (shown on the callback page and stored as the status reason) or
// of a refresh, as the client_credentials paths already ensure.
func TestCodeGrantEchoingServer(t *testing.T) {
	t.Parallel()
	var as *oauthtest.Server
	w := newMachineWorld(t, func(m map[string]any) { m["token_endpoint"] = as.URL + "/echo-token" })
	as = w.as
	as.Handle("POST /echo-token", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, pass, _ := r.BasicAuth()
		pass, _ = url.QueryUnescape(pass)
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusBadRequest)
		// The secret as sent, then the header it came in (base64).
		_ = json.NewEncoder(rw).Encode(map[string]string{"error": "invalid_grant",
			"error_description": "bad secret " + pass + " in " + r.Header.Get("Authorization")})
	}))
	secret := "echoed secret/" + oauthtest.Random()
	ctx := testContext(t)
	blob, pending, err := w.a.Begin(ctx, w.rs.URL, registry.OAuthRequest{ClientID: "web", ClientSecret: secret}, redirectURI)
	require.NoError(t, err)
	require.NotNil(t, pending)

	_, err = w.a.Exchange(ctx, blob, "some-code", pending.Verifier, redirectURI)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad secret ***")
	assert.NotContains(t, err.Error(), secret, "exchange")
	assert.Contains(t, err.Error(), "in Basic ***")

	var doc oauth.Document
	require.NoError(t, json.Unmarshal(blob, &doc))
	doc.Token = &oauth.Token{AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer", Expiry: w.clock.Now().Add(-time.Hour)}
	expired, err := json.Marshal(&doc)
	require.NoError(t, err)
	_, _, err = w.a.AccessToken(ctx, expired)
	require.ErrorIs(t, err, registry.ErrReauthRequired)
	assert.Contains(t, err.Error(), "bad secret ***")
	assert.NotContains(t, err.Error(), secret, "refresh")
	assert.Contains(t, err.Error(), "in Basic ***")
}

// TestTokensEchoingServer: a token or revocation endpoint whose error
// description quotes the form it was sent does not carry the refresh token
// (still valid when the refresh failed for another reason), the access
// token or the client secret into the errors tether returns and logs.
func TestTokensEchoingServer(t *testing.T) {
	t.Parallel()
	var as *oauthtest.Server
	w := newMachineWorld(t, func(m map[string]any) {
		m["token_endpoint"] = as.URL + "/echo"
		m["revocation_endpoint"] = as.URL + "/echo"
	})
	as = w.as
	as.Handle("POST /echo", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(rw).Encode(map[string]string{"error": "server_error",
			"error_description": "failed: " + r.PostForm.Get("refresh_token") + r.PostForm.Get("token") + " " + r.Header.Get("Authorization")})
	}))
	secret := "echoed-secret-" + oauthtest.Random()
	ctx := testContext(t)
	blob, _, err := w.a.Begin(ctx, w.rs.URL, registry.OAuthRequest{ClientID: "web", ClientSecret: secret}, redirectURI)
	require.NoError(t, err)
	var doc oauth.Document
	require.NoError(t, json.Unmarshal(blob, &doc))
	rt, at := "rt-"+oauthtest.Random(), "at-"+oauthtest.Random()
	doc.Token = &oauth.Token{AccessToken: at, RefreshToken: rt, TokenType: "Bearer", Expiry: w.clock.Now().Add(-time.Hour)}
	expired, err := json.Marshal(&doc)
	require.NoError(t, err)

	_, _, err = w.a.AccessToken(ctx, expired)
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	assert.Contains(t, err.Error(), "failed: ***")
	err2 := w.a.Revoke(ctx, expired)
	require.Error(t, err2)
	for _, msg := range []string{err.Error(), err2.Error()} {
		for _, v := range []string{rt, at, secret} {
			assert.NotContains(t, msg, v)
		}
		assert.NotContains(t, msg, "Basic d2Vi", "the Basic credential")
	}
}
