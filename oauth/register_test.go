package oauth_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/oauth"
)

const cimdURL = "https://tether.example.com/oauth/client-metadata.json"

func TestRegisterDynamic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		methods     []string // token_endpoint_auth_methods_supported; nil keeps the default
		wantMethod  string
		wantSecret  bool
		requestCIMD string // a ClientMetadataURL that must not be used
	}{
		{name: "public client when none is supported", wantMethod: "none"},
		{name: "public client when the server lists nothing", methods: []string{}, wantMethod: "none"},
		{name: "client_secret_basic when none is not supported", methods: []string{"client_secret_basic", "private_key_jwt"}, wantMethod: "client_secret_basic", wantSecret: true},
		{name: "client_secret_post when that is all there is", methods: []string{"client_secret_post"}, wantMethod: "client_secret_post", wantSecret: true},
		{name: "an http metadata URL is no client ID metadata document", wantMethod: "none", requestCIMD: "http://tether.example.com/oauth/client-metadata.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, func(m map[string]any) {
				m["client_id_metadata_document_supported"] = true
				if tt.methods != nil {
					if len(tt.methods) == 0 {
						delete(m, "token_endpoint_auth_methods_supported")
					} else {
						m["token_endpoint_auth_methods_supported"] = tt.methods
					}
				}
			})
			cr, err := w.c.Register(testContext(t), w.d, oauth.RegisterRequest{
				RedirectURI:       redirectURI,
				ClientMetadataURL: tt.requestCIMD,
			})
			require.NoError(t, err)

			regs := w.as.Registrations()
			require.Len(t, regs, 1)
			body := regs[0]
			assert.ElementsMatch(t, []any{"authorization_code", "refresh_token"}, body["grant_types"])
			assert.Equal(t, []any{"code"}, body["response_types"])
			assert.Equal(t, []any{redirectURI}, body["redirect_uris"])
			assert.Equal(t, tt.wantMethod, body["token_endpoint_auth_method"])
			assert.Equal(t, "tether", body["client_name"])

			assert.Contains(t, cr.ClientID, "dcr-")
			assert.Equal(t, tt.wantMethod, cr.AuthMethod)
			assert.Equal(t, tt.wantSecret, cr.ClientSecret != "")
			assert.Equal(t, w.as.Issuer(), cr.Issuer)
			assert.NotEmpty(t, cr.RegistrationAccessToken)
			assert.Equal(t, w.as.URL+"/register/"+cr.ClientID, cr.RegistrationClientURI)
		})
	}
}

func TestRegisterOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cimd       bool // the AS advertises client ID metadata documents
		noDCR      bool // the AS has no registration endpoint
		req        oauth.RegisterRequest
		wantID     string // "dcr" for a dynamically registered one
		wantMethod string
		wantErr    error
	}{
		{
			name:       "a supplied client_id wins over everything",
			cimd:       true,
			req:        oauth.RegisterRequest{ClientID: "mine", ClientMetadataURL: cimdURL, RedirectURI: redirectURI},
			wantID:     "mine",
			wantMethod: "none",
		},
		{
			name:       "a supplied secret uses client_secret_basic when advertised",
			req:        oauth.RegisterRequest{ClientID: "mine", ClientSecret: "s3cret", RedirectURI: redirectURI},
			wantID:     "mine",
			wantMethod: "client_secret_basic",
		},
		{
			name:       "client ID metadata document when advertised and https",
			cimd:       true,
			req:        oauth.RegisterRequest{ClientMetadataURL: cimdURL, RedirectURI: redirectURI},
			wantID:     cimdURL,
			wantMethod: "none",
		},
		{
			name:       "dynamic registration when no client ID metadata document",
			req:        oauth.RegisterRequest{ClientMetadataURL: cimdURL, RedirectURI: redirectURI},
			wantID:     "dcr",
			wantMethod: "none",
		},
		{
			name:    "nothing fits",
			noDCR:   true,
			req:     oauth.RegisterRequest{ClientMetadataURL: cimdURL, RedirectURI: redirectURI},
			wantErr: oauth.ErrNoClient,
		},
		{
			name:    "client ID metadata document advertised but tether is not on https",
			cimd:    true,
			noDCR:   true,
			req:     oauth.RegisterRequest{ClientMetadataURL: "http://127.0.0.1:8080/oauth/client-metadata.json", RedirectURI: redirectURI},
			wantErr: oauth.ErrNoClient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, func(m map[string]any) {
				m["client_id_metadata_document_supported"] = tt.cimd
				if tt.noDCR {
					delete(m, "registration_endpoint")
				}
			})
			assert.Equal(t, !tt.noDCR, w.d.SupportsDCR())
			cr, err := w.c.Register(testContext(t), w.d, tt.req)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Nil(t, cr)
				return
			}
			require.NoError(t, err)
			nregs := len(w.as.Registrations())
			if tt.wantID == "dcr" {
				assert.Contains(t, cr.ClientID, "dcr-")
				assert.Equal(t, 1, nregs)
			} else {
				assert.Equal(t, tt.wantID, cr.ClientID)
				assert.Zero(t, nregs, "no registration request when a client is at hand")
			}
			assert.Equal(t, tt.wantMethod, cr.AuthMethod)
			assert.Equal(t, tt.req.ClientSecret, cr.ClientSecret)
		})
	}
}

func TestRegisterFailure(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil)
	w.as.SetRegisterError("invalid_redirect_uri")
	cr, err := w.c.Register(testContext(t), w.d, oauth.RegisterRequest{RedirectURI: redirectURI})
	require.ErrorIs(t, err, oauth.ErrRegistration)
	assert.Nil(t, cr)
	assert.Contains(t, err.Error(), "invalid_redirect_uri")
}

func TestRegisterNoUsableSecretMethod(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(m map[string]any) {
		m["token_endpoint_auth_methods_supported"] = []string{"private_key_jwt"}
	})
	_, err := w.c.Register(testContext(t), w.d, oauth.RegisterRequest{ClientID: "mine", ClientSecret: "s3cret"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestClientMetadataDocument(t *testing.T) {
	t.Parallel()
	doc := oauth.ClientMetadataDocument(cimdURL, redirectURI, "")
	assert.Equal(t, map[string]any{
		"client_id":                  cimdURL,
		"client_name":                "tether",
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}, doc)
}
