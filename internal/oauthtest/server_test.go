package oauthtest_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
)

const (
	clientID = "client"
	callback = "http://127.0.0.1:1/callback"
	verifier = "a-verifier-of-forty-three-characters-or-more-0123456789"
)

// start returns a server with one public client and one resource, and the
// query of a valid authorization request for them.
func start(t *testing.T) (*oauthtest.Server, *oauthtest.ResourceServer, url.Values) {
	t.Helper()
	as := oauthtest.NewServer(t, oauthtest.Options{})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{})
	as.Preregister(clientID, "", callback)
	q := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {callback}, "state": {"st"},
		"code_challenge": {oauthtest.S256(verifier)}, "code_challenge_method": {"S256"}, "resource": {rs.URL},
	}
	return as, rs, q
}

// exchangeForm is the token request that redeems code issued for q.
func exchangeForm(q url.Values, code string) url.Values {
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {callback}, "code_verifier": {verifier}, "resource": {q.Get("resource")},
	}
}

// The fake stands in for a strict server in every OAuth test: these are
// the requests it must refuse, so that a client sending them fails there.
func TestAuthorizeRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(q url.Values)
	}{
		{name: "unknown client", change: func(q url.Values) { q.Set("client_id", "stranger") }},
		{name: "implicit grant", change: func(q url.Values) { q.Set("response_type", "token") }},
		{name: "plain PKCE", change: func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{name: "no challenge", change: func(q url.Values) { q.Del("code_challenge") }},
		{name: "no state", change: func(q url.Values) { q.Del("state") }},
		{name: "another resource", change: func(q url.Values) { q.Set("resource", "http://127.0.0.1:1/mcp") }},
		{name: "unregistered redirect_uri", change: func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:1/elsewhere") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as, _, q := start(t)
			tt.change(q)
			resp, err := http.Get(as.URL + "/authorize?" + q.Encode())
			require.NoError(t, err)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Len(t, as.AuthorizeRequests(), 1)
		})
	}
}

func TestTokenRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		change     func(f url.Values)
		wantStatus int
		wantError  string
	}{
		{name: "wrong verifier", change: func(f url.Values) { f.Set("code_verifier", verifier+"x") }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "another redirect_uri", change: func(f url.Values) { f.Set("redirect_uri", callback+"2") }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "another resource", change: func(f url.Values) { f.Set("resource", "http://127.0.0.1:1/mcp") }, wantStatus: 400, wantError: "invalid_target"},
		{name: "unknown code", change: func(f url.Values) { f.Set("code", "code-forged") }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "unknown client", change: func(f url.Values) { f.Set("client_id", "stranger") }, wantStatus: 401, wantError: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as, _, q := start(t)
			code := oauthtest.Consent(t, as.URL+"/authorize?"+q.Encode()).Query().Get("code")
			f := exchangeForm(q, code)
			tt.change(f)
			status, body := as.PostToken(t, f)
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, tt.wantError, body["error"])
			assert.Zero(t, as.PKCEVerified())
		})
	}
}

// TestCodeAndRefresh: a code is redeemed once; a refresh rotates, and the
// rotated-out refresh token, like a revoked one, is refused.
func TestCodeAndRefresh(t *testing.T) {
	t.Parallel()
	as, rs, q := start(t)
	back := oauthtest.Consent(t, as.URL+"/authorize?"+q.Encode())
	assert.Equal(t, "st", back.Query().Get("state"))
	assert.Equal(t, as.Issuer(), back.Query().Get("iss"))
	f := exchangeForm(q, back.Query().Get("code"))
	status, body := as.PostToken(t, f)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "Bearer", body["token_type"])
	assert.Equal(t, 1, as.PKCEVerified())
	status, body = as.PostToken(t, f)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"], "a code is single use")

	rt1 := as.TokenRequestsOf("authorization_code")[0].RefreshToken
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}, "client_id": {clientID}, "resource": {rs.URL}}
	status, body = as.PostToken(t, refresh)
	require.Equal(t, http.StatusOK, status, "%v", body)
	rt2, _ := body["refresh_token"].(string)
	assert.NotEqual(t, rt1, rt2)
	assert.False(t, as.RefreshValid(rt1), "rotated out")
	assert.True(t, as.RefreshValid(rt2))
	status, body = as.PostToken(t, refresh)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])

	resp, err := http.PostForm(as.URL+"/revoke", url.Values{"token": {rt2}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.False(t, as.RefreshValid(rt2), "revoked")
	assert.Contains(t, as.SecretValues(), rt2)
}
