package oauth_test

import (
	"bytes"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
)

// authorize runs the browser half of the flow against w's AS and exchanges
// the code.
func authorize(t *testing.T, w *world, cr *oauth.Credentials) *oauth.Token {
	t.Helper()
	ar, err := oauth.AuthorizeURL(w.d, cr, redirectURI, w.d.Scopes(nil))
	require.NoError(t, err)
	cb := followAuthorize(t, ar.URL)
	require.Equal(t, ar.State, cb.Get("state"))
	require.NoError(t, oauth.CheckIss(w.d, cb.Get("iss")))
	tok, err := w.c.Exchange(testContext(t), w.d, cr, cb.Get("code"), ar.Verifier, redirectURI)
	require.NoError(t, err)
	return tok
}

// TestFlow runs the whole flow against a real go-sdk MCP server: discovery,
// dynamic registration, authorization, exchange, a call with the token,
// refresh with rotation, rejection of the rotated-out token, revocation.
func TestFlow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.as.SetRotate(true)
	ctx := testContext(t)

	cr, err := w.c.Register(ctx, w.d, oauth.RegisterRequest{RedirectURI: redirectURI})
	require.NoError(t, err)

	ar, err := oauth.AuthorizeURL(w.d, cr, redirectURI, w.d.Scopes(nil))
	require.NoError(t, err)
	cb := followAuthorize(t, ar.URL)
	require.Equal(t, ar.State, cb.Get("state"))
	require.NoError(t, oauth.CheckIss(w.d, cb.Get("iss")))

	authq := w.as.AuthorizeRequests()[0]
	assert.Equal(t, w.rs.URL, authq.Get("resource"), "resource on the authorization request")
	assert.Equal(t, "mcp:tools", authq.Get("scope"), "the challenge's scope")

	tok, err := w.c.Exchange(ctx, w.d, cr, cb.Get("code"), ar.Verifier, redirectURI)
	require.NoError(t, err)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.Equal(t, fixedNow.Add(time.Hour), tok.Expiry, "expiry from Options.Now")
	assert.Equal(t, "mcp:tools", tok.Scope)

	exch := lastToken(t, w.as)
	assert.Equal(t, "authorization_code", exch.Form.Get("grant_type"))
	assert.Equal(t, w.rs.URL, exch.Form.Get("resource"), "resource on the token request")
	assert.Equal(t, redirectURI, exch.Form.Get("redirect_uri"))
	assert.Equal(t, cr.ClientID, exch.Form.Get("client_id"))
	assert.Equal(t, authq.Get("code_challenge"), oauthtest.S256(exch.Form.Get("code_verifier")), "PKCE verifier matches the challenge")
	assert.False(t, exch.HasBasic, "a public client sends no credentials")
	assert.Equal(t, 1, w.as.PKCEVerified())

	// The token works at the MCP server (audience = resource).
	assert.Equal(t, http.StatusOK, initialize(t, w.rs.URL, tok.AccessToken))
	assert.Equal(t, http.StatusUnauthorized, initialize(t, w.rs.URL, "forged"))

	refreshed, err := w.c.Refresh(ctx, w.d, cr, tok.RefreshToken)
	require.NoError(t, err)
	ref := lastToken(t, w.as)
	assert.Equal(t, "refresh_token", ref.Form.Get("grant_type"))
	assert.Equal(t, w.rs.URL, ref.Form.Get("resource"), "resource on the refresh request")
	assert.NotEqual(t, tok.RefreshToken, refreshed.RefreshToken, "the rotated refresh token is returned")
	assert.NotEqual(t, tok.AccessToken, refreshed.AccessToken)
	assert.Equal(t, http.StatusOK, initialize(t, w.rs.URL, refreshed.AccessToken))

	_, err = w.c.Refresh(ctx, w.d, cr, tok.RefreshToken)
	require.ErrorIs(t, err, oauth.ErrInvalidGrant, "the rotated-out token is dead")
	assert.NotContains(t, err.Error(), tok.RefreshToken)

	require.NoError(t, w.c.Revoke(ctx, w.d, cr, refreshed.RefreshToken, "refresh_token"))
	revs := w.as.Revocations()
	require.Len(t, revs, 1)
	assert.Equal(t, refreshed.RefreshToken, revs[0].Get("token"))
	assert.Equal(t, "refresh_token", revs[0].Get("token_type_hint"))
	assert.Equal(t, cr.ClientID, revs[0].Get("client_id"))
	_, err = w.c.Refresh(ctx, w.d, cr, refreshed.RefreshToken)
	require.ErrorIs(t, err, oauth.ErrInvalidGrant, "revoked")
}

// initialize POSTs an MCP initialize with a bearer token and returns the
// status.
func initialize(t *testing.T, serverURL, token string) int {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, serverURL, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rotate   bool
		wantSame bool
	}{
		{name: "rotated: the new refresh token", rotate: true},
		{name: "not rotated: the old refresh token", rotate: false, wantSame: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			w.as.SetRotate(tt.rotate)
			w.as.Preregister("mine", "", redirectURI)
			cr := &oauth.Credentials{ClientID: "mine", AuthMethod: "none"}
			tok := authorize(t, w, cr)

			got, err := w.c.Refresh(testContext(t), w.d, cr, tok.RefreshToken)
			require.NoError(t, err)
			assert.NotEqual(t, tok.AccessToken, got.AccessToken)
			assert.NotEmpty(t, got.RefreshToken)
			assert.Equal(t, tt.wantSame, got.RefreshToken == tok.RefreshToken)
			// Whichever it is, it works.
			_, err = w.c.Refresh(testContext(t), w.d, cr, got.RefreshToken)
			require.NoError(t, err)
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		tokenError  string
		wantErr     error
		wantNotErr  error
		wantMessage string
	}{
		{name: "invalid_grant", tokenError: "invalid_grant", wantErr: oauth.ErrInvalidGrant, wantNotErr: oauth.ErrTokenEndpoint},
		{name: "invalid_client", tokenError: "invalid_client", wantErr: oauth.ErrTokenEndpoint, wantNotErr: oauth.ErrInvalidGrant, wantMessage: `"invalid_client" ("told to fail")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			w.as.SetTokenError(tt.tokenError)
			cr := &oauth.Credentials{ClientID: "mine", ClientSecret: "s3cret-value", AuthMethod: "client_secret_post"}
			_, err := w.c.Refresh(testContext(t), w.d, cr, "rt-secret-value")
			require.ErrorIs(t, err, tt.wantErr)
			assert.NotErrorIs(t, err, tt.wantNotErr)
			assert.Contains(t, err.Error(), tt.wantMessage)
			assert.NotContains(t, err.Error(), "secret-value")
		})
	}
}

func TestSuppliedSecretAtTokenEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		advertise []string
		wantBasic bool
	}{
		{name: "client_secret_post advertised", advertise: []string{"client_secret_post"}},
		{name: "client_secret_basic advertised", advertise: []string{"client_secret_basic", "client_secret_post"}, wantBasic: true},
		{name: "nothing advertised: basic, RFC 8414's default", wantBasic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, func(m map[string]any) {
				if tt.advertise == nil {
					delete(m, "token_endpoint_auth_methods_supported")
				} else {
					m["token_endpoint_auth_methods_supported"] = tt.advertise
				}
			})
			const secret = "p@ss word/+&"
			w.as.Preregister("my client", secret, redirectURI)
			cr, err := w.c.Register(testContext(t), w.d, oauth.RegisterRequest{ClientID: "my client", ClientSecret: secret})
			require.NoError(t, err)
			authorize(t, w, cr)

			got := lastToken(t, w.as)
			if tt.wantBasic {
				require.True(t, got.HasBasic)
				// RFC 6749 §2.3.1: form-urlencoded, then basic.
				assert.Equal(t, url.QueryEscape("my client"), got.BasicUser)
				assert.Equal(t, url.QueryEscape(secret), got.BasicPass)
				assert.Empty(t, got.Form.Get("client_secret"))
			} else {
				assert.False(t, got.HasBasic)
				assert.Equal(t, "my client", got.Form.Get("client_id"))
				assert.Equal(t, secret, got.Form.Get("client_secret"))
			}
		})
	}
}

func TestCredentialsBoundToIssuer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	cr := &oauth.Credentials{ClientID: "mine", ClientSecret: "s3cret", AuthMethod: "client_secret_basic", Issuer: "https://other-as.example"}
	_, err := w.c.Refresh(testContext(t), w.d, cr, "rt")
	require.ErrorIs(t, err, oauth.ErrIssuerMismatch)
	_, err = oauth.AuthorizeURL(w.d, cr, redirectURI, nil)
	require.ErrorIs(t, err, oauth.ErrIssuerMismatch)
	assert.Empty(t, w.as.TokenRequests(), "the secret never left")
}

func TestRevokeWithoutEndpoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(m map[string]any) { delete(m, "revocation_endpoint") })
	before := w.as.Hits()
	require.NoError(t, w.c.Revoke(testContext(t), w.d, &oauth.Credentials{ClientID: "x", AuthMethod: "none"}, "tok", ""))
	assert.Equal(t, before, w.as.Hits())
}

func TestTokenResponseShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		want        oauth.Token
		wantErr     error
	}{
		{
			name: "expires_in as a string", contentType: "application/json", status: 200,
			body: `{"access_token":"a","token_type":"Bearer","expires_in":"60"}`,
			want: oauth.Token{AccessToken: "a", RefreshToken: "old", TokenType: "Bearer", Expiry: fixedNow.Add(time.Minute)},
		},
		{
			// Some servers say "never" this way: 317 years, past what a
			// time.Duration holds. It must not wrap into the past (a
			// refresh before every call).
			name: "expires_in past a Duration", contentType: "application/json", status: 200,
			body: `{"access_token":"a","token_type":"Bearer","expires_in":9999999999}`,
			want: oauth.Token{AccessToken: "a", RefreshToken: "old", TokenType: "Bearer", Expiry: fixedNow.Add(time.Duration(math.MaxInt64/int64(time.Second)) * time.Second)},
		},
		{
			name: "expires_in huge as a float", contentType: "application/json", status: 200,
			body: `{"access_token":"a","token_type":"Bearer","expires_in":1e300}`,
			want: oauth.Token{AccessToken: "a", RefreshToken: "old", TokenType: "Bearer", Expiry: fixedNow.Add(time.Duration(math.MaxInt64/int64(time.Second)) * time.Second)},
		},
		{
			name: "form-encoded", contentType: "application/x-www-form-urlencoded", status: 200,
			body: `access_token=a&token_type=bearer&scope=x+y&refresh_token=new`,
			want: oauth.Token{AccessToken: "a", RefreshToken: "new", TokenType: "Bearer", Scope: "x y"},
		},
		{
			name: "an error in a 200", contentType: "application/json", status: 200,
			body: `{"error":"invalid_grant"}`, wantErr: oauth.ErrInvalidGrant,
		},
		{
			name: "no access token", contentType: "application/json", status: 200,
			body: `{"token_type":"Bearer"}`, wantErr: oauth.ErrTokenEndpoint,
		},
		{
			name: "a token type tether cannot present", contentType: "application/json", status: 200,
			body: `{"access_token":"a","token_type":"DPoP"}`, wantErr: oauth.ErrTokenEndpoint,
		},
		{
			name: "HTML error page", contentType: "text/html", status: 502,
			body: `<html>bad gateway</html>`, wantErr: oauth.ErrTokenEndpoint,
		},
		{
			name: "oversized", contentType: "application/json", status: 200,
			body: `{"access_token":"` + strings.Repeat("a", 2<<20) + `"}`, wantErr: oauth.ErrTokenEndpoint,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, nil)
			w.as.Handle("POST /token2", http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
				rw.Header().Set("Content-Type", tt.contentType)
				rw.WriteHeader(tt.status)
				_, _ = rw.Write([]byte(tt.body))
			}))
			d := *w.d
			d.TokenEndpoint = w.as.URL + "/token2"
			got, err := w.c.Refresh(testContext(t), &d, &oauth.Credentials{ClientID: "c", AuthMethod: "none"}, "old")
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, *got)
		})
	}
}

func TestNeedsRefresh(t *testing.T) {
	t.Parallel()
	now := fixedNow
	tests := []struct {
		name string
		tok  oauth.Token
		want bool
	}{
		{name: "far from expiry", tok: oauth.Token{AccessToken: "a", Expiry: now.Add(time.Hour)}},
		{name: "within the skew", tok: oauth.Token{AccessToken: "a", Expiry: now.Add(30 * time.Second)}, want: true},
		{name: "exactly at the skew", tok: oauth.Token{AccessToken: "a", Expiry: now.Add(time.Minute)}, want: true},
		{name: "expired", tok: oauth.Token{AccessToken: "a", Expiry: now.Add(-time.Second)}, want: true},
		{name: "no expiry stated", tok: oauth.Token{AccessToken: "a"}},
		{name: "no access token", tok: oauth.Token{RefreshToken: "r"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.tok.NeedsRefresh(now, time.Minute))
		})
	}
}
