package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
)

// countingCipher is the real keyring, counting decryptions.
type countingCipher struct {
	*secrets.Keyring
	decrypts atomic.Int64
}

func (c *countingCipher) Decrypt(ct []byte, aad secrets.AAD) ([]byte, error) {
	c.decrypts.Add(1)
	return c.Keyring.Decrypt(ct, aad)
}

func openCounting(t *testing.T, path string) (*Store, *countingCipher) {
	t.Helper()
	key, err := secrets.NewKey("test", make([]byte, 32))
	require.NoError(t, err)
	ring, err := secrets.NewKeyring([]secrets.Key{key})
	require.NoError(t, err)
	cipher := &countingCipher{Keyring: ring}
	st, err := Open(context.Background(), path, Options{Cipher: cipher})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, cipher
}

// A list shows secret names and header templates: it decrypts nothing,
// neither the first time nor from what it kept.
func TestListDecryptsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st, cipher := openCounting(t, db)
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		for i := range 60 {
			c := newConn("t1", fmt.Sprintf("c%02d", i), fmt.Sprintf("crm_%d", i))
			c.Headers["Authorization"] = "Bearer {{secrets.K}}"
			c.Headers["X-Api-Key"] = "literal-credential" // shown masked
			require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		}

		before := cipher.decrypts.Load()
		for _, f := range []registry.ListFilter{{Limit: 50}, {Limit: 50}, {Limit: 50, Offset: 50}, {Status: registry.StatusActive}, {}} {
			conns, total, err := st.ListConnections(ctx, "t1", f)
			require.NoError(t, err)
			assert.Equal(t, 60, total)
			assert.NotEmpty(t, conns)
		}
		assert.Zero(t, cipher.decrypts.Load()-before, "values decrypted to list rows")
	})
}

// What a list shows of the credentials: names and templates, a masked
// literal of a credential header; a literal that responses show (a header
// not named like a credential) is not stored unencrypted, so that row's
// headers are decrypted for its list entry, and only them.
func TestListShowsNamesAndTemplatesOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st, cipher := openCounting(t, db)
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		a := newConn("t1", "a", "a")
		a.Headers = registry.Sensitive{"X-Key": "{{secrets.K}}", "Authorization": "Bearer literal-token"}
		a.Secrets = registry.Sensitive{"K": "secret-value", "Other": "x"}
		b := newConn("t1", "b", "b")
		b.Headers = registry.Sensitive{"X-Org": "acme-literal"}
		b.Secrets = nil
		require.NoError(t, st.InsertConnectionCapped(ctx, a, false, 0))
		require.NoError(t, st.InsertConnectionCapped(ctx, b, false, 0))

		var view map[string]*string
		rows, err := st.read.Query(`SELECT id, header_view FROM connections`)
		require.NoError(t, err)
		view = map[string]*string{}
		for rows.Next() {
			var id string
			var v *string
			require.NoError(t, rows.Scan(&id, &v))
			view[id] = v
		}
		require.NoError(t, rows.Close())
		require.NotNil(t, view["a"])
		assert.NotContains(t, *view["a"], "literal-token")
		assert.Nil(t, view["b"], "a literal value responses show stays encrypted")

		before := cipher.decrypts.Load()
		conns, _, err := st.ListConnections(ctx, "t1", registry.ListFilter{})
		require.NoError(t, err)
		require.Len(t, conns, 2)
		assert.Equal(t, int64(1), cipher.decrypts.Load()-before, "only b's headers are decrypted")
		for _, c := range conns {
			assert.Empty(t, c.Secrets, "a list carries no secret values")
			assert.Empty(t, c.Headers, "a list carries no header values")
			assert.Empty(t, c.OAuth)
		}
		assert.Equal(t, []string{"K", "Other"}, conns[0].SecretNames())
		assert.Equal(t, map[string]string{"X-Key": "{{secrets.K}}", "Authorization": registry.Masked}, conns[0].DisplayHeaders())
		assert.Equal(t, []string{}, conns[1].SecretNames())
		assert.Equal(t, map[string]string{"X-Org": "acme-literal"}, conns[1].DisplayHeaders())
	})
}

// model is the expected state of a tenant's connections, in list order.
type model struct {
	ids    []string
	status map[string]registry.Status
	desc   map[string]string
}

func (m *model) list(status registry.Status) []string {
	var out []string
	for _, id := range m.ids {
		if status == "" || m.status[id] == status {
			out = append(out, id)
		}
	}
	return out
}

// checkLists compares every page the store answers with the model.
func checkLists(t *testing.T, st *Store, tenant string, m *model) {
	t.Helper()
	ctx := context.Background()
	for _, status := range []registry.Status{"", registry.StatusActive, registry.StatusError} {
		want := m.list(status)
		for _, f := range []registry.ListFilter{
			{Status: status}, {Status: status, Limit: 50}, {Status: status, Limit: 7, Offset: 3},
			{Status: status, Limit: 50, Offset: anchorEvery - 1}, {Status: status, Limit: 50, Offset: anchorEvery},
			{Status: status, Limit: 100, Offset: 3*anchorEvery + 17}, {Status: status, Limit: 10, Offset: len(want) - 4},
			{Status: status, Limit: 10, Offset: len(want) + 500},
		} {
			conns, total, err := st.ListConnections(ctx, tenant, f)
			require.NoError(t, err)
			assert.Equal(t, len(want), total, "%+v", f)
			end := len(want)
			if f.Limit > 0 {
				end = min(end, f.Offset+f.Limit)
			}
			var wantPage []string
			if f.Offset < end {
				wantPage = want[f.Offset:end]
			}
			var got []string
			for _, c := range conns {
				got = append(got, c.ID)
				assert.Equal(t, m.status[c.ID], c.Status, "%s", c.ID)
				assert.Equal(t, m.desc[c.ID], c.Description, "%s", c.ID)
			}
			assert.Equal(t, wantPage, got, "%+v", f)
		}
	}
}

// Totals, pages at every depth and the rows in them stay right through
// inserts, deletes, status changes and edits, in this process and in
// another one sharing the database.
func TestListPagesFollowEveryWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		path := db
		st := openTest(t, path)
		other := openTest(t, path) // another process's view of the same file
		for _, ten := range []string{"t1", "t2"} {
			_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: ten, Name: ten})
			require.NoError(t, err)
		}
		m := &model{status: map[string]registry.Status{}, desc: map[string]string{}}
		for i := range 700 {
			id := fmt.Sprintf("c%04d", i)
			c := newConn("t1", id, "s_"+id)
			if i%3 == 0 {
				c.Status = registry.StatusError
			}
			require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
			m.ids = append(m.ids, id)
			m.status[id], m.desc[id] = c.Status, c.Description
			if i%10 == 0 { // another tenant's rows in between
				require.NoError(t, st.InsertConnectionCapped(ctx, newConn("t2", "x"+id, "s_"+id), false, 0))
			}
		}
		checkLists(t, st, "t1", m)
		checkLists(t, other, "t1", m) // both remember what they read

		// Deletes, at the start, across an anchor and at the end.
		for _, i := range []int{0, 1, anchorEvery, 2*anchorEvery + 5, 699} {
			id := fmt.Sprintf("c%04d", i)
			require.NoError(t, st.DeleteConnection(ctx, "t1", id))
			delete(m.status, id)
		}
		m.ids = nil
		for i := range 700 {
			if id := fmt.Sprintf("c%04d", i); m.status[id] != "" {
				m.ids = append(m.ids, id)
			}
		}
		// Status changes and edits through the store, and an edit by a
		// statement that does not move the row's rev itself.
		for _, id := range []string{"c0003", "c0300", "c0500"} {
			_, err := st.UpdateConnection(ctx, "t1", id, func(c *registry.Connection) error {
				c.Status, c.Description = registry.StatusActive, "edited "+id
				return nil
			})
			require.NoError(t, err)
			m.status[id], m.desc[id] = registry.StatusActive, "edited "+id
		}
		_, err := st.write.Exec(`UPDATE connections SET description = 'raw edit' WHERE id = 'c0400'`)
		require.NoError(t, err)
		m.desc["c0400"] = "raw edit"
		// More rows after the deletes.
		for i := 700; i < 760; i++ {
			id := fmt.Sprintf("c%04d", i)
			c := newConn("t1", id, "s_"+id)
			require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
			m.ids = append(m.ids, id)
			m.status[id], m.desc[id] = c.Status, c.Description
		}
		checkLists(t, st, "t1", m)
		checkLists(t, other, "t1", m)

		total := 0
		for _, status := range []registry.Status{registry.StatusActive, registry.StatusError} {
			_, n, err := other.ListConnections(ctx, "t1", registry.ListFilter{Status: status, Limit: 1})
			require.NoError(t, err)
			total += n
		}
		assert.Equal(t, len(m.ids), total, "the per-status counts add up")
		_, n, err := other.ListConnections(ctx, "t2", registry.ListFilter{Limit: 1})
		require.NoError(t, err)
		assert.Equal(t, 70, n, "another tenant's count is its own")
	})
}

// The agent path reads rows in full: it calls servers with them.
func TestListWithCredentialsReadsThemInFull(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		c := newConn("t1", "a", "a")
		require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		conns, total, err := st.ListConnections(ctx, "t1", registry.ListFilter{Credentials: true})
		require.NoError(t, err)
		assert.Equal(t, 1, total)
		require.Len(t, conns, 1)
		assert.Equal(t, c.Secrets, conns[0].Secrets)
		assert.Equal(t, c.Headers, conns[0].Headers)
		assert.Nil(t, conns[0].Listing)
	})
}

// Rows written by a tether from before migration 0007 (or by one still
// running beside this one) have no listing columns: their list entries are
// decrypted, and show the same.
func TestListReadsRowsWrittenWithoutListingColumns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st, cipher := openCounting(t, db)
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		c := newConn("t1", "a", "a")
		c.Headers["Authorization"] = "Bearer literal-token"
		require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
		_, err = st.write.Exec(`UPDATE connections SET secret_names = NULL, header_view = NULL`)
		require.NoError(t, err)

		before := cipher.decrypts.Load()
		conns, total, err := st.ListConnections(ctx, "t1", registry.ListFilter{Limit: 50})
		require.NoError(t, err)
		assert.Equal(t, 1, total)
		require.Len(t, conns, 1)
		assert.Equal(t, int64(2), cipher.decrypts.Load()-before, "secrets and headers decrypted once each")
		assert.Equal(t, []string{"K"}, conns[0].SecretNames())
		assert.Equal(t, map[string]string{"X-Key": "{{secrets.K}}", "Authorization": registry.Masked}, conns[0].DisplayHeaders())
		assert.Empty(t, conns[0].Secrets)
		assert.Empty(t, conns[0].Headers)

		// The next write fills the columns in.
		_, err = st.UpdateConnection(ctx, "t1", "a", func(*registry.Connection) error { return nil })
		require.NoError(t, err)
		before = cipher.decrypts.Load()
		_, _, err = st.ListConnections(ctx, "t1", registry.ListFilter{Limit: 50})
		require.NoError(t, err)
		assert.Zero(t, cipher.decrypts.Load()-before)
	})
}

// Lists and writes at the same time: every list is whole (under -race,
// this also checks what lists share between requests).
func TestListsWhileRowsChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		const rows = 300
		for i := range rows {
			require.NoError(t, st.InsertConnectionCapped(ctx, newConn("t1", fmt.Sprintf("c%03d", i), fmt.Sprintf("s_%d", i)), false, 0))
		}
		done := make(chan struct{})
		errs := make(chan error, 4)
		for r := range 4 {
			go func() {
				for n := 0; ; n++ {
					select {
					case <-done:
						errs <- nil
						return
					default:
					}
					offset := (r*97 + n*50) % rows
					conns, total, err := st.ListConnections(ctx, "t1", registry.ListFilter{Limit: 50, Offset: offset})
					if err == nil && (total != rows || len(conns) != min(50, rows-offset)) {
						err = fmt.Errorf("offset %d: %d rows of %d", offset, len(conns), total)
					}
					for _, c := range conns {
						c.Description = "callers may write to what they get"
						_ = c.DisplayHeaders()
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for i := range 100 {
			id := fmt.Sprintf("c%03d", (i*7)%rows)
			_, err := st.UpdateConnection(ctx, "t1", id, func(c *registry.Connection) error {
				c.Description = fmt.Sprintf("edit %d", i)
				c.Status = registry.StatusError
				return nil
			})
			require.NoError(t, err)
		}
		close(done)
		for range 4 {
			require.NoError(t, <-errs)
		}
		conns, _, err := st.ListConnections(ctx, "t1", registry.ListFilter{Limit: 1, Offset: 7})
		require.NoError(t, err)
		assert.Equal(t, "edit 1", conns[0].Description)
	})
}

// Pages past the end are empty, and there is no end to the offsets a
// client may ask for: they count against the page cache's bound like any
// other page, so one tenant cannot grow it without limit.
func TestPageCacheBoundCountsEmptyPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		ctx := context.Background()
		st := openTest(t, db)
		_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
		require.NoError(t, err)
		for i := range 3 {
			require.NoError(t, st.InsertConnectionCapped(ctx, newConn("t1", fmt.Sprintf("c%d", i), fmt.Sprintf("s_%d", i)), false, 0))
		}
		const budget = 100
		st.lists.pageBudget = budget
		for offset := 3; offset < 3+20*budget; offset++ {
			conns, total, err := st.ListConnections(ctx, "t1", registry.ListFilter{Limit: 10, Offset: offset})
			require.NoError(t, err)
			require.Empty(t, conns)
			require.Equal(t, 3, total)
		}
		st.lists.mu.Lock()
		entries, rows := len(st.lists.pages), st.lists.pageRows
		st.lists.mu.Unlock()
		assert.LessOrEqual(t, entries, budget, "pages kept")
		assert.LessOrEqual(t, rows, budget)
		assert.NotZero(t, entries, "empty pages are still kept, within the bound")

		// The cache still answers right.
		conns, _, err := st.ListConnections(ctx, "t1", registry.ListFilter{Limit: 10})
		require.NoError(t, err)
		assert.Len(t, conns, 3)
	})
}
