package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Token is what the token endpoint issued.
//
// The JSON form holds AccessToken and RefreshToken in plaintext so that it
// round-trips: encrypt it (secrets keyring) before it is stored, and never
// send it in an API response. Printing (String, GoString, any fmt verb) and
// slog redact both.
type Token struct {
	// AccessToken is presented as "Authorization: Bearer" to the MCP server.
	AccessToken string `json:"access_token"`
	// RefreshToken is empty when the server issued none.
	RefreshToken string `json:"refresh_token,omitempty"`
	// TokenType is always "Bearer": tether refuses other token types, which
	// it could not present.
	TokenType string `json:"token_type,omitempty"`
	// Scope is the granted scope as the server stated it; empty when it did
	// not (RFC 6749 §5.1: then the requested scope was granted).
	Scope string `json:"scope,omitempty"`
	// Expiry is when the access token expires; zero when the server did not
	// say (expires_in omitted).
	Expiry time.Time `json:"expiry,omitzero"`
}

// String describes t with its tokens redacted.
func (t Token) String() string {
	exp := "none"
	if !t.Expiry.IsZero() {
		exp = t.Expiry.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("oauth.Token{TokenType: %q, AccessToken: %s, RefreshToken: %s, Scope: %q, Expiry: %s}",
		t.TokenType, redacted(t.AccessToken), redacted(t.RefreshToken), t.Scope, exp)
}

// GoString is String, so %#v redacts too.
func (t Token) GoString() string { return t.String() }

// Format makes every fmt verb (%d and %x included, which would otherwise
// print the fields) show the redacted String.
func (t Token) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(t.String())) }

// LogValue is the redacted form for log/slog.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("token_type", t.TokenType),
		slog.String("scope", t.Scope),
		slog.Time("expiry", t.Expiry),
		slog.Bool("has_access_token", t.AccessToken != ""),
		slog.Bool("has_refresh_token", t.RefreshToken != ""),
	)
}

// NeedsRefresh reports whether t should be refreshed before use at now: it
// has no access token, or it expires within skew (60 seconds is a good
// skew: it covers clock drift and the request's own latency). A token with
// no stated expiry never needs a refresh ahead of time; a 401 from the
// server is then the signal.
func (t *Token) NeedsRefresh(now time.Time, skew time.Duration) bool {
	if t.AccessToken == "" {
		return true
	}
	if t.Expiry.IsZero() {
		return false
	}
	return !now.Add(skew).Before(t.Expiry)
}

// Exchange swaps an authorization code for tokens at the token endpoint
// (OAuth 2.1 §4.1.3), sending the PKCE verifier, the redirect_uri and
// resource=d.Resource (RFC 8707). invalid_grant (a code that is wrong,
// expired or used) wraps [ErrInvalidGrant]; other refusals wrap
// [ErrTokenEndpoint].
func (c *Client) Exchange(ctx context.Context, d *Discovery, cr *Credentials, code, verifier, redirectURI string) (_ *Token, err error) {
	ctx, span := c.startSpan(ctx, "token", d.TokenEndpoint)
	defer func() { endSpan(span, err) }()
	switch {
	case code == "":
		return nil, errors.New("oauth: exchange: no authorization code")
	case verifier == "":
		return nil, errors.New("oauth: exchange: no PKCE verifier")
	case redirectURI == "":
		return nil, errors.New("oauth: exchange: no redirect URI")
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	}
	tok, err := c.tokenRequest(ctx, d, cr, form)
	if err != nil {
		return nil, fmt.Errorf("oauth: exchange code at %s: %w", originOf(d.TokenEndpoint), err)
	}
	return tok, nil
}

// Refresh uses refreshToken at the token endpoint (OAuth 2.1 §4.3), sending
// resource=d.Resource, which x/oauth2's refresh would not. The returned
// token's RefreshToken is the rotated one when the server rotated it, else
// refreshToken: persist it before using the new access token, since a
// rotating server has already invalidated the old one. invalid_grant wraps
// [ErrInvalidGrant]: the connection needs a new authorization.
func (c *Client) Refresh(ctx context.Context, d *Discovery, cr *Credentials, refreshToken string) (_ *Token, err error) {
	ctx, span := c.startSpan(ctx, "refresh", d.TokenEndpoint)
	defer func() { endSpan(span, err) }()
	if refreshToken == "" {
		return nil, fmt.Errorf("oauth: refresh: %w: no refresh token", ErrInvalidGrant)
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken},
	}
	tok, err := c.tokenRequest(ctx, d, cr, form)
	if err != nil {
		return nil, fmt.Errorf("oauth: refresh at %s: %w", originOf(d.TokenEndpoint), err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, nil
}

// Revoke asks the authorization server to revoke token (RFC 7009), with
// token_type_hint when hint is not empty ("refresh_token", "access_token").
// Without a revocation endpoint it does nothing and returns nil. Revoking
// the refresh token usually revokes its access tokens too.
func (c *Client) Revoke(ctx context.Context, d *Discovery, cr *Credentials, token, hint string) (err error) {
	ctx, span := c.startSpan(ctx, "revocation", d.RevocationEndpoint)
	defer func() { endSpan(span, err) }()
	if d.RevocationEndpoint == "" || token == "" {
		return nil
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	resp, err := c.postForm(ctx, d, cr, d.RevocationEndpoint, form)
	if err != nil {
		return fmt.Errorf("oauth: revoke at %s: %w", originOf(d.RevocationEndpoint), err)
	}
	defer drainClose(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := readCapped(resp.Body, maxResponseBytes)
	var oe oauthError
	if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
		return fmt.Errorf("oauth: revoke at %s: %w: HTTP %d: %s", originOf(d.RevocationEndpoint), ErrTokenEndpoint,
			resp.StatusCode, describe(oe.Error, oe.Description))
	}
	return fmt.Errorf("oauth: revoke at %s: %w: HTTP %d", originOf(d.RevocationEndpoint), ErrTokenEndpoint, resp.StatusCode)
}

// tokenResponse is RFC 6749 §5.1 and §5.2 in one.
type tokenResponse struct {
	AccessToken      string  `json:"access_token"`
	TokenType        string  `json:"token_type"`
	RefreshToken     string  `json:"refresh_token"`
	ExpiresIn        seconds `json:"expires_in"`
	Scope            string  `json:"scope"`
	Error            string  `json:"error"`
	ErrorDescription string  `json:"error_description"`
}

// seconds decodes expires_in given as a number or, as some servers send it,
// a string holding one.
type seconds int64

func (s *seconds) UnmarshalJSON(b []byte) error {
	v := strings.Trim(string(b), `"`)
	if v == "" || v == "null" {
		*s = 0
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return errors.New("expires_in is not a number")
	}
	switch {
	case !(f > 0): // NaN and negatives included: no stated lifetime
		*s = 0
	case f > float64(maxExpiresIn):
		// Some servers say "never" with a huge number; past what a
		// time.Duration holds it would wrap into the past.
		*s = maxExpiresIn
	default:
		*s = seconds(f)
	}
	return nil
}

// maxExpiresIn is the longest lifetime a time.Duration can hold, in
// seconds (about 292 years).
const maxExpiresIn = seconds(math.MaxInt64 / int64(time.Second))

// tokenRequest posts a token request (resource added) and parses the answer.
func (c *Client) tokenRequest(ctx context.Context, d *Discovery, cr *Credentials, form url.Values) (*Token, error) {
	if d.TokenEndpoint == "" {
		return nil, errors.New("no token endpoint")
	}
	if d.Resource != "" {
		form.Set("resource", d.Resource)
	}
	resp, err := c.postForm(ctx, d, cr, d.TokenEndpoint, form)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	body, err := readCapped(resp.Body, maxResponseBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenEndpoint, err)
	}
	tr, perr := parseTokenResponse(resp.Header.Get("Content-Type"), body)
	if tr.Error != "" {
		switch tr.Error {
		case "invalid_grant":
			return nil, fmt.Errorf("%w: %s", ErrInvalidGrant, describe(tr.Error, tr.ErrorDescription))
		case "invalid_client", "unauthorized_client":
			return nil, fmt.Errorf("%w: %w: HTTP %d: %s", ErrTokenEndpoint, ErrInvalidClient, resp.StatusCode, describe(tr.Error, tr.ErrorDescription))
		}
		return nil, fmt.Errorf("%w: HTTP %d: %s", ErrTokenEndpoint, resp.StatusCode, describe(tr.Error, tr.ErrorDescription))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w: HTTP %d", ErrTokenEndpoint, resp.StatusCode)
	}
	if perr != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenEndpoint, perr)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("%w: the response has no access_token", ErrTokenEndpoint)
	}
	switch {
	case tr.TokenType == "", strings.EqualFold(tr.TokenType, "bearer"):
	default:
		return nil, fmt.Errorf("%w: token_type %q is not Bearer", ErrTokenEndpoint, clean(tr.TokenType, 32))
	}
	t := &Token{
		AccessToken:  tr.AccessToken,
		RefreshToken: tr.RefreshToken,
		TokenType:    "Bearer",
		Scope:        tr.Scope,
	}
	if tr.ExpiresIn > 0 {
		t.Expiry = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return t, nil
}

// parseTokenResponse decodes a token endpoint answer: JSON as RFC 6749
// requires, or form encoding, which some servers (GitHub's among them) still
// send. Decoder messages are not passed on: they may quote the body.
func parseTokenResponse(contentType string, body []byte) (tokenResponse, error) {
	var tr tokenResponse
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return tr, errors.New("the response is not form-encoded")
		}
		tr.AccessToken = v.Get("access_token")
		tr.TokenType = v.Get("token_type")
		tr.RefreshToken = v.Get("refresh_token")
		tr.Scope = v.Get("scope")
		tr.Error = v.Get("error")
		tr.ErrorDescription = v.Get("error_description")
		if e := v.Get("expires_in"); e != "" {
			if err := tr.ExpiresIn.UnmarshalJSON([]byte(e)); err != nil {
				return tr, err
			}
		}
		return tr, nil
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return tokenResponse{}, errors.New("the response is not a JSON token response")
	}
	return tr, nil
}

// postForm posts form to endpoint with cr's client authentication (none,
// client_secret_basic, client_secret_post or private_key_jwt). The form
// travels in the body, never the URL.
func (c *Client) postForm(ctx context.Context, d *Discovery, cr *Credentials, endpoint string, form url.Values) (*http.Response, error) {
	if cr == nil || cr.ClientID == "" {
		return nil, ErrNoClient
	}
	if err := checkIssuerBinding(d, cr); err != nil {
		return nil, err
	}
	var basic bool
	switch cr.AuthMethod {
	case AuthMethodNone:
		form.Set("client_id", cr.ClientID)
	case "":
		// Unspecified: a public client, or with a secret basic, which
		// RFC 6749 §2.3.1 makes every server support.
		if cr.ClientSecret != "" {
			basic = true
			break
		}
		form.Set("client_id", cr.ClientID)
	case AuthMethodClientSecretBasic:
		basic = true
	case AuthMethodClientSecretPost:
		if cr.ClientSecret == "" {
			return nil, errors.New("client_secret_post without a client secret")
		}
		form.Set("client_id", cr.ClientID)
		form.Set("client_secret", cr.ClientSecret)
	case AuthMethodPrivateKeyJWT:
		assertion, err := c.clientAssertion(d, cr)
		if err != nil {
			return nil, err
		}
		form.Set("client_id", cr.ClientID)
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	default:
		return nil, fmt.Errorf("unsupported client authentication method %q", clean(cr.AuthMethod, 64))
	}
	if basic && cr.ClientSecret == "" {
		return nil, errors.New("client_secret_basic without a client secret")
	}
	req, err := newRequest(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both parts are form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(cr.ClientID), url.QueryEscape(cr.ClientSecret))
	}
	return c.do(req)
}
