package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// authChallenger is an upstream failure that carries the server's
// WWW-Authenticate challenge (mcpclient's errors do, for 401 and 403).
type authChallenger interface{ AuthChallenge() string }

// challengeOf returns the WWW-Authenticate challenge behind err, or "".
func challengeOf(err error) string {
	var ac authChallenger
	if errors.As(err, &ac) {
		return ac.AuthChallenge()
	}
	return ""
}

// errNoStepUp: the challenge is not a step-up; nothing to store.
var errNoStepUp = errors.New("not a step-up challenge")

// stepUp handles the MCP step-up authorization flow: an OAuth
// connection's server answered a call or a probe with 403 and
// WWW-Authenticate error="insufficient_scope". The challenged scopes are
// added to those its next authorization asks for (accumulated with the
// stored ones, SEP-2350, in the encrypted OAuth document) and the row moves
// to reauth_required with a status_reason naming them, in both dialects;
// reauthorize then requests them all. It returns the error to report: for a
// step-up, one that says so; otherwise err as it was.
func (s *Service) stepUp(ctx context.Context, c *Connection, err error) error {
	if err == nil || c.AuthType != AuthOAuth || !errors.Is(err, ErrUpstreamAuth) || s.oauthOn() != nil {
		return err
	}
	challenge := challengeOf(err)
	if challenge == "" {
		return err
	}
	// The row must change even if the caller went away: the next call
	// would otherwise hit the same 403 without the user learning why.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var scopes []string
	// tether's own change, whoever's call found it out: audited as the
	// system's.
	ctx, au := s.connectionAudit(WithActor(ctx, SystemActor), c.TenantID)
	updated, uerr := s.store.UpdateConnection(ctx, c.TenantID, c.ID, func(cur *Connection) error {
		before := *cur
		if cur.AuthType != AuthOAuth || len(cur.OAuth) == 0 {
			return errNoStepUp
		}
		doc, sc, ok, err := s.oauth.Authorizer.StepUp(cur.OAuth, challenge)
		if err != nil {
			return err
		}
		if !ok {
			return errNoStepUp
		}
		scopes = sc
		cur.OAuth = doc
		if cur.Enabled {
			cur.Status, cur.StatusReason = StatusReauthRequired, stepUpReason(sc)
		}
		cur.UpdatedAt = s.Now()
		au.recordUpdate(&before, cur)
		return nil
	})
	switch {
	case errors.Is(uerr, errNoStepUp):
		return err
	case uerr != nil:
		s.log.Warn("record a step-up challenge", "connection_id", c.ID, "error", uerr.Error())
		return err
	}
	s.notify(updated, ConnectionUpdated)
	return &Error{Kind: ErrUpstreamAuth, Message: "authentication rejected: insufficient scope: " + stepUpReason(scopes)}
}

// stepUpReason is the status_reason of a row stopped by a step-up
// challenge.
func stepUpReason(scopes []string) string {
	if len(scopes) == 0 {
		return "the server requires a wider authorization (insufficient_scope); re-authorize this connection"
	}
	return fmt.Sprintf("the server requires a wider authorization (insufficient_scope); re-authorize this connection for the scopes %q",
		strings.Join(scopes, " "))
}
