package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tether-dev/tether/registry"
)

// The history of tool definitions (migration 0008): one row per distinct
// fingerprint of a tool, kept to registry.MaxToolVersions per tool (those
// seen most recently: the current definition is never the one dropped),
// listed newest first seen first.

const toolVersionColumns = `tool_id, tenant_id, connection_id, hash, definition, first_seen_at, last_seen_at,
	approved_at, approved_by, rejected_at, rejected_by`

// recordVersion records that v was seen (and approved or rejected, when
// it says so). A sync records every tool it reads, so the common case is
// an update of an existing row; a new row prunes the tool's history.
// touchVersionSQL updates a version already in the history: its
// last_seen_at moves forward, and an approval or rejection is set.
const touchVersionSQL = `UPDATE tool_versions SET last_seen_at = CASE WHEN last_seen_at > ? THEN last_seen_at ELSE ? END,
			approved_at = coalesce(?, approved_at), approved_by = CASE WHEN CAST(? AS TEXT) IS NULL THEN approved_by ELSE ? END,
			rejected_at = coalesce(?, rejected_at), rejected_by = CASE WHEN CAST(? AS TEXT) IS NULL THEN rejected_by ELSE ? END
		WHERE tool_id = ? AND hash = ?`

func (s *Store) recordVersion(ctx context.Context, tx *sql.Tx, v *registry.ToolVersion) error {
	approvedAt, rejectedAt := formatTimePtr(v.ApprovedAt), formatTimePtr(v.RejectedAt)
	res, err := s.execTx(ctx, tx, touchVersionSQL,
		formatTime(v.LastSeenAt), formatTime(v.LastSeenAt), approvedAt, approvedAt, v.ApprovedBy, rejectedAt, rejectedAt, v.RejectedBy, v.ToolID, v.Hash)
	if err != nil {
		return fmt.Errorf("record tool version: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	def, err := json.Marshal(v.Definition)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tool_versions (`+toolVersionColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		v.ToolID, v.TenantID, v.ConnectionID, v.Hash, string(def), formatTime(v.FirstSeenAt), formatTime(v.LastSeenAt),
		approvedAt, v.ApprovedBy, rejectedAt, v.RejectedBy); err != nil {
		return fmt.Errorf("record tool version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM tool_versions WHERE tool_id = ? AND rowid NOT IN
		(SELECT rowid FROM tool_versions WHERE tool_id = ? ORDER BY last_seen_at DESC, rowid DESC LIMIT ?)`,
		v.ToolID, v.ToolID, registry.MaxToolVersions); err != nil {
		return fmt.Errorf("prune tool versions: %w", err)
	}
	return nil
}

// ToolVersions implements registry.Store.
func (s *Store) ToolVersions(ctx context.Context, tenantID, connectionID, toolID string) ([]registry.ToolVersion, error) {
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM tools WHERE tenant_id = ? AND connection_id = ? AND id = ?`,
		tenantID, connectionID, toolID).Scan(&one)
	if err == sql.ErrNoRows {
		return nil, &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no tool with id %q on this connection", toolID)}
	}
	if err != nil {
		return nil, fmt.Errorf("find tool: %w", err)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+toolVersionColumns+` FROM tool_versions
		WHERE tool_id = ? AND tenant_id = ? ORDER BY first_seen_at DESC, rowid DESC`, toolID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list tool versions: %w", err)
	}
	defer rows.Close()
	out := []registry.ToolVersion{}
	for rows.Next() {
		var (
			v                    registry.ToolVersion
			def, first, last     string
			approved, rejectedAt sql.NullString
		)
		if err := rows.Scan(&v.ToolID, &v.TenantID, &v.ConnectionID, &v.Hash, &def, &first, &last,
			&approved, &v.ApprovedBy, &rejectedAt, &v.RejectedBy); err != nil {
			return nil, fmt.Errorf("read tool version: %w", err)
		}
		if err := json.Unmarshal([]byte(def), &v.Definition); err != nil {
			return nil, fmt.Errorf("decode tool version %s: %w", v.Hash, err)
		}
		if v.FirstSeenAt, err = parseTime(first); err == nil {
			if v.LastSeenAt, err = parseTime(last); err == nil {
				if v.ApprovedAt, err = parseTimePtr(approved); err == nil {
					v.RejectedAt, err = parseTimePtr(rejectedAt)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("decode tool version %s: %w", v.Hash, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CountToolsAwaitingApproval counts, across every tenant, the tools a
// server still lists whose definition waits for a decision
// (pending_approval, changed, held): the fleet-wide gauge
// tether_tools_awaiting_approval.
func (s *Store) CountToolsAwaitingApproval(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM tools
		WHERE approval_status IN ('pending_approval', 'changed', 'held') AND available = 1`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count tools awaiting approval: %w", err)
	}
	return n, nil
}
