package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/tether-dev/tether/registry"
)

// Lists show secret names and header templates, never credentials, so a
// list reads no ciphertext: what it shows is kept beside the ciphertext
// (migration 0007), and nothing is decrypted. Its total comes from
// connection_counts, kept by triggers, not from counting rows; a deep
// offset starts from a page anchor (the seq of every anchorEvery-th row)
// instead of stepping over every row before it. What a list learns is
// reused while the database says it holds: a page's ids and revs while
// none of the tenant's rows changed, a decoded row while its rev stands,
// anchors while no row joined or left the list. Every such check reads
// the database, so it holds across processes sharing it. A page costs the
// same at offset 0 of 50 rows as at offset 9,950 of 10,000.

const (
	// anchorEvery is the distance between page anchors: an offset steps
	// over at most anchorEvery-1 rows past its anchor.
	anchorEvery = 128
	// maxAnchorLists bounds the lists (tenant and status filter) whose
	// anchors are kept; each costs 8 bytes per anchorEvery rows.
	maxAnchorLists = 1024
	// listCacheRows bounds the decoded rows kept for lists (about 1 KiB
	// each).
	listCacheRows = 20000
	// maxPageRows bounds the pages kept, in rows (about 50 bytes each);
	// each page also counts as a row of its own, so that empty pages
	// (offsets past the end, which a client may ask for without end)
	// count too.
	maxPageRows = 50000
)

// listingColumns are what a list reads of a row: the plain columns, what
// lists show of the credentials and the rev; the ciphertext only for a
// row written before migration 0007 (or with a header whose literal value
// responses show), which is the one case a list decrypts.
const listingColumns = plainColumns + `, secret_names, header_view, rev,
	CASE WHEN secret_names IS NULL THEN secrets_enc END, CASE WHEN header_view IS NULL THEN headers_enc END`

// listing holds the list statements (prepared once: parsing is a visible
// share of a list's cost) and what lists remember.
type listing struct {
	read *sql.DB
	// readTx begins the one-snapshot read of takeAnchors.
	readTx *sql.TxOptions
	count  *sql.Stmt
	// pageStmts[filtered][anchored] read a page's ids and revs.
	pageStmts [2][2]*sql.Stmt
	byIDs     *sql.Stmt

	rows     rowCache
	mu       sync.Mutex
	anchors  map[anchorKey]anchorList
	pages    map[pageKey]cachedPage
	pageRows int // in pages, by cost
	// pageBudget is the most pageRows may reach: maxPageRows (tests
	// lower it).
	pageBudget int
}

type pageKey struct {
	tenant        string
	status        registry.Status
	limit, offset int
}

// cachedPage is a page's ids and revs, valid while the tenant's changes
// counter stands.
type cachedPage struct {
	changes int64
	rows    []pageRow
}

// cost is what a page counts against maxPageRows: its rows, and itself.
func (p cachedPage) cost() int { return 1 + len(p.rows) }

// counts is what connection_counts says about a list.
type counts struct {
	n       int   // rows in the list
	version int64 // of the list's set of rows
	changes int64 // of any of the tenant's rows
}

type anchorKey struct {
	tenant string
	status registry.Status
}

// anchorList is the seq of every anchorEvery-th row of a list, valid
// while its connection_counts version stands.
type anchorList struct {
	version int64
	seqs    []int64
}

// pageSQL reads a page's ids, with or without a status filter, from the
// start of the list or from an anchor.
func pageSQL(filtered, anchored bool) string {
	where := "tenant_id = ?"
	if filtered {
		where += " AND status = ?"
	}
	if anchored {
		where += " AND seq >= ?"
	}
	return `SELECT id, rev FROM connections WHERE ` + where + ` ORDER BY seq LIMIT ? OFFSET ?`
}

// prepareListing prepares the list statements on the read pool.
func prepareListing(ctx context.Context, read *sql.DB, d *dialect) (*listing, error) {
	l := &listing{read: read, readTx: d.readTx, anchors: map[anchorKey]anchorList{}, pages: map[pageKey]cachedPage{}, pageBudget: maxPageRows}
	l.rows.half = listCacheRows / 2
	prepare := func(dst **sql.Stmt, query string) error {
		if *dst != nil {
			return nil
		}
		st, err := read.PrepareContext(ctx, query)
		*dst = st
		return err
	}
	err := prepare(&l.count, `SELECT status, n, version, changes FROM connection_counts
		WHERE tenant_id = ? AND status IN ('', ?)`)
	for _, filtered := range []bool{false, true} {
		for _, anchored := range []bool{false, true} {
			if err == nil {
				err = prepare(&l.pageStmts[b2i(filtered)][b2i(anchored)], pageSQL(filtered, anchored))
			}
		}
	}
	if err == nil {
		// The ids drive the join: each is one lookup in the id index,
		// where "id IN (...)" would scan the tenant's rows.
		err = prepare(&l.byIDs, d.byIDs)
	}
	if err != nil {
		l.close()
		return nil, fmt.Errorf("prepare list statements: %w", err)
	}
	return l, nil
}

func (l *listing) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{l.count, l.pageStmts[0][0], l.pageStmts[0][1], l.pageStmts[1][0], l.pageStmts[1][1], l.byIDs} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ListConnections implements registry.Store.
func (s *Store) ListConnections(ctx context.Context, tenantID string, f registry.ListFilter) ([]*registry.Connection, int, error) {
	cnt, err := s.lists.counted(ctx, tenantID, f.Status)
	if err != nil {
		return nil, 0, err
	}
	if f.Credentials {
		out, err := s.listFull(ctx, tenantID, f)
		return out, cnt.n, err
	}
	key := pageKey{tenantID, f.Status, f.Limit, f.Offset}
	page, ok := s.lists.cachedPage(key, cnt.changes)
	if !ok {
		// Read after the counts: the page is at least as new as the
		// changes counter it is kept under.
		if page, err = s.lists.page(ctx, tenantID, f, cnt.version); err != nil {
			return nil, 0, err
		}
		s.lists.keepPage(key, cachedPage{cnt.changes, page})
	}
	out, err := s.listRows(ctx, tenantID, page)
	return out, cnt.n, err
}

// counted reads connection_counts for the tenant's rows with status ("":
// any). One query: the ” row and the status row.
func (l *listing) counted(ctx context.Context, tenantID string, status registry.Status) (counts, error) {
	var cnt counts
	rows, err := l.count.QueryContext(ctx, tenantID, string(status))
	if err != nil {
		return cnt, fmt.Errorf("count connections: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			st               string
			n                int
			version, changes int64
		)
		if err := rows.Scan(&st, &n, &version, &changes); err != nil {
			return cnt, fmt.Errorf("count connections: %w", err)
		}
		if st == "" {
			cnt.changes = changes
		}
		if st == string(status) {
			cnt.n, cnt.version = n, version
		}
	}
	if err := rows.Err(); err != nil {
		return cnt, fmt.Errorf("count connections: %w", err)
	}
	return cnt, nil
}

// cachedPage returns the page kept under key if the tenant's rows have
// not changed since.
func (l *listing) cachedPage(key pageKey, changes int64) ([]pageRow, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.pages[key]
	return p.rows, ok && p.changes == changes
}

// keepPage keeps a page, dropping arbitrary others to stay within the
// page budget.
func (l *listing) keepPage(key pageKey, p cachedPage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.pages[key]; ok {
		l.pageRows -= old.cost()
		delete(l.pages, key)
	}
	for k, old := range l.pages {
		if l.pageRows+p.cost() <= l.pageBudget {
			break
		}
		l.pageRows -= old.cost()
		delete(l.pages, k)
	}
	l.pages[key] = p
	l.pageRows += p.cost()
}

// pageRow is one row of a page: its id and rev.
type pageRow struct {
	id  string
	rev int64
}

// page returns the ids and revs of the rows f asks for, in list order.
func (l *listing) page(ctx context.Context, tenantID string, f registry.ListFilter, version int64) ([]pageRow, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = math.MaxInt64 // no limit (both backends take it)
	}
	filtered := f.Status != ""
	args := []any{tenantID}
	if filtered {
		args = append(args, string(f.Status))
	}
	offset := f.Offset
	anchored := offset >= anchorEvery
	if anchored {
		anchors, err := l.anchorsOf(ctx, tenantID, f.Status, version)
		if err != nil {
			return nil, err
		}
		i := offset / anchorEvery
		if i >= len(anchors) {
			return nil, nil // past the end
		}
		args = append(args, anchors[i])
		offset %= anchorEvery
	}
	rows, err := l.pageStmts[b2i(filtered)][b2i(anchored)].QueryContext(ctx, append(args, limit, offset)...)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var out []pageRow
	for rows.Next() {
		var p pageRow
		if err := rows.Scan(&p.id, &p.rev); err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// anchorsOf returns the page anchors of a list, rebuilt when the set
// changed since they were taken (a different version).
func (l *listing) anchorsOf(ctx context.Context, tenantID string, status registry.Status, version int64) ([]int64, error) {
	key := anchorKey{tenantID, status}
	l.mu.Lock()
	cached, ok := l.anchors[key]
	l.mu.Unlock()
	if ok && cached.version == version {
		return cached.seqs, nil
	}
	fresh, err := l.takeAnchors(ctx, tenantID, status)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if len(l.anchors) >= maxAnchorLists {
		for k := range l.anchors { // an arbitrary one: rebuilding is cheap
			delete(l.anchors, k)
			break
		}
	}
	l.anchors[key] = fresh
	l.mu.Unlock()
	return fresh.seqs, nil
}

// takeAnchors reads a list's anchors and the version they belong to in
// one read transaction, so the two describe the same set. It walks the
// list's index only.
func (l *listing) takeAnchors(ctx context.Context, tenantID string, status registry.Status) (anchorList, error) {
	var a anchorList
	tx, err := l.read.BeginTx(ctx, l.readTx)
	if err != nil {
		return a, fmt.Errorf("page anchors: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	err = tx.QueryRowContext(ctx, `SELECT version FROM connection_counts WHERE tenant_id = ? AND status = ?`,
		tenantID, string(status)).Scan(&a.version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("page anchors: %w", err)
	}
	query, args := `SELECT seq FROM connections WHERE tenant_id = ? ORDER BY seq`, []any{tenantID}
	if status != "" {
		query, args = `SELECT seq FROM connections WHERE tenant_id = ? AND status = ? ORDER BY seq`, append(args, string(status))
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return a, fmt.Errorf("page anchors: %w", err)
	}
	defer rows.Close()
	for i := 0; rows.Next(); i++ {
		if i%anchorEvery != 0 {
			continue
		}
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return a, fmt.Errorf("page anchors: %w", err)
		}
		a.seqs = append(a.seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return a, fmt.Errorf("page anchors: %w", err)
	}
	return a, nil
}

// listRows returns the rows of a page, decoded ones reused while their
// rev stands and the others read (without their ciphertext). A row
// deleted since the page was read is left out.
func (s *Store) listRows(ctx context.Context, tenantID string, page []pageRow) ([]*registry.Connection, error) {
	found := s.lists.rows.getPage(page)
	var missing []string
	for i, p := range page {
		if found[i] == nil {
			missing = append(missing, p.id)
		}
	}
	if len(missing) > 0 {
		fetched, err := s.readListed(ctx, tenantID, missing)
		if err != nil {
			return nil, err
		}
		for i, p := range page {
			if found[i] == nil {
				found[i] = fetched[p.id]
			}
		}
	}
	out := make([]*registry.Connection, 0, len(page))
	for _, c := range found {
		if c != nil {
			cp := *c // callers may set fields; the cached row stays as read
			out = append(out, &cp)
		}
	}
	return out, nil
}

// readListed reads rows for a list by id and keeps them for the next.
func (s *Store) readListed(ctx context.Context, tenantID string, ids []string) (map[string]*registry.Connection, error) {
	arg, _ := json.Marshal(ids) // strings always encode
	rows, err := s.lists.byIDs.QueryContext(ctx, string(arg), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	out := make(map[string]*registry.Connection, len(ids))
	for rows.Next() {
		c, rev, err := s.scanListing(rows)
		if err != nil {
			return nil, err
		}
		s.lists.rows.put(c.ID, rev, c)
		out[c.ID] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	return out, nil
}

// scanListing reads a row of listingColumns: a connection with a Listing
// and without credentials, and its rev.
func (s *Store) scanListing(row scanner) (*registry.Connection, int64, error) {
	var (
		r                    plainRow
		names, view          sql.NullString
		rev                  int64
		secretsCT, headersCT []byte
	)
	if err := row.Scan(append(r.dest(), &names, &view, &rev, &secretsCT, &headersCT)...); err != nil {
		return nil, 0, fmt.Errorf("read connection: %w", err)
	}
	c, err := r.decode()
	if err != nil {
		return nil, 0, err
	}
	l := &registry.Listing{}
	if names.Valid {
		l.SecretNames = splitNames(names.String)
	} else {
		secrets, err := s.openMap(secretsCT, aadFor(c, "secrets"))
		if err != nil {
			return nil, 0, err
		}
		l.SecretNames = secrets.Names()
	}
	if view.Valid {
		l.Headers = decodeHeaderView(view.String)
	} else {
		headers, err := s.openMap(headersCT, aadFor(c, "headers"))
		if err != nil {
			return nil, 0, err
		}
		shown, _ := registry.ListingOf(&registry.Connection{Headers: headers})
		l.Headers = shown.Headers
	}
	c.Listing = l
	return c, rev, nil
}

// listingArgs are the secret_names and header_view columns of c: the
// names one per line (a name has no newline), and the headers as
// responses show them, one "name:value" line each (a name has no colon, a
// value no newline), or NULL when one of them shows a literal value.
func listingArgs(c *registry.Connection) (names string, view any) {
	l, shareable := registry.ListingOf(c)
	names = strings.Join(l.SecretNames, "\n")
	if !shareable {
		return names, nil
	}
	lines := make([]string, 0, len(l.Headers))
	for _, name := range slices.Sorted(maps.Keys(l.Headers)) {
		lines = append(lines, name+":"+l.Headers[name])
	}
	return names, strings.Join(lines, "\n")
}

func splitNames(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

func decodeHeaderView(s string) map[string]string {
	out := map[string]string{}
	if s == "" {
		return out
	}
	for _, line := range strings.Split(s, "\n") {
		name, value, _ := strings.Cut(line, ":")
		out[name] = value
	}
	return out
}

// rowCache keeps decoded list rows by id, each valid for one rev. It
// holds two generations of at most half entries each: a row read or used
// in the current one stays, the previous one is dropped wholesale when
// the current one fills, so the cache stays bounded without tracking use.
type rowCache struct {
	mu        sync.Mutex
	cur, prev map[string]cachedRow
	half      int
}

type cachedRow struct {
	rev int64
	c   *registry.Connection
}

// getPage returns the rows of a page decoded at their revs, nil where
// there is none.
func (rc *rowCache) getPage(page []pageRow) []*registry.Connection {
	out := make([]*registry.Connection, len(page))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, p := range page {
		out[i] = rc.getLocked(p.id, p.rev)
	}
	return out
}

func (rc *rowCache) getLocked(id string, rev int64) *registry.Connection {
	if e, ok := rc.cur[id]; ok && e.rev == rev {
		return e.c
	}
	if e, ok := rc.prev[id]; ok && e.rev == rev {
		rc.putLocked(id, e)
		return e.c
	}
	return nil
}

// put keeps c as the row id at rev.
func (rc *rowCache) put(id string, rev int64, c *registry.Connection) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.putLocked(id, cachedRow{rev, c})
}

func (rc *rowCache) putLocked(id string, e cachedRow) {
	if rc.cur == nil || len(rc.cur) >= rc.half {
		rc.prev, rc.cur = rc.cur, make(map[string]cachedRow, rc.half)
	}
	rc.cur[id] = e
}
