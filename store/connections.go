package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ registry.Store = (*Store)(nil)

// plainColumns are a connection's columns that hold no secret, in the
// order plainRow reads them.
const plainColumns = `id, tenant_id, slug, nickname, description, transport, connected_transport,
	endpoint, command, args, auth_type, auto_connect, enabled, timeout_ms,
	persona_id, status, status_reason, tools_status, tool_count, connected_at, tools_synced_at,
	last_refreshed_at, last_used_at, created_at, updated_at, server_info, protocol_version,
	tool_policy, tool_prefix, tools_ttl_ms`

// connectionColumns are the columns a write sets, in the order of
// connectionArgs: the plain ones, the ciphertexts, and what lists show of
// the credentials (listing.go).
const connectionColumns = plainColumns + `, headers_enc, secrets_enc, oauth_enc, secret_names, header_view`

// InsertConnectionCapped implements registry.Store (maxPerTenant ≤ 0: no
// cap). The count and the insert share the one writer's transaction, so
// concurrent creates see each other and a tenant never ends up above
// maxPerTenant.
func (s *Store) InsertConnectionCapped(ctx context.Context, c *registry.Connection, uniqueSuffix bool, maxPerTenant int) error {
	base := c.Slug // a rerun (PostgreSQL) looks for a free slug from base again
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkConnectionCap(ctx, tx, c.TenantID, maxPerTenant); err != nil {
			return err
		}
		if uniqueSuffix {
			slug, err := freeSlug(ctx, tx, c.TenantID, base)
			if err != nil {
				return err
			}
			c.Slug = slug
		}
		args, err := s.connectionArgs(c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO connections (`+connectionColumns+`)
			VALUES (?`+strings.Repeat(",?", len(args)-1)+`)`, args...)
		if isUniqueViolation(err) && uniqueSuffix && s.pg != nil {
			// A concurrent create on another connection took the free
			// slug this one found: PostgreSQL does not always report
			// that as a serialization failure. Find the next one afresh.
			return errRetry
		}
		if isUniqueViolation(err) {
			return &registry.Error{Kind: registry.ErrNameExists,
				Message: fmt.Sprintf("an MCP server named %q already exists", registry.NameFromSlug(c.Slug))}
		}
		if err != nil {
			return fmt.Errorf("insert connection: %w", err)
		}
		return nil
	})
}

// checkConnectionCap refuses a tenant that already holds max connections
// (max ≤ 0: no cap). The number is connection_counts' (kept by triggers in
// the same transactions as the rows), not a count of the rows; a tenant
// without a row there has none.
func checkConnectionCap(ctx context.Context, tx *sql.Tx, tenantID string, max int) error {
	if max <= 0 {
		return nil
	}
	var n int
	err := tx.QueryRowContext(ctx, `SELECT n FROM connection_counts WHERE tenant_id = ? AND status = ''`, tenantID).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("count connections: %w", err)
	}
	if n >= max {
		return &registry.Error{Kind: registry.ErrLimitExceeded, Message: fmt.Sprintf(
			"this tenant has %d connections, the most it may register (limit %d); delete one first", n, max)}
	}
	return nil
}

// freeSlug returns base, or base_N with the smallest free N ≥ 2. It reads
// only base itself and the numbered "base_N" slugs (an index range from
// "base_0" to "base_:", ':' being the byte after '9'), not every slug that
// merely starts with base ("bench_5" must not scan "bench_50".."bench_5999").
func freeSlug(ctx context.Context, tx *sql.Tx, tenantID, base string) (string, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM connections WHERE tenant_id = ? AND slug = ?`, tenantID, base).Scan(&n); err != nil {
		return "", fmt.Errorf("find free slug: %w", err)
	}
	if n == 0 {
		return base, nil
	}
	rows, err := tx.QueryContext(ctx,
		"SELECT slug FROM connections WHERE tenant_id = ? AND slug >= ? AND slug < ?",
		tenantID, base+"_0", base+"_:")
	if err != nil {
		return "", fmt.Errorf("find free slug: %w", err)
	}
	defer rows.Close()
	taken := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", err
		}
		taken[s] = true
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	for n := 2; ; n++ {
		if s := base + "_" + strconv.Itoa(n); !taken[s] {
			return s, nil
		}
	}
}

// GetConnection implements registry.Store.
func (s *Store) GetConnection(ctx context.Context, tenantID, id string) (*registry.Connection, error) {
	// The prepared statement: parsing this 30-column SELECT was a fifth of
	// a GET's CPU.
	c, err := s.scanConnection(s.connLookup.QueryRowContext(ctx, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	}
	return c, err
}

const getConnectionSQL = `SELECT ` + connectionColumns + ` FROM connections WHERE tenant_id = ? AND id = ?`

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) getConnection(ctx context.Context, q querier, tenantID, id string) (*registry.Connection, error) {
	var row *sql.Row
	if tx, ok := q.(*sql.Tx); ok {
		row = s.queryRowTx(ctx, tx, getConnectionSQL, tenantID, id)
	} else {
		row = q.QueryRowContext(ctx, getConnectionSQL, tenantID, id)
	}
	c, err := s.scanConnection(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	}
	return c, err
}

// listFull reads a page of rows in full, credentials decrypted (the
// agent path calls servers with them).
func (s *Store) listFull(ctx context.Context, tenantID string, f registry.ListFilter) ([]*registry.Connection, error) {
	where := "tenant_id = ?"
	args := []any{tenantID}
	if f.Status != "" {
		where += " AND status = ?"
		args = append(args, string(f.Status))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = math.MaxInt64 // no limit (both backends take it)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+connectionColumns+` FROM connections WHERE `+where+
		` ORDER BY seq LIMIT ? OFFSET ?`, append(args, limit, f.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// UpdateConnection implements registry.Store.
func (s *Store) UpdateConnection(ctx context.Context, tenantID, id string, fn func(*registry.Connection) error) (*registry.Connection, error) {
	var out *registry.Connection
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := s.getConnection(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		if err := s.writeConnection(ctx, tx, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// writeConnection stores every column of c but id and tenant_id (which
// never change), assigned in the order of connectionColumns, and moves
// the row to its next rev.
func (s *Store) writeConnection(ctx context.Context, tx *sql.Tx, c *registry.Connection) error {
	args, err := s.connectionArgs(c)
	if err != nil {
		return err
	}
	res, err := s.execTx(ctx, tx, updateConnectionSQL, append(args[2:], c.TenantID, c.ID)...)
	if err != nil {
		return fmt.Errorf("update connection: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("update connection %s: %d rows changed", c.ID, n)
	}
	return nil
}

// DeleteConnection implements registry.Store.
func (s *Store) DeleteConnection(ctx context.Context, tenantID, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM connections WHERE tenant_id = ? AND id = ?`, tenantID, id)
		if err != nil {
			return fmt.Errorf("delete connection: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound(id)
		}
		return nil
	})
}

func notFound(id string) error {
	return &registry.Error{Kind: registry.ErrNotFound, Message: fmt.Sprintf("no MCP server with id %q", id)}
}

func aadFor(c *registry.Connection, column string) secrets.AAD {
	return secrets.AAD{Tenant: c.TenantID, Table: "connections", Column: column, RowID: c.ID}
}

// sealMap encrypts a map as JSON; an empty map is stored as NULL.
func (s *Store) sealMap(m registry.Sensitive, aad secrets.AAD) (any, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if s.cipher == nil {
		return nil, errors.New("store opened without a cipher cannot write secrets")
	}
	plain, err := json.Marshal(map[string]string(m))
	if err != nil {
		return nil, err
	}
	ct, err := s.cipher.Encrypt(plain, aad)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s.%s: %w", aad.Table, aad.Column, err)
	}
	return ct, nil
}

// sealBlob encrypts opaque secret data; empty is NULL.
func (s *Store) sealBlob(b []byte, aad secrets.AAD) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if s.cipher == nil {
		return nil, errors.New("store opened without a cipher cannot write secrets")
	}
	ct, err := s.cipher.Encrypt(b, aad)
	if err != nil {
		return nil, fmt.Errorf("encrypt %s.%s: %w", aad.Table, aad.Column, err)
	}
	return ct, nil
}

// open decrypts one value, naming where it lives in errors.
func (s *Store) open(ct []byte, aad secrets.AAD) ([]byte, error) {
	if s.cipher == nil {
		return nil, errors.New("store opened without a cipher cannot read secrets")
	}
	plain, err := s.cipher.Decrypt(ct, aad)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s.%s of %s: %w", aad.Table, aad.Column, aad.RowID, err)
	}
	return plain, nil
}

func (s *Store) openMap(ct []byte, aad secrets.AAD) (registry.Sensitive, error) {
	if ct == nil {
		return registry.Sensitive{}, nil
	}
	plain, err := s.open(ct, aad)
	if err != nil {
		return nil, err
	}
	m := registry.Sensitive{}
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("decode %s.%s of %s: %w", aad.Table, aad.Column, aad.RowID, err)
	}
	return m, nil
}

func (s *Store) connectionArgs(c *registry.Connection) ([]any, error) {
	headers, err := s.sealMap(c.Headers, aadFor(c, "headers"))
	if err != nil {
		return nil, err
	}
	secretValues, err := s.sealMap(c.Secrets, aadFor(c, "secrets"))
	if err != nil {
		return nil, err
	}
	argv := c.Args
	if argv == nil {
		argv = []string{}
	}
	argsJSON, err := json.Marshal(argv)
	if err != nil {
		return nil, err
	}
	serverInfo, err := json.Marshal(c.ServerInfo)
	if err != nil {
		return nil, err
	}
	oauthDoc, err := s.sealBlob(c.OAuth, aadFor(c, "oauth"))
	if err != nil {
		return nil, err
	}
	secretNames, headerView := listingArgs(c)
	return []any{
		c.ID, c.TenantID, c.Slug, c.Nickname, c.Description, string(c.Transport), string(c.ConnectedTransport),
		c.Endpoint, c.Command, string(argsJSON), string(c.AuthType), c.AutoConnect, c.Enabled, c.TimeoutMS,
		c.PersonaID, string(c.Status), c.StatusReason, string(c.ToolsStatus), c.ToolCount,
		formatTimePtr(c.ConnectedAt), formatTimePtr(c.ToolsSyncedAt), formatTimePtr(c.LastRefreshedAt), formatTimePtr(c.LastUsedAt),
		formatTime(c.CreatedAt), formatTime(c.UpdatedAt), string(serverInfo), c.ProtocolVersion,
		string(cmp.Or(c.ToolPolicy, registry.PolicyAuto)), toolPrefix(c.ToolPrefix), c.ToolsTTL.Milliseconds(),
		headers, secretValues, oauthDoc, secretNames, headerView,
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanConnection reads a row of connectionColumns in full, decrypting its
// credentials.
func (s *Store) scanConnection(row scanner) (*registry.Connection, error) {
	var (
		r                             plainRow
		headersCT, secretsCT, oauthCT []byte
		names, view                   sql.NullString // for lists only
	)
	if err := row.Scan(append(r.dest(), &headersCT, &secretsCT, &oauthCT, &names, &view)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("read connection: %w", err)
	}
	c, err := r.decode()
	if err != nil {
		return nil, err
	}
	if c.Headers, err = s.openMap(headersCT, aadFor(c, "headers")); err != nil {
		return nil, err
	}
	if c.Secrets, err = s.openMap(secretsCT, aadFor(c, "secrets")); err != nil {
		return nil, err
	}
	if oauthCT != nil {
		plain, err := s.open(oauthCT, aadFor(c, "oauth"))
		if err != nil {
			return nil, err
		}
		c.OAuth = plain
	}
	return c, nil
}

// plainRow receives a row's plainColumns.
type plainRow struct {
	c                                                  registry.Connection
	transport, connected, authType, status, toolsState string
	argsJSON, created, updated, serverInfo             string
	connectedAt, syncedAt, refreshedAt, usedAt         sql.NullString
	toolPolicy                                         string
	toolPrefix                                         sql.NullString
	toolsTTLMs                                         int64
}

// dest is where Scan puts plainColumns.
func (r *plainRow) dest() []any {
	c := &r.c
	return []any{&c.ID, &c.TenantID, &c.Slug, &c.Nickname, &c.Description, &r.transport, &r.connected,
		&c.Endpoint, &c.Command, &r.argsJSON, &r.authType, &c.AutoConnect, &c.Enabled, &c.TimeoutMS,
		&c.PersonaID, &r.status, &c.StatusReason, &r.toolsState, &c.ToolCount,
		&r.connectedAt, &r.syncedAt, &r.refreshedAt, &r.usedAt, &r.created, &r.updated, &r.serverInfo, &c.ProtocolVersion,
		&r.toolPolicy, &r.toolPrefix, &r.toolsTTLMs}
}

// decode returns the connection the scanned columns describe.
func (r *plainRow) decode() (*registry.Connection, error) {
	c := r.c
	c.Transport, c.ConnectedTransport = registry.Transport(r.transport), registry.Transport(r.connected)
	c.AuthType, c.Status, c.ToolsStatus = registry.AuthType(r.authType), registry.Status(r.status), registry.ToolsStatus(r.toolsState)
	c.ToolsTTL = time.Duration(r.toolsTTLMs) * time.Millisecond
	c.ToolPolicy = registry.ToolPolicy(r.toolPolicy)
	if c.ToolPolicy == "" {
		c.ToolPolicy = registry.PolicyAuto
	}
	if r.toolPrefix.Valid {
		prefix := r.toolPrefix.String
		c.ToolPrefix = &prefix
	}
	if r.argsJSON != "[]" { // the common case needs no decoder
		if err := json.Unmarshal([]byte(r.argsJSON), &c.Args); err != nil {
			return nil, fmt.Errorf("decode args of %s: %w", c.ID, err)
		}
	}
	if len(c.Args) == 0 {
		c.Args = nil
	}
	if err := json.Unmarshal([]byte(r.serverInfo), &c.ServerInfo); err != nil {
		return nil, fmt.Errorf("decode server info of %s: %w", c.ID, err)
	}
	var perr error
	parse := func(dst **time.Time, v sql.NullString) {
		if perr == nil {
			*dst, perr = parseTimePtr(v)
		}
	}
	parse(&c.ConnectedAt, r.connectedAt)
	parse(&c.ToolsSyncedAt, r.syncedAt)
	parse(&c.LastRefreshedAt, r.refreshedAt)
	parse(&c.LastUsedAt, r.usedAt)
	if perr == nil {
		if c.CreatedAt, perr = parseTime(r.created); perr == nil {
			c.UpdatedAt, perr = parseTime(r.updated)
		}
	}
	if perr != nil {
		return nil, fmt.Errorf("decode timestamps of %s: %w", c.ID, perr)
	}
	return &c, nil
}

// toolPrefix is a tool prefix column's value: NULL for the default.
func toolPrefix(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// isUniqueViolation reports a unique or primary key violation, in either
// backend.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return pgCode(err) == "23505"
}
