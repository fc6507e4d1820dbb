package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
)

var _ registry.OAuthStore = (*Store)(nil)

func stateAAD(p *registry.OAuthPending) secrets.AAD {
	return secrets.AAD{Tenant: p.TenantID, Table: "oauth_states", Column: "verifier", RowID: hex.EncodeToString(p.StateHash)}
}

// InsertOAuthState implements registry.OAuthStore; expired states are
// swept on the way.
func (s *Store) InsertOAuthState(ctx context.Context, p *registry.OAuthPending) error {
	verifier, err := s.sealBlob([]byte(p.Verifier), stateAAD(p))
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Expired states go, and so does any earlier pending authorization
		// of the same connection: only the newest authorize_url works.
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at <= ? OR connection_id = ?`,
			formatTime(p.CreatedAt), p.ConnectionID); err != nil {
			return fmt.Errorf("sweep OAuth states: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_states (state_hash, tenant_id, connection_id, verifier_enc, issuer, created_at, expires_at,
			actor_type, actor_key_id, actor_key_prefix)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.StateHash, p.TenantID, p.ConnectionID, verifier, p.Issuer, formatTime(p.CreatedAt), formatTime(p.ExpiresAt),
			nullIfEmpty(string(p.Actor.Type)), nullIfEmpty(p.Actor.KeyID), nullIfEmpty(p.Actor.KeyPrefix))
		if err != nil {
			return fmt.Errorf("store OAuth state: %w", err)
		}
		return nil
	})
}

// PeekOAuthState implements registry.OAuthStore.
func (s *Store) PeekOAuthState(ctx context.Context, stateHash []byte, now time.Time) (*registry.OAuthPending, error) {
	p := &registry.OAuthPending{StateHash: stateHash}
	var verifier []byte
	var created, expires string
	var actorType, actorKey, actorPrefix sql.NullString
	err := s.read.QueryRowContext(ctx, `SELECT tenant_id, connection_id, verifier_enc, issuer, created_at, expires_at,
		actor_type, actor_key_id, actor_key_prefix
		FROM oauth_states WHERE state_hash = ? AND expires_at > ?`, stateHash, formatTime(now)).
		Scan(&p.TenantID, &p.ConnectionID, &verifier, &p.Issuer, &created, &expires, &actorType, &actorKey, &actorPrefix)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &registry.Error{Kind: registry.ErrNotFound, Message: "no such OAuth state"}
	}
	if err != nil {
		return nil, fmt.Errorf("read OAuth state: %w", err)
	}
	plain, err := s.open(verifier, stateAAD(p))
	if err != nil {
		return nil, err
	}
	p.Verifier = string(plain)
	p.Actor = registry.Actor{Type: registry.ActorType(actorType.String), KeyID: actorKey.String, KeyPrefix: actorPrefix.String}
	if !actorType.Valid { // a state from before the audit log
		p.Actor = registry.SystemActor
	}
	if p.CreatedAt, err = parseTime(created); err == nil {
		p.ExpiresAt, err = parseTime(expires)
	}
	return p, err
}

// ConsumeOAuthState implements registry.OAuthStore.
func (s *Store) ConsumeOAuthState(ctx context.Context, stateHash []byte) (bool, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE state_hash = ?`, stateHash)
		if err != nil {
			return fmt.Errorf("consume OAuth state: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n == 1, err
}
