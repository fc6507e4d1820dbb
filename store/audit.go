package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/registry"
)

var _ registry.AuditStore = (*Store)(nil)

// insertAudit writes events in tx (the transaction of the change they
// record).
func insertAudit(ctx context.Context, tx *sql.Tx, events []registry.AuditEvent) error {
	for _, ev := range events {
		changes, err := json.Marshal(ev.Changes)
		if err != nil {
			return fmt.Errorf("encode audit changes: %w", err)
		}
		if ev.Changes == nil {
			changes = []byte("{}")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_events (id, tenant_id, at, actor_type, actor_key_id, actor_key_prefix,
			action, target_id, connection_id, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ev.ID, nullIfEmpty(ev.TenantID), formatTime(ev.At), string(ev.Actor.Type), nullIfEmpty(ev.Actor.KeyID),
			nullIfEmpty(ev.Actor.KeyPrefix), string(ev.Action), ev.TargetID, nullIfEmpty(ev.ConnectionID), string(changes)); err != nil {
			return fmt.Errorf("insert audit event: %w", err)
		}
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// RecordOperatorEvent implements registry.AuditStore.
func (s *Store) RecordOperatorEvent(ctx context.Context, ev registry.AuditEvent) error {
	ev.TenantID = ""
	return s.inTx(ctx, func(tx *sql.Tx) error { return insertAudit(ctx, tx, []registry.AuditEvent{ev}) })
}

// ListAudit implements registry.AuditStore. The cursor is the seq of the
// last event of the previous page: pages follow the insertion order,
// which is the commit order (one writer), so no event is skipped or
// repeated while new ones arrive.
func (s *Store) ListAudit(ctx context.Context, q registry.AuditQuery) (*registry.AuditPage, error) {
	var where []string
	var args []any
	if q.Operator {
		where = append(where, "tenant_id IS NULL")
	} else {
		where = append(where, "tenant_id = ?")
		args = append(args, q.TenantID)
	}
	if q.ConnectionID != "" {
		where = append(where, "connection_id = ?")
		args = append(args, q.ConnectionID)
	}
	if q.Since != nil {
		where = append(where, "at >= ?")
		args = append(args, formatTime(*q.Since))
	}
	if q.Cursor != "" {
		seq, err := strconv.ParseInt(q.Cursor, 10, 64)
		if err != nil || seq < 1 {
			return nil, &registry.Error{Kind: registry.ErrValidation, Message: "cursor is not one this API returned"}
		}
		where = append(where, "seq < ?")
		args = append(args, seq)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = registry.DefaultAuditLimit
	}
	rows, err := s.read.QueryContext(ctx, `SELECT seq, id, tenant_id, at, actor_type, actor_key_id, actor_key_prefix,
		action, target_id, connection_id, changes FROM audit_events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	page := &registry.AuditPage{Events: []registry.AuditEvent{}}
	var lastSeq int64
	for rows.Next() {
		var (
			ev                             registry.AuditEvent
			seq                            int64
			tenant, keyID, prefix, connID  sql.NullString
			at, actorType, action, changes string
		)
		if err := rows.Scan(&seq, &ev.ID, &tenant, &at, &actorType, &keyID, &prefix, &action, &ev.TargetID, &connID, &changes); err != nil {
			return nil, fmt.Errorf("read audit event: %w", err)
		}
		if len(page.Events) == limit {
			page.NextCursor = strconv.FormatInt(lastSeq, 10)
			break
		}
		ev.TenantID, ev.ConnectionID = tenant.String, connID.String
		ev.Actor = registry.Actor{Type: registry.ActorType(actorType), KeyID: keyID.String, KeyPrefix: prefix.String}
		ev.Action = registry.AuditAction(action)
		if ev.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read audit event %s: %w", ev.ID, err)
		}
		if err := json.Unmarshal([]byte(changes), &ev.Changes); err != nil {
			return nil, fmt.Errorf("decode audit event %s: %w", ev.ID, err)
		}
		page.Events = append(page.Events, ev)
		lastSeq = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return page, nil
}

// PruneAudit implements registry.AuditStore, in batches so that the one
// writer is never held for long.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE seq IN
				(SELECT seq FROM audit_events WHERE at < ? ORDER BY at LIMIT 1000)`, formatTime(before))
			if err != nil {
				return fmt.Errorf("prune audit events: %w", err)
			}
			n, _ = res.RowsAffected()
			return nil
		})
		total += int(n)
		if err != nil || n < 1000 {
			return total, err
		}
	}
}
