package oauth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// pemKey returns a PKCS #8 PEM of a new key of the given kind and its
// public half.
func pemKey(t *testing.T, kind string) (string, crypto.PublicKey) {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "rsa":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), priv.Public()
}

// machineWorld is an AS and an MCP server it protects, for machine clients.
type machineWorld struct {
	clock *oauthtest.Clock
	as    *oauthtest.Server
	rs    *oauthtest.ResourceServer
	a     *oauth.Authorizer
}

func newMachineWorld(t *testing.T, edit func(map[string]any)) *machineWorld {
	t.Helper()
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now, Edit: edit})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
		PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: []string{"mcp:basic"},
	})
	c := oauth.New(oauth.Options{HTTPClient: guardedClient(t), Now: clock.Now})
	return &machineWorld{clock: clock, as: as, rs: rs, a: &oauth.Authorizer{Client: c, Now: clock.Now}}
}

// TestClientCredentials connects with each client authentication method:
// the AS verifies it (HTTP Basic with form-urlencoded id and secret, the
// secret in the body, or an RFC 7523 assertion signed by the registered
// key with aud the issuer), issues a token with no refresh token, and the
// Authorizer fetches a new one with the grant once it expires.
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string // oauth_token_endpoint_auth; "" lets tether choose
		key      string // key kind for private_key_jwt
		wantAuth string // what the AS verified
	}{
		{name: "client_secret_basic", method: "client_secret_basic", wantAuth: "client_secret_basic"},
		{name: "secret, method chosen", wantAuth: "client_secret_basic"},
		{name: "client_secret_post", method: "client_secret_post", wantAuth: "client_secret_post"},
		{name: "private_key_jwt RSA", method: "private_key_jwt", key: "rsa", wantAuth: "private_key_jwt"},
		{name: "private_key_jwt P-256", method: "private_key_jwt", key: "p256", wantAuth: "private_key_jwt"},
		{name: "private_key_jwt P-384, method chosen", key: "p384", wantAuth: "private_key_jwt"},
		{name: "private_key_jwt Ed25519", method: "private_key_jwt", key: "ed25519", wantAuth: "private_key_jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newMachineWorld(t, nil)
			// A client id and secret that need form-urlencoding in Basic.
			req := registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc:reports/1", TokenEndpointAuth: tt.method}
			if tt.key != "" {
				priv, pub := pemKey(t, tt.key)
				w.as.PreregisterMachine(req.ClientID, "", pub)
				req.PrivateKey = priv
			} else {
				req.ClientSecret = "s3cret+/=" + oauthtest.Random()
				w.as.PreregisterMachine(req.ClientID, req.ClientSecret, nil)
			}
			ctx := testContext(t)
			blob, pending, err := w.a.Begin(ctx, w.rs.URL, req, redirectURI)
			require.NoError(t, err)
			assert.Nil(t, pending, "no browser step")
			assert.Empty(t, w.as.AuthorizeRequests())
			assert.Empty(t, w.as.Registrations(), "the owner's client is used as is")

			grants := w.as.TokenRequestsOf("client_credentials")
			require.Len(t, grants, 1)
			tr := grants[0]
			require.Equal(t, 200, tr.Status, tr.Error)
			assert.Equal(t, tt.wantAuth, tr.ClientAuth)
			assert.Equal(t, w.rs.URL, tr.Form.Get("resource"), "RFC 8707 resource")
			assert.Equal(t, "mcp:basic", tr.Form.Get("scope"), "the challenge's scope")
			assert.Empty(t, tr.RefreshToken)
			switch tt.wantAuth {
			case "client_secret_basic":
				assert.True(t, tr.HasBasic)
				assert.False(t, tr.Form.Has("client_secret"))
			case "client_secret_post":
				assert.False(t, tr.HasBasic)
				assert.Equal(t, req.ClientSecret, tr.Form.Get("client_secret"))
			case "private_key_jwt":
				assert.False(t, tr.HasBasic)
				assert.False(t, tr.Form.Has("client_secret"))
				claims := jwt.MapClaims{}
				_, _, err := jwt.NewParser().ParseUnverified(tr.Form.Get("client_assertion"), claims)
				require.NoError(t, err)
				assert.Equal(t, req.ClientID, claims["iss"])
				assert.Equal(t, req.ClientID, claims["sub"])
				assert.Contains(t, fmt.Sprint(claims["aud"]), w.as.Issuer())
			}

			token, updated, err := w.a.AccessToken(ctx, blob)
			require.NoError(t, err)
			assert.Nil(t, updated, "still valid: nothing fetched")
			assert.Equal(t, tr.AccessToken, token)

			// Expired: the grant again (there is no refresh token).
			w.clock.Advance(time.Hour)
			token2, updated, err := w.a.AccessToken(ctx, blob)
			require.NoError(t, err)
			require.NotNil(t, updated)
			assert.NotEqual(t, token, token2)
			grants = w.as.TokenRequestsOf("client_credentials")
			require.Len(t, grants, 2)
			assert.Equal(t, 200, grants[1].Status, grants[1].Error)
			assert.Equal(t, tt.wantAuth, grants[1].ClientAuth)
			assert.Empty(t, w.as.TokenRequestsOf("refresh_token"))

			// Nothing secret in how the document or request print.
			for _, s := range []string{fmt.Sprint(req), fmt.Sprintf("%v", registry.SecretBlob(updated))} {
				for _, v := range append(w.as.SecretValues(), req.ClientSecret, req.PrivateKey) {
					if v != "" {
						assert.NotContains(t, s, v)
					}
				}
			}
		})
	}
}

// TestClientCredentialsRefused: a revoked client is refused at connect
// (400, the registry's validation kind) and, later, its expiring token
// cannot be replaced: re-authorization required. No secret in the errors.
func TestClientCredentialsRefused(t *testing.T) {
	t.Parallel()
	w := newMachineWorld(t, nil)
	secret := "s-" + oauthtest.Random()
	w.as.PreregisterMachine("svc", secret, nil)
	ctx := testContext(t)

	_, _, err := w.a.Begin(ctx, w.rs.URL, registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: "wrong-" + secret}, redirectURI)
	require.ErrorIs(t, err, registry.ErrValidation)
	assert.Contains(t, err.Error(), "invalid_client")
	assert.NotContains(t, err.Error(), secret)

	blob, _, err := w.a.Begin(ctx, w.rs.URL, registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: secret}, redirectURI)
	require.NoError(t, err)
	w.as.PreregisterMachine("svc", "rotated-"+secret, nil) // the owner rotated the secret at the AS
	w.clock.Advance(time.Hour)
	_, _, err = w.a.AccessToken(ctx, blob)
	require.ErrorIs(t, err, registry.ErrReauthRequired)
	assert.NotContains(t, err.Error(), secret)

	// Restart is the reauthorize of a machine client: a token at once.
	w.as.PreregisterMachine("svc", secret, nil)
	updated, pending, err := w.a.Restart(ctx, blob, redirectURI)
	require.NoError(t, err)
	assert.Nil(t, pending)
	token, again, err := w.a.AccessToken(ctx, updated)
	require.NoError(t, err)
	assert.Nil(t, again)
	assert.NotEmpty(t, token)
}

// TestClientCredentialsChecks: what a connect must give, and what the
// server's metadata rules out, is refused before any token request.
func TestClientCredentialsChecks(t *testing.T) {
	t.Parallel()
	priv, _ := pemKey(t, "p256")
	tests := []struct {
		name    string
		edit    func(map[string]any)
		req     registry.OAuthRequest
		wantErr error
		want    string
	}{
		{name: "no client id", req: registry.OAuthRequest{ClientSecret: "x"}, wantErr: oauth.ErrNoClient},
		{name: "basic without a secret", req: registry.OAuthRequest{ClientID: "c", TokenEndpointAuth: "client_secret_basic"}, wantErr: oauth.ErrNoClient},
		{name: "jwt without a key", req: registry.OAuthRequest{ClientID: "c", TokenEndpointAuth: "private_key_jwt"}, wantErr: oauth.ErrNoClient},
		{name: "jwt with a secret too", req: registry.OAuthRequest{ClientID: "c", TokenEndpointAuth: "private_key_jwt", PrivateKey: priv, ClientSecret: "x"}, want: "does not apply"},
		{name: "a key that is not PEM", req: registry.OAuthRequest{ClientID: "c", PrivateKey: "-----BEGIN NOTHING-----"}, wantErr: oauth.ErrInvalidKey},
		{name: "a public key", req: registry.OAuthRequest{ClientID: "c", PrivateKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, wantErr: oauth.ErrInvalidKey},
		{name: "an authorize URL", req: registry.OAuthRequest{ClientID: "c", ClientSecret: "x", AuthorizeURL: "https://a.example/auth"}, want: "no browser step"},
		{
			name:    "grant not offered",
			edit:    func(m map[string]any) { m["grant_types_supported"] = []string{"authorization_code"} },
			req:     registry.OAuthRequest{ClientID: "c", ClientSecret: "x"},
			wantErr: oauth.ErrUnsupportedGrant,
		},
		{
			name:    "method not offered",
			edit:    func(m map[string]any) { m["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic"} },
			req:     registry.OAuthRequest{ClientID: "c", PrivateKey: priv},
			wantErr: oauth.ErrUnsupportedGrant,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newMachineWorld(t, tt.edit)
			tt.req.Grant = registry.GrantClientCredentials
			_, _, err := w.a.Begin(testContext(t), w.rs.URL, tt.req, redirectURI)
			require.ErrorIs(t, err, registry.ErrValidation)
			if tt.wantErr != nil {
				assert.Contains(t, err.Error(), tt.wantErr.Error())
			}
			assert.Contains(t, err.Error(), tt.want)
			assert.Empty(t, w.as.TokenRequests())
			if tt.req.PrivateKey != "" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tt.req.PrivateKey))
			}
		})
	}
}

// TestClientCredentialsNoPKCENoAuthorizeEndpoint: a machine-only
// authorization server (no authorization endpoint, no PKCE) is fine for
// client_credentials, and still refused for the code grant.
func TestClientCredentialsNoPKCENoAuthorizeEndpoint(t *testing.T) {
	t.Parallel()
	w := newMachineWorld(t, func(m map[string]any) {
		delete(m, "authorization_endpoint")
		delete(m, "code_challenge_methods_supported")
		m["grant_types_supported"] = []string{"client_credentials"}
	})
	w.as.PreregisterMachine("svc", "sec", nil)
	_, pending, err := w.a.Begin(testContext(t), w.rs.URL, registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: "sec"}, redirectURI)
	require.NoError(t, err)
	assert.Nil(t, pending)
	_, _, err = w.a.Begin(testContext(t), w.rs.URL, registry.OAuthRequest{ClientID: "svc"}, redirectURI)
	require.ErrorIs(t, err, registry.ErrValidation)
}

func TestParsePrivateKey(t *testing.T) {
	t.Parallel()
	for kind, alg := range map[string]string{"rsa": "RS256", "p256": "ES256", "p384": "ES384", "ed25519": "EdDSA"} {
		priv, _ := pemKey(t, kind)
		got, err := oauth.ParsePrivateKey(priv)
		require.NoError(t, err, kind)
		assert.Equal(t, alg, got, kind)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}))
	_, err = oauth.ParsePrivateKey(pkcs1)
	require.ErrorIs(t, err, oauth.ErrInvalidKey)
	assert.Contains(t, err.Error(), "2048")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	alg, err := oauth.ParsePrivateKey(string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	require.NoError(t, err)
	assert.Equal(t, "ES256", alg, "SEC 1")
	_, err = oauth.ParsePrivateKey(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage-key-bytes")})))
	require.ErrorIs(t, err, oauth.ErrInvalidKey)
	assert.NotContains(t, err.Error(), "garbage")
}

// TestClientCredentialsEchoingServer: an authorization server whose error
// description quotes the secret it was sent does not carry it into the
// error tether reports.
func TestClientCredentialsEchoingServer(t *testing.T) {
	t.Parallel()
	var as *oauthtest.Server
	w := newMachineWorld(t, func(m map[string]any) { m["token_endpoint"] = as.URL + "/echo-token" })
	as = w.as
	as.Handle("POST /echo-token", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(rw).Encode(map[string]string{"error": "invalid_client", "error_description": "bad secret " + r.PostForm.Get("client_secret")})
	}))
	secret := `echoed"secret\` + oauthtest.Random()
	_, _, err := w.a.Begin(testContext(t), w.rs.URL, registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: secret, TokenEndpointAuth: "client_secret_post"}, redirectURI)
	require.ErrorIs(t, err, registry.ErrValidation)
	assert.Contains(t, err.Error(), "invalid_client")
	assert.Contains(t, err.Error(), "bad secret ***")
	assert.NotContains(t, err.Error(), secret)
}

// TestClientCredentialsNoExpiresIn: a token endpoint that states no
// lifetime (expires_in is only RECOMMENDED, RFC 6749 §5.1) and sends a
// refresh token anyway. The refresh token is never used, and the access
// token is not kept forever: a client_credentials token costs one request
// and no user, so after a while the grant is run again instead of
// presenting a token the server may long have stopped accepting.
func TestClientCredentialsNoExpiresIn(t *testing.T) {
	t.Parallel()
	var as *oauthtest.Server
	w := newMachineWorld(t, func(m map[string]any) { m["token_endpoint"] = as.URL + "/forever-token" })
	as = w.as
	var mu sync.Mutex
	var forms []string
	as.Handle("POST /forever-token", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		forms = append(forms, r.PostForm.Get("grant_type"))
		n := len(forms)
		mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]string{
			"access_token": fmt.Sprintf("at-%d", n), "token_type": "bearer", "refresh_token": "rt-unused",
		})
	}))
	ctx := testContext(t)
	blob, _, err := w.a.Begin(ctx, w.rs.URL, registry.OAuthRequest{Grant: registry.GrantClientCredentials, ClientID: "svc", ClientSecret: "s-" + oauthtest.Random()}, redirectURI)
	require.NoError(t, err)
	assert.NotContains(t, string(blob), "rt-unused", "the refresh token is not kept")
	token, updated, err := w.a.AccessToken(ctx, blob)
	require.NoError(t, err)
	assert.Nil(t, updated)
	assert.Equal(t, "at-1", token)

	w.clock.Advance(24 * time.Hour)
	token, updated, err = w.a.AccessToken(ctx, blob)
	require.NoError(t, err)
	require.NotNil(t, updated, "a new token with the grant")
	assert.Equal(t, "at-2", token)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"client_credentials", "client_credentials"}, forms, "never a refresh_token grant")
}
