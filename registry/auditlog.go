package registry

import (
	"context"
	"log/slog"
	"time"

	"github.com/tether-dev/tether/internal/lifetime"
)

// DefaultAuditRetention is how long audit events are kept unless the
// operator says otherwise (--audit-retention).
const DefaultAuditRetention = 90 * 24 * time.Hour

// AuditLog reads the audit log and keeps it within its retention.
type AuditLog struct {
	store AuditStore
	log   *slog.Logger
	now   func() time.Time
	life  *lifetime.Group
}

// NewAuditLog returns the audit log over st; logger may be nil.
func NewAuditLog(st AuditStore, logger *slog.Logger) *AuditLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &AuditLog{store: st, log: logger, now: time.Now, life: lifetime.New()}
}

// List returns a page of one tenant's events, newest first.
func (a *AuditLog) List(ctx context.Context, tenantID string, q AuditQuery) (*AuditPage, error) {
	if tenantID == "" {
		return nil, errorf(ErrNotFound, "no tenant")
	}
	q.TenantID, q.Operator = tenantID, false
	return a.list(ctx, q)
}

// ListOperator returns a page of the operator events (no tenant), newest
// first.
func (a *AuditLog) ListOperator(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	q.TenantID, q.Operator, q.ConnectionID = "", true, ""
	return a.list(ctx, q)
}

func (a *AuditLog) list(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	switch {
	case q.Limit == 0:
		q.Limit = DefaultAuditLimit
	case q.Limit < 1 || q.Limit > MaxAuditLimit:
		return nil, errorf(ErrValidation, "limit must be between 1 and %d", MaxAuditLimit)
	}
	return a.store.ListAudit(ctx, q)
}

// RecordOperator stores an operator event (no tenant) as ctx's actor.
func (a *AuditLog) RecordOperator(ctx context.Context, action AuditAction, target string, changes Changes) error {
	_, au := auditing(ctx, "", func() time.Time { return a.now().UTC().Truncate(time.Millisecond) })
	return a.store.RecordOperatorEvent(ctx, au.event(action, target, "", changes))
}

// Prune deletes the events older than retention.
func (a *AuditLog) Prune(ctx context.Context, retention time.Duration) (int, error) {
	return a.store.PruneAudit(ctx, a.now().Add(-retention))
}

// StartRetention prunes events older than retention now and then every
// interval (an hour, or the retention when shorter) until Close.
func (a *AuditLog) StartRetention(retention time.Duration) {
	if retention <= 0 {
		return
	}
	every := min(time.Hour, retention)
	a.life.Go(func(ctx context.Context) {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if n, err := a.Prune(ctx, retention); err != nil {
				if ctx.Err() == nil {
					a.log.Warn("audit retention", "error", err.Error())
				}
			} else if n > 0 {
				a.log.Info("audit retention: pruned old events", "events", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// Close stops the retention loop.
func (a *AuditLog) Close() { a.life.Close() }
