package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/store"
)

// auditCommand runs `tether audit --tenant NAME [--since RFC3339]` and
// `tether audit --operator`: the audit log as JSON lines, newest first,
// in the API's event shape.
func auditCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := cliFlags("audit", stderr)
	var tenant, since string
	var operator bool
	var limit int
	fs.StringVar(&tenant, "tenant", "", "the tenant (name or id) whose events to print")
	fs.BoolVar(&operator, "operator", false, "print the operator events (keyring rotations and retirements, tenants created and deleted)")
	fs.StringVar(&since, "since", "", "only events at or after this time (RFC 3339)")
	fs.IntVar(&limit, "limit", 0, "print at most this many events (0: all)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if (tenant == "") == !operator {
		return errors.New("usage: tether audit --tenant NAME [--since RFC3339] | --operator [--since RFC3339]")
	}
	q := registry.AuditQuery{}
	if since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		q.Since = &t
	}
	st, err := openStoreForCLI(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	log := registry.NewAuditLog(st, nil)
	list := log.ListOperator
	if !operator {
		t, err := st.GetTenant(ctx, tenant)
		if err != nil {
			return err
		}
		list = func(ctx context.Context, q registry.AuditQuery) (*registry.AuditPage, error) {
			return log.List(ctx, t.ID, q)
		}
	}
	enc := json.NewEncoder(stdout)
	printed := 0
	for {
		q.Limit = registry.MaxAuditLimit
		if limit > 0 {
			q.Limit = min(q.Limit, limit-printed)
		}
		page, err := list(ctx, q)
		if err != nil {
			return err
		}
		for _, ev := range page.Events {
			if err := enc.Encode(auditLine(ev)); err != nil {
				return err
			}
		}
		printed += len(page.Events)
		if page.NextCursor == "" || (limit > 0 && printed >= limit) {
			return nil
		}
		q.Cursor = page.NextCursor
	}
}

// auditJSON is one line of `tether audit`: the API's event shape.
type auditJSON struct {
	ID           string           `json:"id"`
	At           string           `json:"at"`
	Actor        auditActorJSON   `json:"actor"`
	Action       string           `json:"action"`
	TargetID     string           `json:"target_id"`
	ConnectionID *string          `json:"connection_id"`
	Changes      registry.Changes `json:"changes"`
}

type auditActorJSON struct {
	Type      string  `json:"type"`
	KeyID     *string `json:"key_id"`
	KeyPrefix *string `json:"key_prefix"`
}

func auditLine(ev registry.AuditEvent) auditJSON {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	changes := ev.Changes
	if changes == nil {
		changes = registry.Changes{}
	}
	return auditJSON{ID: ev.ID, At: ev.At.UTC().Format(time.RFC3339Nano), Action: string(ev.Action), TargetID: ev.TargetID,
		ConnectionID: opt(ev.ConnectionID), Changes: changes,
		Actor: auditActorJSON{Type: string(ev.Actor.Type), KeyID: opt(ev.Actor.KeyID), KeyPrefix: opt(ev.Actor.KeyPrefix)}}
}

// recordOperatorEvent records a keyring change made by the CLI; the
// change (a keys file) cannot share a transaction with the record, so it
// is recorded right after it.
func recordOperatorEvent(ctx context.Context, db string, action registry.AuditAction, keyID string) error {
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	ctx = registry.WithActor(ctx, registry.Actor{Type: registry.ActorCLI})
	return registry.NewAuditLog(st, nil).RecordOperator(ctx, action, keyID, registry.Changes{})
}
