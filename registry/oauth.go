package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"
)

// Errors of the OAuth flows.
var (
	// ErrOAuthState: the callback's state is missing, unknown, expired or used.
	ErrOAuthState = errors.New("invalid OAuth state")
	// ErrReauthRequired: the grant was revoked or expired; authorize again.
	ErrReauthRequired = errors.New("re-authorization required")
)

// StateTTL bounds how long an authorization may take.
const StateTTL = 10 * time.Minute

// SecretBlob is opaque secret data (a connection's OAuth document: client
// credentials and tokens). It redacts itself when printed or logged.
type SecretBlob []byte

// String redacts.
func (b SecretBlob) String() string { return fmt.Sprintf("SecretBlob(%d bytes)", len(b)) }

// GoString redacts.
func (b SecretBlob) GoString() string { return b.String() }

// LogValue redacts.
func (b SecretBlob) LogValue() slog.Value { return slog.StringValue(b.String()) }

// OAuth grants a connection can use (Feather's oauth_grant).
const (
	// GrantAuthorizationCode: a user authorizes in a browser; the
	// connection is pending_oauth until the callback lands.
	GrantAuthorizationCode = "authorization_code"
	// GrantClientCredentials: machine to machine, for connections owned
	// by an organisation; no browser step, active once a token is issued.
	GrantClientCredentials = "client_credentials"
)

// OAuthRequest is what a user gives when connecting an OAuth server; every
// field is optional (discovery fills the rest; the user's values win).
type OAuthRequest struct {
	// Grant is GrantAuthorizationCode ("" too) or GrantClientCredentials.
	Grant                  string
	ClientID, ClientSecret string
	AuthorizeURL, TokenURL string
	Scopes                 []string
	// TokenEndpointAuth is the client authentication method at the token
	// endpoint (client_secret_basic, client_secret_post, private_key_jwt,
	// none); "" lets the Authorizer choose from what is given.
	TokenEndpointAuth string
	// PrivateKey is the PEM key of private_key_jwt (write-only, secret).
	PrivateKey string
}

// String redacts the client secret and the private key.
func (r OAuthRequest) String() string {
	return fmt.Sprintf("OAuthRequest{Grant: %q, ClientID: %q, ClientSecret: %s, TokenEndpointAuth: %q, PrivateKey: %s, Scopes: %q}",
		r.Grant, r.ClientID, redact(r.ClientSecret), r.TokenEndpointAuth, redact(r.PrivateKey), r.Scopes)
}

// LogValue redacts the client secret.
func (r OAuthRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "***"
}

// OAuthDiscovery is what discover reports.
type OAuthDiscovery struct {
	SupportsDCR  bool
	AuthorizeURL string
	TokenURL     string
	Scopes       []string
}

// PendingAuth is an authorization the user must complete in a browser.
type PendingAuth struct {
	URL      string
	State    string
	Verifier string
	Issuer   string
}

// String redacts the state and the verifier (the URL carries the state).
func (p PendingAuth) String() string {
	return fmt.Sprintf("PendingAuth{Issuer: %q, State: ***, Verifier: ***}", p.Issuer)
}

// LogValue redacts.
func (p PendingAuth) LogValue() slog.Value { return slog.StringValue(p.String()) }

// Authorizer runs OAuth for connections (the oauth package implements
// it). The OAuth document is opaque to the registry: the Authorizer reads
// and writes it; the store encrypts it.
type Authorizer interface {
	// Discover reports what a server advertises; ErrUpstreamRefused (via
	// the guard) must stay visible. A server without OAuth is not an error:
	// SupportsDCR false and empty endpoints.
	Discover(ctx context.Context, serverURL string) (*OAuthDiscovery, error)
	// Begin discovers, registers a client and starts an authorization.
	// A nil PendingAuth means the grant needs no browser step
	// (client_credentials): the document already holds a token.
	Begin(ctx context.Context, serverURL string, req OAuthRequest, redirectURI string) (SecretBlob, *PendingAuth, error)
	// Restart starts a new authorization from a stored document, for the
	// scopes it holds (step-up challenges accumulated). A grant without a
	// browser step returns the updated document (a new token) and no
	// PendingAuth.
	Restart(ctx context.Context, doc SecretBlob, redirectURI string) (updated SecretBlob, pending *PendingAuth, err error)
	// StepUp reads a server's WWW-Authenticate challenge: when it is an
	// insufficient_scope one, it returns the document with the challenged
	// scopes added to those to request next (accumulated, never
	// replaced), and that whole list; ok is false for any other challenge.
	StepUp(doc SecretBlob, challenge string) (updated SecretBlob, scopes []string, ok bool, err error)
	// CheckIss applies RFC 9207 to a callback's iss parameter.
	CheckIss(doc SecretBlob, iss string) error
	// Exchange swaps the code for tokens and returns the updated document.
	Exchange(ctx context.Context, doc SecretBlob, code, verifier, redirectURI string) (SecretBlob, error)
	// AccessToken returns a usable access token, refreshing ahead of
	// expiry; when it refreshed, updated is the new document (the rotated
	// refresh token in it), to be stored before the token is used. A
	// refused grant is ErrReauthRequired.
	AccessToken(ctx context.Context, doc SecretBlob) (token string, updated SecretBlob, err error)
	// Revoke revokes the tokens at the server, best effort.
	Revoke(ctx context.Context, doc SecretBlob) error
}

// RefreshChecker is implemented by an Authorizer that can tell, without
// any request, whether AccessToken would refresh (WouldRefresh); without
// it, every token use takes the connection lock.
type RefreshChecker interface {
	WouldRefresh(doc SecretBlob) bool
}

// ConnectionLocker is implemented by a store that several tether
// processes share (PostgreSQL): LockConnection holds a lock on one
// connection across all of them until unlock is called, so that one
// refresh runs per connection fleet-wide and the others, once they have
// the lock, read the refreshed tokens it stored.
type ConnectionLocker interface {
	LockConnection(ctx context.Context, connectionID string) (unlock func(), err error)
}

// OAuthStore keeps pending authorizations.
type OAuthStore interface {
	InsertOAuthState(ctx context.Context, p *OAuthPending) error
	// PeekOAuthState returns an unexpired pending authorization by state hash.
	PeekOAuthState(ctx context.Context, stateHash []byte, now time.Time) (*OAuthPending, error)
	// ConsumeOAuthState deletes it, reporting whether it was still there
	// (single use even under concurrent callbacks).
	ConsumeOAuthState(ctx context.Context, stateHash []byte) (bool, error)
}

// OAuthPending is a stored pending authorization.
type OAuthPending struct {
	StateHash    []byte
	TenantID     string
	ConnectionID string
	Verifier     string
	Issuer       string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// Actor started the flow; the callback's audit events are theirs.
	Actor Actor
}

// String redacts the verifier.
func (p OAuthPending) String() string {
	return fmt.Sprintf("OAuthPending{TenantID: %q, ConnectionID: %q, Verifier: ***, ExpiresAt: %s}", p.TenantID, p.ConnectionID, p.ExpiresAt)
}

// LogValue redacts.
func (p OAuthPending) LogValue() slog.Value { return slog.StringValue(p.String()) }

// OAuthOptions configures the OAuth flows of a Service.
type OAuthOptions struct {
	Authorizer  Authorizer
	States      OAuthStore
	RedirectURI string // {public-url}/v1/integrations/oauth/callback
}

type oauthFlows struct {
	OAuthOptions
	refresh singleflight.Group // one refresh per connection at a time
}

func hashState(state string) []byte {
	h := sha256.Sum256([]byte(state))
	return h[:]
}

func (s *Service) oauthOn() error {
	if s.oauth == nil || s.oauth.Authorizer == nil {
		return errorf(ErrUnsupported, "OAuth is not configured on this server")
	}
	return nil
}

// Discover reports a server's OAuth support without writing anything.
func (s *Service) Discover(ctx context.Context, serverURL string) (*OAuthDiscovery, error) {
	if err := s.oauthOn(); err != nil {
		return nil, err
	}
	if err := s.validateEndpoint(TransportHTTP, serverURL); err != nil {
		return nil, err
	}
	d, err := s.oauth.Authorizer.Discover(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ConnectOAuth creates a connection that authorizes with OAuth: it starts
// pending_oauth and the returned PendingAuth carries the authorize URL.
func (s *Service) ConnectOAuth(ctx context.Context, tenantID string, in NewConnection, req OAuthRequest) (*Connection, *PendingAuth, error) {
	if err := s.oauthOn(); err != nil {
		return nil, nil, err
	}
	in.AuthType = AuthOAuth
	in.Name = ""
	now := s.Now()
	c := s.newConnection(tenantID, in, now)
	c.Slug = SlugFromNickname(in.Nickname)
	c.Status = StatusPendingOAuth
	c.StatusReason = "waiting for the user to authorize"
	if err := s.validate(c); err != nil {
		return nil, nil, err
	}
	doc, pending, err := s.oauth.Authorizer.Begin(ctx, c.Endpoint, req, s.oauth.RedirectURI)
	if err != nil {
		return nil, nil, err
	}
	c.OAuth = doc
	if pending == nil {
		// client_credentials: a token is already issued, nobody to wait for.
		c.Status, c.StatusReason = StatusActive, ""
		if !c.Enabled {
			c.Status = StatusDisabled
		}
	}
	actx, au := s.connectionAudit(ctx, tenantID)
	au.recordCreate(c)
	if err := s.store.InsertConnectionCapped(actx, c, true, s.limits.MaxConnectionsPerTenant); err != nil {
		return nil, nil, fmt.Errorf("create connection: %w", err)
	}
	if pending != nil {
		if err := s.storePending(ctx, c, pending); err != nil {
			// The client is told the connect failed: leave no half-made row
			// (and say so in the audit log, which has its creation).
			au.record(ActionConnectionDeleted, c.ID, c.ID, connectionChanges(c, nil))
			_ = s.store.DeleteConnection(context.WithoutCancel(actx), c.TenantID, c.ID)
			return nil, nil, err
		}
	}
	s.notify(c, ConnectionCreated)
	if pending == nil && c.Enabled {
		// The tool sync, of the row as stored (a probe of a row that
		// differs from the stored one is not recorded).
		if stored, err := s.store.GetConnection(ctx, c.TenantID, c.ID); err == nil {
			s.probeInBackground(ctx, stored)
		}
	}
	return c, pending, nil
}

func (s *Service) storePending(ctx context.Context, c *Connection, p *PendingAuth) error {
	now := s.Now()
	return s.oauth.States.InsertOAuthState(ctx, &OAuthPending{
		StateHash: hashState(p.State), TenantID: c.TenantID, ConnectionID: c.ID,
		Verifier: p.Verifier, Issuer: p.Issuer, CreatedAt: now, ExpiresAt: now.Add(StateTTL),
		Actor: ActorFrom(ctx),
	})
}

// Reauthorize starts a new authorization for an existing OAuth connection,
// asking for the stored scopes and any a step-up challenge added; the row
// is pending_oauth until the callback lands. A client_credentials
// connection gets a new token at once and is active again (no
// PendingAuth).
func (s *Service) Reauthorize(ctx context.Context, tenantID, id string) (*Connection, *PendingAuth, error) {
	if err := s.oauthOn(); err != nil {
		return nil, nil, err
	}
	c, err := s.store.GetConnection(ctx, tenantID, id)
	if err != nil {
		return nil, nil, err
	}
	if c.AuthType != AuthOAuth || len(c.OAuth) == 0 {
		return nil, nil, errorf(ErrValidation, "connection %q does not use OAuth", c.Slug)
	}
	updated, pending, err := s.oauth.Authorizer.Restart(ctx, c.OAuth, s.oauth.RedirectURI)
	if err != nil {
		return nil, nil, err
	}
	if pending == nil {
		// A grant without a browser step: the new token is in updated.
		actx, au := s.connectionAudit(ctx, tenantID)
		c, err = s.store.UpdateConnection(actx, tenantID, id, func(c *Connection) error {
			before := *c
			c.OAuth = updated
			if c.Enabled {
				c.Status, c.StatusReason = StatusActive, ""
			}
			c.UpdatedAt = s.Now()
			au.record(ActionConnectionReauthorized, c.ID, c.ID, connectionChanges(&before, c))
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		s.notify(c, ConnectionUpdated)
		if c.Enabled {
			s.probeInBackground(ctx, c)
		}
		return c, nil, nil
	}
	// The state first: a row is never pending without a way to finish.
	if err := s.storePending(ctx, c, pending); err != nil {
		return nil, nil, err
	}
	actx, au := s.connectionAudit(ctx, tenantID)
	c, err = s.store.UpdateConnection(actx, tenantID, id, func(c *Connection) error {
		before := *c
		if c.Enabled {
			c.Status, c.StatusReason = StatusPendingOAuth, "waiting for the user to authorize"
		}
		c.UpdatedAt = s.Now()
		// Recorded even when the status stays: a new authorization began.
		au.record(ActionConnectionReauthorized, c.ID, c.ID, connectionChanges(&before, c))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.notify(c, ConnectionUpdated)
	return c, pending, nil
}

// CallbackResult is what a finished callback did.
type CallbackResult struct {
	Connection *Connection
	// Err is the authorization's failure (an error= from the server, or a
	// failed code exchange); the row is then in status error.
	Err error
}

// Callback completes an authorization. An unknown, expired or reused state,
// or an iss that does not match, is ErrOAuthState and changes nothing.
func (s *Service) Callback(ctx context.Context, state, code, iss, errCode, errDescription string) (*CallbackResult, error) {
	if err := s.oauthOn(); err != nil {
		return nil, err
	}
	if state == "" {
		return nil, errorf(ErrOAuthState, "the callback has no state")
	}
	hash := hashState(state)
	p, err := s.oauth.States.PeekOAuthState(ctx, hash, s.Now())
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, errorf(ErrOAuthState, "unknown, expired or already used state; start the authorization again")
		}
		return nil, err
	}
	c, err := s.store.GetConnection(ctx, p.TenantID, p.ConnectionID)
	if err != nil {
		return nil, err
	}
	// RFC 9207 applies to error responses too: a mix-up attacker must not
	// be able to mark the row failed with a state it learned.
	if err := s.oauth.Authorizer.CheckIss(c.OAuth, iss); err != nil {
		return nil, errorf(ErrOAuthState, "the authorization response's issuer does not match: %v", err)
	}
	if errCode == "" && code == "" {
		return nil, errorf(ErrOAuthState, "the callback has neither a code nor an error")
	}
	ok, err := s.oauth.States.ConsumeOAuthState(ctx, hash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(ErrOAuthState, "unknown, expired or already used state; start the authorization again")
	}
	if errCode != "" {
		// The authorization server's words, carried by the browser:
		// bounded and printable, as any server text tether shows.
		reason := "authorization failed: " + printable(errCode, 64)
		if errDescription != "" {
			reason += ": " + printable(errDescription, 200)
		}
		actx, au := auditing(WithActor(ctx, p.Actor), c.TenantID, s.Now)
		c, err := s.store.UpdateConnection(actx, c.TenantID, c.ID, func(c *Connection) error {
			before := *c
			c.Status, c.StatusReason = StatusError, reason
			au.record(ActionOAuthFailed, c.ID, c.ID, connectionChanges(&before, c))
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.notify(c, ConnectionUpdated)
		return &CallbackResult{Connection: c, Err: errors.New(reason)}, nil
	}
	// The state is spent: finish even if the browser goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	doc, xerr := s.oauth.Authorizer.Exchange(ctx, c.OAuth, code, p.Verifier, s.oauth.RedirectURI)
	var updated *Connection
	actx, au := auditing(WithActor(ctx, p.Actor), c.TenantID, s.Now)
	updated, err = s.store.UpdateConnection(actx, c.TenantID, c.ID, func(c *Connection) error {
		before := *c
		if xerr != nil {
			c.Status, c.StatusReason = StatusError, "token exchange failed: "+xerr.Error()
			au.record(ActionOAuthFailed, c.ID, c.ID, connectionChanges(&before, c))
			return nil
		}
		defer func() { au.record(ActionOAuthCompleted, c.ID, c.ID, connectionChanges(&before, c)) }()
		c.OAuth = doc
		c.Status, c.StatusReason = StatusActive, ""
		if !c.Enabled {
			c.Status = StatusDisabled
		}
		c.UpdatedAt = s.Now()
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(updated, ConnectionUpdated)
	if xerr != nil {
		return &CallbackResult{Connection: updated, Err: xerr}, nil
	}
	s.probeInBackground(ctx, updated) // the tool sync
	return &CallbackResult{Connection: updated}, nil
}

// setStatusAudited moves a row to status as ctx's actor, recording
// connection.updated when the status changed.
func (s *Service) setStatusAudited(ctx context.Context, c *Connection, status Status, reason string) (*Connection, error) {
	ctx, au := s.connectionAudit(ctx, c.TenantID)
	return s.store.UpdateConnection(ctx, c.TenantID, c.ID, func(c *Connection) error {
		before := *c
		c.Status, c.StatusReason = status, reason
		au.recordUpdate(&before, c)
		return nil
	})
}

// withAccessToken returns the connection as it should be dialled: for an
// OAuth connection, with a fresh access token in its Authorization header.
// A refreshed document is stored before the token is used (one refresh per
// connection at a time); a refused grant moves the row to reauth_required.
func (s *Service) withAccessToken(ctx context.Context, c *Connection) (*Connection, error) {
	if c.AuthType != AuthOAuth {
		return c, nil
	}
	if c.Status == StatusPendingOAuth || c.Status == StatusReauthRequired || len(c.OAuth) == 0 {
		return nil, errorf(ErrUpstreamAuth, "the connection is not authorized (%s); complete the OAuth authorization", c.Status)
	}
	if err := s.oauthOn(); err != nil {
		return nil, err
	}
	v, err, _ := s.oauth.refresh.Do(c.ID, func() (any, error) {
		// A refresh may rotate the refresh token: once the server has
		// answered, the new one must be stored even if the caller gave up,
		// or the next refresh fails with invalid_grant. So the refresh and
		// the save run on a context of their own.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// Re-read inside the flight: another refresh may have just stored a
		// rotated refresh token.
		cur, err := s.store.GetConnection(ctx, c.TenantID, c.ID)
		if err != nil {
			return nil, err
		}
		// Across a fleet, only the replica holding the connection's lock
		// refreshes; the others wait for it and then read what it stored
		// (a rotated refresh token must never be presented twice).
		locker, shared := s.store.(ConnectionLocker)
		checker, canCheck := s.oauth.Authorizer.(RefreshChecker)
		if shared && (!canCheck || checker.WouldRefresh(cur.OAuth)) {
			unlock, err := locker.LockConnection(ctx, c.ID)
			if err != nil {
				return nil, fmt.Errorf("lock the connection for a token refresh: %w", err)
			}
			defer unlock()
			if cur, err = s.store.GetConnection(ctx, c.TenantID, c.ID); err != nil {
				return nil, err
			}
		}
		token, updated, err := s.oauth.Authorizer.AccessToken(ctx, cur.OAuth)
		if errors.Is(err, ErrReauthRequired) {
			s.observe.ObserveTokenRefresh("invalid_grant")
			// tether's own change, whoever's call found it out.
			_, _ = s.setStatusAudited(WithActor(context.WithoutCancel(ctx), SystemActor), cur, StatusReauthRequired,
				"the authorization server refused tether's grant (a refresh token, or the client credentials); re-authorize this connection")
			s.notify(cur, ConnectionUpdated)
			return nil, errorf(ErrUpstreamAuth, "re-authorization required: the authorization server refused the grant")
		}
		if err != nil {
			s.observe.ObserveTokenRefresh("error")
			return nil, err
		}
		if updated != nil {
			if _, err := s.store.UpdateConnection(ctx, c.TenantID, c.ID, func(c *Connection) error {
				// A callback that stored a new grant meanwhile wins.
				if !bytes.Equal(c.OAuth, cur.OAuth) {
					return nil
				}
				c.OAuth = updated
				return nil
			}); err != nil {
				return nil, fmt.Errorf("store refreshed tokens: %w", err)
			}
			s.observe.ObserveTokenRefresh("ok")
		}
		return token, nil
	})
	if err != nil {
		return nil, err
	}
	out := *c
	out.Headers = Sensitive{}
	for k, v := range c.Headers {
		if !strings.EqualFold(k, "Authorization") {
			out.Headers[k] = v
		}
	}
	out.Headers["Authorization"] = "Bearer " + strings.ReplaceAll(v.(string), "{{", "")
	return &out, nil
}

// revokeInBackground revokes a deleted connection's tokens, best effort,
// without holding up the delete.
func (s *Service) revokeInBackground(doc SecretBlob) {
	if len(doc) == 0 || s.oauthOn() != nil {
		return
	}
	s.life.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := s.oauth.Authorizer.Revoke(ctx, doc); err != nil {
			s.log.Info("token revocation failed (best effort)", "error", err.Error())
		}
	})
}

// printable is s without control characters and invalid UTF-8, cut to at
// most n bytes on a rune boundary ("…" marks a cut): untrusted text fit for
// a status reason, a page and a log line.
func printable(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
