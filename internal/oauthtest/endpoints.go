package oauthtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// lookupClient finds a client; an https client_id is a client ID metadata
// document, fetched (once) when the server supports them.
func (as *Server) lookupClient(clientID string) (*client, error) {
	as.mu.Lock()
	cl, ok := as.clients[clientID]
	as.mu.Unlock()
	if ok {
		return cl, nil
	}
	supported, _ := as.metadata()["client_id_metadata_document_supported"].(bool)
	if !strings.HasPrefix(clientID, "https://") || !supported || as.opts.CIMDClient == nil {
		return nil, fmt.Errorf("unknown client_id %q", clientID)
	}
	as.mu.Lock()
	as.cimdFetches = append(as.cimdFetches, clientID)
	as.mu.Unlock()
	resp, err := as.opts.CIMDClient.Get(clientID)
	if err != nil {
		return nil, fmt.Errorf("fetch client metadata document: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("client metadata document: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		ClientID     string   `json:"client_id"`
		RedirectURIs []string `json:"redirect_uris"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("client metadata document: %w", err)
	}
	if doc.ClientID != clientID {
		return nil, fmt.Errorf("client metadata document names client_id %q, not its own URL", doc.ClientID)
	}
	if doc.AuthMethod != "none" {
		return nil, fmt.Errorf("client metadata document: token_endpoint_auth_method %q", doc.AuthMethod)
	}
	cl = &client{redirectURIs: doc.RedirectURIs}
	as.mu.Lock()
	as.clients[clientID] = cl
	as.mu.Unlock()
	return cl, nil
}

// authorize is the user's visit: the request is validated strictly, then
// the user "consents" at once and is sent back with code, state and iss.
// A refusal is a 400 whose body says why.
func (as *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	as.mu.Lock()
	as.authReqs = append(as.authReqs, q)
	resources := slices.Clone(as.resources)
	as.mu.Unlock()
	refuse := func(format string, args ...any) {
		http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
	}
	cl, err := as.lookupClient(q.Get("client_id"))
	switch {
	case err != nil:
		refuse("client: %v", err)
		return
	case q.Get("response_type") != "code":
		refuse("response_type %q", q.Get("response_type"))
		return
	case q.Get("code_challenge_method") != "S256":
		refuse("code_challenge_method %q", q.Get("code_challenge_method"))
		return
	case len(q.Get("code_challenge")) != 43:
		refuse("code_challenge is not an S256 challenge")
		return
	case q.Get("state") == "":
		refuse("no state")
		return
	case !slices.Contains(resources, q.Get("resource")):
		refuse("resource %q is not a resource of this server", q.Get("resource"))
		return
	case !slices.Contains(cl.redirectURIs, q.Get("redirect_uri")):
		refuse("redirect_uri %q is not registered for the client", q.Get("redirect_uri"))
		return
	}
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		refuse("redirect_uri: %v", err)
		return
	}
	code := "code-" + Random()
	as.mu.Lock()
	as.codes[code] = authCode{
		clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), resource: q.Get("resource"), scope: q.Get("scope"),
	}
	as.secrets = append(as.secrets, code)
	as.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	bq.Set("iss", as.Issuer())
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token is the token endpoint: client authentication, then the
// authorization_code or refresh_token grant.
func (as *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	tr := TokenRequest{Form: r.PostForm}
	tr.BasicUser, tr.BasicPass, tr.HasBasic = r.BasicAuth()
	as.mu.Lock()
	defer as.mu.Unlock()
	defer func() { as.tokenReqs = append(as.tokenReqs, tr) }()
	fail := func(status int, code, desc string) {
		tr.Status, tr.Error = status, code
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	f := r.PostForm
	if v := f.Get("code_verifier"); v != "" {
		as.secrets = append(as.secrets, v)
	}
	if as.tokenError != "" {
		fail(http.StatusBadRequest, as.tokenError, "told to fail")
		return
	}

	// Client authentication (RFC 6749 §2.3): Basic for a confidential
	// client, a signed assertion for a client with a key (RFC 7523), else
	// client_id (and client_secret for client_secret_post).
	clientID := f.Get("client_id")
	switch {
	case tr.HasBasic:
		user, _ := url.QueryUnescape(tr.BasicUser)
		pass, _ := url.QueryUnescape(tr.BasicPass)
		cl, ok := as.clients[user]
		if !ok || cl.secret == "" || cl.secret != pass || f.Has("client_secret") || f.Has("client_assertion") {
			fail(http.StatusUnauthorized, "invalid_client", "bad client credentials")
			return
		}
		clientID = user
		tr.ClientAuth = "client_secret_basic"
	case f.Has("client_assertion"):
		id, err := as.verifyAssertion(f)
		if err != nil {
			fail(http.StatusUnauthorized, "invalid_client", "client assertion: "+err.Error())
			return
		}
		clientID = id
		tr.ClientAuth = "private_key_jwt"
	default:
		cl, ok := as.clients[clientID]
		if !ok || cl.key != nil || (cl.secret != "" && f.Get("client_secret") != cl.secret) {
			fail(http.StatusUnauthorized, "invalid_client", "bad client credentials")
			return
		}
		tr.ClientAuth = "none"
		if cl.secret != "" {
			tr.ClientAuth = "client_secret_post"
		}
	}

	switch f.Get("grant_type") {
	case "authorization_code":
		c, ok := as.codes[f.Get("code")]
		delete(as.codes, f.Get("code")) // single use
		switch {
		case !ok:
			fail(http.StatusBadRequest, "invalid_grant", "unknown or used code")
		case c.clientID != clientID:
			fail(http.StatusBadRequest, "invalid_grant", "the code was issued to another client")
		case S256(f.Get("code_verifier")) != c.challenge:
			fail(http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		case f.Get("redirect_uri") != c.redirectURI:
			fail(http.StatusBadRequest, "invalid_grant", "redirect_uri differs")
		case f.Get("resource") != c.resource:
			fail(http.StatusBadRequest, "invalid_target", "resource differs")
		default:
			as.pkceVerified++
			tr.Status = http.StatusOK
			tr.AccessToken, tr.RefreshToken = as.issue(w, grant{clientID: clientID, resource: c.resource, scopes: strings.Fields(c.scope)}, "")
		}
	case "refresh_token":
		rt := f.Get("refresh_token")
		g, ok := as.refresh[rt]
		switch {
		case as.refuseRefresh:
			fail(http.StatusBadRequest, "invalid_grant", "the grant was revoked")
		case !ok:
			fail(http.StatusBadRequest, "invalid_grant", "unknown, rotated or revoked refresh token")
		case g.clientID != clientID:
			fail(http.StatusBadRequest, "invalid_grant", "the refresh token was issued to another client")
		case f.Get("resource") != g.resource:
			fail(http.StatusBadRequest, "invalid_target", "resource missing or differs")
		case as.rotate:
			delete(as.refresh, rt)
			tr.Status = http.StatusOK
			tr.AccessToken, tr.RefreshToken = as.issue(w, g, "")
		default:
			tr.Status = http.StatusOK
			tr.AccessToken, tr.RefreshToken = as.issue(w, g, rt)
		}
	case "client_credentials":
		resource := f.Get("resource")
		switch {
		case as.clients[clientID] == nil || !as.clients[clientID].machine:
			fail(http.StatusBadRequest, "unauthorized_client", "the client may not use client_credentials")
		case !slices.Contains(as.resources, resource):
			fail(http.StatusBadRequest, "invalid_target", "resource missing or not served")
		default:
			tr.Status = http.StatusOK
			tr.AccessToken = as.issueAccess(w, grant{clientID: clientID, resource: resource, scopes: strings.Fields(f.Get("scope"))})
		}
	default:
		fail(http.StatusBadRequest, "unsupported_grant_type", "")
	}
}

// verifyAssertion checks an RFC 7523 client assertion: the jwt-bearer
// type, a signature by the key registered for the client named in iss and
// sub (and client_id, when sent), aud the issuer identifier
// (draft-ietf-oauth-rfc7523bis), an exp in the future and a jti never seen
// before. Called with as.mu held.
func (as *Server) verifyAssertion(f url.Values) (string, error) {
	if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return "", fmt.Errorf("client_assertion_type %q", f.Get("client_assertion_type"))
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(f.Get("client_assertion"), &claims, func(tok *jwt.Token) (any, error) {
		cl, ok := as.clients[claims.Issuer]
		if !ok || cl.key == nil {
			return nil, fmt.Errorf("no key for client %q", claims.Issuer)
		}
		return cl.key, nil
	},
		jwt.WithValidMethods([]string{"RS256", "ES256", "ES384", "ES512", "EdDSA"}),
		jwt.WithAudience(as.Issuer()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(as.opts.Now),
	)
	switch {
	case err != nil:
		return "", err
	case claims.Subject != claims.Issuer:
		return "", fmt.Errorf("sub %q is not iss %q", claims.Subject, claims.Issuer)
	case f.Has("client_id") && f.Get("client_id") != claims.Issuer:
		return "", fmt.Errorf("client_id %q is not iss %q", f.Get("client_id"), claims.Issuer)
	case claims.ID == "" || as.jtis[claims.ID]:
		return "", fmt.Errorf("jti missing or replayed")
	}
	as.jtis[claims.ID] = true
	as.secrets = append(as.secrets, f.Get("client_assertion"))
	return claims.Issuer, nil
}

// issueAccess answers with a new access token alone (client_credentials:
// no refresh token) and returns it. Called with as.mu held.
func (as *Server) issueAccess(w http.ResponseWriter, g grant) string {
	at := "at-" + Random()
	g.expiry = as.opts.Now().Add(time.Duration(as.opts.ExpiresIn) * time.Second)
	as.access[at] = g
	as.secrets = append(as.secrets, at)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": as.opts.TokenType,
		"expires_in": as.opts.ExpiresIn, "scope": strings.Join(g.scopes, " ")})
	return at
}

// issue answers with a new access token and, unless keepRefresh is set, a
// new refresh token, and returns both. Called with as.mu held.
func (as *Server) issue(w http.ResponseWriter, g grant, keepRefresh string) (accessToken, refreshToken string) {
	at := "at-" + Random()
	g.expiry = as.opts.Now().Add(time.Duration(as.opts.ExpiresIn) * time.Second)
	as.access[at] = g
	as.secrets = append(as.secrets, at)
	body := map[string]any{"access_token": at, "token_type": as.opts.TokenType, "expires_in": as.opts.ExpiresIn, "scope": strings.Join(g.scopes, " ")}
	rt := keepRefresh
	if rt == "" {
		rt = "rt-" + Random()
		g.expiry = time.Time{}
		as.refresh[rt] = g
		as.secrets = append(as.secrets, rt)
		body["refresh_token"] = rt
	}
	writeJSON(w, http.StatusOK, body)
	return at, rt
}

// register is RFC 7591 dynamic registration: a public client when the
// request asks for token_endpoint_auth_method none, else a confidential
// one with a secret.
func (as *Server) register(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_client_metadata"})
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.registrations = append(as.registrations, body)
	if as.registerError != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": as.registerError, "error_description": "told to fail"})
		return
	}
	var redirects []string
	if list, ok := body["redirect_uris"].([]any); ok {
		for _, u := range list {
			s, _ := u.(string)
			redirects = append(redirects, s)
		}
	}
	if len(redirects) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_redirect_uri"})
		return
	}
	id := "dcr-" + Random()
	method, _ := body["token_endpoint_auth_method"].(string)
	rat := "rat-" + Random()
	as.secrets = append(as.secrets, rat)
	resp := map[string]any{
		"client_id":                  id,
		"client_id_issued_at":        as.opts.Now().Unix(),
		"redirect_uris":              redirects,
		"grant_types":                body["grant_types"],
		"token_endpoint_auth_method": method,
		"registration_access_token":  rat,
		"registration_client_uri":    as.URL + "/register/" + id,
	}
	cl := &client{redirectURIs: redirects}
	if method != "none" {
		cl.secret = "dcr-secret-" + Random()
		as.secrets = append(as.secrets, cl.secret)
		resp["client_secret"] = cl.secret
		resp["client_secret_expires_at"] = 0
	}
	as.clients[id] = cl
	writeJSON(w, http.StatusCreated, resp)
}

// revoke is RFC 7009 revocation: the token, whichever kind, stops working.
func (as *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.revocations = append(as.revocations, r.PostForm)
	delete(as.refresh, r.PostForm.Get("token"))
	delete(as.access, r.PostForm.Get("token"))
	w.WriteHeader(http.StatusOK)
}
