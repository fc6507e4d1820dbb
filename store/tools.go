package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tether-dev/tether/registry"
)

const toolColumns = `id, connection_id, tenant_id, name, slug, title, description, input_schema, output_schema,
	response_field_map, input_defaults, is_enabled, available, stale_input_fields, position,
	last_seen_at, created_at, updated_at,
	annotations, definition_hash, approval_status, approved_hash, approved_definition, rejected_hash, breaking,
	title_override, description_override`

// UpdateConnectionTools implements registry.Store.
func (s *Store) UpdateConnectionTools(ctx context.Context, tenantID, id string, fn func(*registry.Connection, []*registry.Tool) ([]*registry.Tool, error)) (*registry.Connection, []*registry.Tool, error) {
	var (
		conn  *registry.Connection
		tools []*registry.Tool
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.getConnection(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		old, err := s.toolsInTx(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		routine := registry.IsRoutineRefresh(ctx)
		var read []storedTool
		if routine {
			read = toolsAsRead(old[id])
		}
		changed, err := fn(c, old[id])
		if err != nil {
			return err
		}
		if routine {
			// fn moved nothing but the timestamps of a refresh (the
			// registry checked): write those alone, without re-encrypting
			// the row's credentials or rewriting each tool's definition.
			if err := s.touchRefresh(ctx, tx, c, old[id], read, changed); err != nil {
				return err
			}
			// fn's tools are the ones read (timestamps moved in place),
			// in the same order: as stored.
			conn, tools = c, old[id]
			return nil
		}
		if err := s.writeConnection(ctx, tx, c); err != nil {
			return err
		}
		for _, t := range changed {
			write := s.upsertTool
			if t.Removed {
				write = deleteTool
			}
			if err := write(ctx, tx, t); err != nil {
				return err
			}
			if t.Version != nil && !t.Removed {
				if err := s.recordVersion(ctx, tx, t.Version); err != nil {
					return err
				}
			}
		}
		after, err := s.toolsInTx(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		conn, tools = c, after[id]
		return nil
	})
	return conn, tools, err
}

// touchConnectionSQL moves the timestamps a routine refresh moves.
const touchConnectionSQL = `UPDATE connections SET connected_at = ?, tools_synced_at = ?, last_refreshed_at = ?, rev = rev + 1
	WHERE tenant_id = ? AND id = ?`

// touchConnection stores the timestamps of a routine refresh of c.
func (s *Store) touchConnection(ctx context.Context, tx *sql.Tx, c *registry.Connection) error {
	res, err := s.execTx(ctx, tx, touchConnectionSQL, formatTimePtr(c.ConnectedAt), formatTimePtr(c.ToolsSyncedAt),
		formatTimePtr(c.LastRefreshedAt), c.TenantID, c.ID)
	if err != nil {
		return fmt.Errorf("update connection: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update connection %s: %d rows changed", c.ID, n)
	}
	return nil
}

// storedTool is what movedTogether compares a tool with: the fields a
// routine refresh may move or relies on, as read.
type storedTool struct {
	lastSeen, updated time.Time
	hash              string
	available         bool
}

// toolsAsRead notes those fields of tools before fn moves them in place.
func toolsAsRead(tools []*registry.Tool) []storedTool {
	out := make([]storedTool, len(tools))
	for i, t := range tools {
		out[i] = storedTool{t.LastSeenAt, t.UpdatedAt, t.DefinitionHash, t.Available}
	}
	return out
}

// touchRefresh stores the timestamps a routine refresh moved on c and its
// tools (tools: as read, and read: their fields before fn; changed: what
// fn returned). The usual refresh moves every available tool to the same
// timestamps, and each one's current version to that last_seen_at: then
// one statement per table (SQLite), or one in all (PostgreSQL, where each
// is a round trip), instead of two per tool. Anything else is written
// tool by tool.
func (s *Store) touchRefresh(ctx context.Context, tx *sql.Tx, c *registry.Connection, tools []*registry.Tool, read []storedTool, changed []*registry.Tool) error {
	seen, updated, together := movedTogether(tools, read, changed)
	if !together {
		if err := s.touchConnection(ctx, tx, c); err != nil {
			return err
		}
		for _, t := range changed {
			if err := s.touchTool(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	}
	var available int64
	for _, t := range changed {
		if t.Version != nil {
			available++
		}
	}
	var conns, touched, versions int64
	if q := s.dialect.touchRefresh; q != "" {
		err := s.queryRowTx(ctx, tx, q, formatTimePtr(c.ConnectedAt), formatTimePtr(c.ToolsSyncedAt),
			formatTimePtr(c.LastRefreshedAt), c.TenantID, c.ID,
			formatTime(seen), formatTime(updated), c.TenantID, c.ID,
			formatTime(seen), formatTime(seen), c.TenantID, c.ID).Scan(&conns, &touched, &versions)
		if err != nil {
			return fmt.Errorf("update connection and tools: %w", err)
		}
		if conns != 1 {
			return fmt.Errorf("update connection %s: %d rows changed", c.ID, conns)
		}
	} else {
		if err := s.touchConnection(ctx, tx, c); err != nil {
			return err
		}
		res, err := s.execTx(ctx, tx, touchAvailableSQL, formatTime(seen), formatTime(updated), c.TenantID, c.ID)
		if err != nil {
			return fmt.Errorf("store tools: %w", err)
		}
		touched, _ = res.RowsAffected()
		if touched == available {
			res, err = s.execTx(ctx, tx, touchAvailableVersionsSQL, formatTime(seen), formatTime(seen), c.TenantID, c.ID)
			if err != nil {
				return fmt.Errorf("record tool versions: %w", err)
			}
			versions, _ = res.RowsAffected()
		}
	}
	if touched != available {
		return fmt.Errorf("store tools of %s: %d rows changed, want %d", c.ID, touched, available)
	}
	if versions == available {
		return nil
	}
	// A current version missing from the history (a tool stored before
	// the history existed): recorded as touchTool would (touching the
	// others again changes nothing).
	for _, t := range changed {
		if t.Version != nil {
			if err := s.recordVersion(ctx, tx, t.Version); err != nil {
				return err
			}
		}
	}
	return nil
}

// movedTogether reports whether fn moved exactly the tools stored as
// available, all of them, to the same last_seen_at and updated_at, and
// each one's current version (its stored fingerprint, neither approved nor
// rejected now) to that last_seen_at; and if so, those timestamps. The
// tools fn returned are among those read (a routine refresh adds none);
// one it did not return moved nothing.
func movedTogether(tools []*registry.Tool, read []storedTool, changed []*registry.Tool) (seen, updated time.Time, ok bool) {
	returned := make(map[*registry.Tool]bool, len(changed))
	for _, t := range changed {
		returned[t] = true
	}
	if len(returned) != len(changed) {
		return seen, updated, false
	}
	first := true
	for i, t := range tools {
		r := read[i]
		if !returned[t] {
			if r.available {
				return seen, updated, false
			}
			continue
		}
		delete(returned, t)
		moved := t.Version != nil || !t.LastSeenAt.Equal(r.lastSeen) || !t.UpdatedAt.Equal(r.updated)
		if !r.available {
			if moved {
				return seen, updated, false
			}
			continue
		}
		v := t.Version
		if v == nil || v.Hash != r.hash || t.DefinitionHash != r.hash || v.ApprovedAt != nil || v.RejectedAt != nil ||
			v.ApprovedBy != "" || v.RejectedBy != "" || !v.LastSeenAt.Equal(t.LastSeenAt) {
			return seen, updated, false
		}
		if first {
			seen, updated, first = t.LastSeenAt, t.UpdatedAt, false
		} else if !t.LastSeenAt.Equal(seen) || !t.UpdatedAt.Equal(updated) {
			return seen, updated, false
		}
	}
	// Nothing returned that was not read; something moved.
	return seen, updated, len(returned) == 0 && !first
}

// touchAvailableSQL moves the timestamps of every available tool of a
// connection.
const touchAvailableSQL = `UPDATE tools SET last_seen_at = ?, updated_at = ?
	WHERE tenant_id = ? AND connection_id = ? AND available = 1`

// touchAvailableVersionsSQL moves the last_seen_at of the current version
// of every available tool of a connection, as touchVersionSQL does for one.
const touchAvailableVersionsSQL = `UPDATE tool_versions SET last_seen_at = CASE WHEN last_seen_at > ? THEN last_seen_at ELSE ? END
	WHERE (tool_id, hash) IN (SELECT id, definition_hash FROM tools WHERE tenant_id = ? AND connection_id = ? AND available = 1)`

// touchRefreshSQL is touchConnectionSQL, touchAvailableSQL and
// touchAvailableVersionsSQL in one statement, returning the rows each
// changed (PostgreSQL: the three see one snapshot, and the third reads of
// tools only columns the second leaves).
const touchRefreshSQL = `WITH c AS (` + touchConnectionSQL + ` RETURNING 1),
	t AS (` + touchAvailableSQL + ` RETURNING 1),
	v AS (` + touchAvailableVersionsSQL + ` RETURNING 1)
	SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM t), (SELECT count(*) FROM v)`

// touchToolSQL moves the timestamps a routine refresh moves on a tool.
const touchToolSQL = `UPDATE tools SET last_seen_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`

// touchTool stores the timestamps of a routine refresh of t, and moves
// its current version's last_seen_at.
func (s *Store) touchTool(ctx context.Context, tx *sql.Tx, t *registry.Tool) error {
	if _, err := s.execTx(ctx, tx, touchToolSQL, formatTime(t.LastSeenAt), formatTime(t.UpdatedAt), t.TenantID, t.ID); err != nil {
		return fmt.Errorf("store tool %s: %w", t.Name, err)
	}
	if t.Version != nil {
		return s.recordVersion(ctx, tx, t.Version)
	}
	return nil
}

// ListTools implements registry.Store.
func (s *Store) ListTools(ctx context.Context, tenantID string, connectionIDs ...string) (map[string][]*registry.Tool, error) {
	if len(connectionIDs) == 1 {
		// One connection's tools (every Feather read of a connection): the
		// prepared statement.
		rows, err := s.toolsLookup.QueryContext(ctx, tenantID, connectionIDs[0])
		if err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		return collectTools(rows)
	}
	return listTools(ctx, s.read, tenantID, connectionIDs)
}

// toolsInTx reads one connection's tools in tx, by connection id.
func (s *Store) toolsInTx(ctx context.Context, tx *sql.Tx, tenantID, id string) (map[string][]*registry.Tool, error) {
	rows, err := s.queryTx(ctx, tx, toolsOfConnectionSQL, tenantID, id)
	if err != nil {
		return nil, fmt.Errorf("list tools: %w", err)
	}
	return collectTools(rows)
}

const toolsOfConnectionSQL = `SELECT ` + toolColumns + ` FROM tools WHERE tenant_id = ? AND connection_id = ? ORDER BY connection_id, name`

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func listTools(ctx context.Context, q queryer, tenantID string, connectionIDs []string) (map[string][]*registry.Tool, error) {
	query := `SELECT ` + toolColumns + ` FROM tools WHERE tenant_id = ?`
	args := []any{tenantID}
	if len(connectionIDs) > 0 {
		query += ` AND connection_id IN (?` + strings.Repeat(",?", len(connectionIDs)-1) + `)`
		for _, id := range connectionIDs {
			args = append(args, id)
		}
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY connection_id, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tools: %w", err)
	}
	return collectTools(rows)
}

// collectTools reads tool rows, by connection id.
func collectTools(rows *sql.Rows) (map[string][]*registry.Tool, error) {
	defer rows.Close()
	out := map[string][]*registry.Tool{}
	for rows.Next() {
		t, err := scanTool(rows)
		if err != nil {
			return nil, err
		}
		out[t.ConnectionID] = append(out[t.ConnectionID], t)
	}
	return out, rows.Err()
}

// deleteTool forgets a tool the registry dropped (registry.Tool.Removed).
func deleteTool(ctx context.Context, tx *sql.Tx, t *registry.Tool) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM tools WHERE tenant_id = ? AND id = ?`, t.TenantID, t.ID); err != nil {
		return fmt.Errorf("delete tool %s: %w", t.Name, err)
	}
	return nil
}

// upsertToolSQL stores a tool: every column, a new row or an update.
var upsertToolSQL = `INSERT INTO tools (` + toolColumns + `) VALUES (?` + strings.Repeat(",?", 26) + `)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, slug = excluded.slug, title = excluded.title,
			description = excluded.description, input_schema = excluded.input_schema, output_schema = excluded.output_schema,
			response_field_map = excluded.response_field_map, input_defaults = excluded.input_defaults,
			is_enabled = excluded.is_enabled, available = excluded.available, stale_input_fields = excluded.stale_input_fields,
			position = excluded.position, last_seen_at = excluded.last_seen_at, updated_at = excluded.updated_at,
			annotations = excluded.annotations, definition_hash = excluded.definition_hash,
			approval_status = excluded.approval_status, approved_hash = excluded.approved_hash,
			approved_definition = excluded.approved_definition, rejected_hash = excluded.rejected_hash,
			breaking = excluded.breaking, title_override = excluded.title_override,
			description_override = excluded.description_override`

func (s *Store) upsertTool(ctx context.Context, tx *sql.Tx, t *registry.Tool) error {
	input, err := json.Marshal(t.InputSchema)
	if err != nil {
		return err
	}
	stale, err := json.Marshal(nonNil(t.StaleInputFields))
	if err != nil {
		return err
	}
	output, err := jsonOrNull(t.OutputSchema)
	if err != nil {
		return err
	}
	fieldMap, err := jsonOrNull(t.ResponseFieldMap)
	if err != nil {
		return err
	}
	defaults, err := jsonOrNull(t.InputDefaults)
	if err != nil {
		return err
	}
	annotations, err := jsonOrNull(t.Annotations)
	if err != nil {
		return err
	}
	var approved any
	if t.Approved != nil {
		b, err := json.Marshal(t.Approved)
		if err != nil {
			return err
		}
		approved = string(b)
	}
	_, err = s.execTx(ctx, tx, upsertToolSQL,
		t.ID, t.ConnectionID, t.TenantID, t.Name, t.Slug, t.Title, t.Description, string(input), output,
		fieldMap, defaults, t.Enabled, t.Available, string(stale), t.Position,
		formatTime(t.LastSeenAt), formatTime(t.CreatedAt), formatTime(t.UpdatedAt),
		annotations, t.DefinitionHash, string(t.ApprovalStatus), t.ApprovedHash, approved, t.RejectedHash, t.Breaking,
		nullString(t.TitleOverride), nullString(t.DescriptionOverride))
	if err != nil {
		return fmt.Errorf("store tool %s: %w", t.Name, err)
	}
	return nil
}

func scanTool(row scanner) (*registry.Tool, error) {
	var (
		t                          registry.Tool
		input, stale               string
		output, fieldMap, defaults sql.NullString
		lastSeen, created, updated string
		annotations, approved      sql.NullString
		status                     string
		titleOver, descOver        sql.NullString
	)
	if err := row.Scan(&t.ID, &t.ConnectionID, &t.TenantID, &t.Name, &t.Slug, &t.Title, &t.Description, &input, &output,
		&fieldMap, &defaults, &t.Enabled, &t.Available, &stale, &t.Position, &lastSeen, &created, &updated,
		&annotations, &t.DefinitionHash, &status, &t.ApprovedHash, &approved, &t.RejectedHash, &t.Breaking,
		&titleOver, &descOver); err != nil {
		return nil, fmt.Errorf("read tool: %w", err)
	}
	t.ApprovalStatus = registry.ApprovalStatus(status)
	t.TitleOverride, t.DescriptionOverride = stringPtr(titleOver), stringPtr(descOver)
	var err error
	decode := func(src string, dst any) {
		if err == nil && src != "" {
			err = json.Unmarshal([]byte(src), dst)
		}
	}
	decode(input, &t.InputSchema)
	if stale == "[]" { // the common case needs no decoder
		t.StaleInputFields = []string{}
	} else {
		decode(stale, &t.StaleInputFields)
	}
	decode(output.String, &t.OutputSchema)
	decode(fieldMap.String, &t.ResponseFieldMap)
	decode(defaults.String, &t.InputDefaults)
	decode(annotations.String, &t.Annotations)
	if approved.Valid {
		t.Approved = &registry.Definition{}
		decode(approved.String, t.Approved)
	}
	if err == nil {
		if t.LastSeenAt, err = parseTime(lastSeen); err == nil {
			if t.CreatedAt, err = parseTime(created); err == nil {
				t.UpdatedAt, err = parseTime(updated)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("decode tool %s: %w", t.ID, err)
	}
	if t.DefinitionHash == "" {
		registry.AdoptLegacy(&t) // stored before migration 0008
	}
	return &t, nil
}

// ListProbeTargets implements registry.Store.
func (s *Store) ListProbeTargets(ctx context.Context) ([]*registry.Connection, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections
		WHERE enabled = 1 AND status IN ('active', 'error') ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list probe targets: %w", err)
	}
	defer rows.Close()
	var out []*registry.Connection
	for rows.Next() {
		c, err := s.scanConnection(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// jsonOrNull encodes v, or SQL NULL for a nil map.
func jsonOrNull[M ~map[string]V, V any](v M) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// nullString stores an optional string: NULL for nil.
func nullString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// stringPtr reads an optional string.
func stringPtr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
