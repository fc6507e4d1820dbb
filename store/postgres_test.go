package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
	"github.com/tether-dev/tether/registry"
)

// The pool size and the statement timeout reach PostgreSQL.
func TestPostgresPoolOptions(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, pgtest.URL(t), Options{MaxConns: 3, StatementTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer st.Close()
	assert.EqualValues(t, 3, st.pg.Config().MaxConns)
	_, err = st.read.ExecContext(ctx, "SELECT pg_sleep(5)")
	require.Error(t, err)
	assert.Equal(t, "57014", pgCode(err), "query_canceled by statement_timeout")
	require.NoError(t, st.Ping(ctx))
}

// rebind numbers placeholders and leaves quoted text and comments alone.
func TestRebind(t *testing.T) {
	assert.Equal(t, `SELECT $1, '?', "a?" FROM t -- what?
		WHERE x = $2 AND y IN ($3,$4)`, rebind(`SELECT ?, '?', "a?" FROM t -- what?
		WHERE x = ? AND y IN (?,?)`))
	assert.Equal(t, `SELECT 'it''s ?', $1`, rebind(`SELECT 'it''s ?', ?`))
}

// A PostgreSQL URL's password stays out of Open's errors.
func TestPostgresOpenErrorsHideThePassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:hunter2-secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", Options{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2-secret")
}

// TakeRate spends a budget all or none, across stores (replicas).
func TestTakeRate(t *testing.T) {
	ctx := context.Background()
	db := pgtest.URL(t)
	a, err := Open(ctx, db, Options{MaxConns: 2})
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(ctx, db, Options{MaxConns: 2})
	require.NoError(t, err)
	defer b.Close()
	for i, st := range []*Store{a, b, a} {
		ok, used, reset, err := st.TakeRate(ctx, "requests", "k1", 1, 3, time.Minute)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, i+1, used)
		assert.True(t, reset > 0 && reset <= time.Minute, "reset %s", reset)
	}
	ok, used, _, err := b.TakeRate(ctx, "requests", "k1", 1, 3, time.Minute)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 3, used)
	ok, used, _, err = b.TakeRate(ctx, "probes", "k1", 2, 3, time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "another budget")
	assert.Equal(t, 2, used)
	ok, _, _, err = b.TakeRate(ctx, "probes", "k1", 2, 3, time.Minute)
	require.NoError(t, err)
	assert.False(t, ok, "all or none")
}

// What one store (replica) remembers of lists stays right while another
// writes: its cached pages and rows are checked against the database's
// counters, never trusted on their own.
func TestListCachesFollowOtherReplicas(t *testing.T) {
	ctx := context.Background()
	db := pgtest.URL(t)
	a, b := openTest(t, db), openTest(t, db)
	ten, err := a.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, b.InsertConnectionCapped(ctx, newConn(ten.ID, fmt.Sprintf("c%d", i), fmt.Sprintf("s%d", i)), false, 0))
	}
	list := func() ([]string, int) {
		rows, total, err := a.ListConnections(ctx, ten.ID, registry.ListFilter{Limit: 3})
		require.NoError(t, err)
		var out []string
		for _, c := range rows {
			out = append(out, c.ID+":"+c.Nickname+":"+string(c.Status))
		}
		return out, total
	}
	first, total := list()
	require.Equal(t, 5, total)
	again, _ := list() // now from a's caches
	require.Equal(t, first, again)

	_, err = b.UpdateConnection(ctx, ten.ID, "c1", func(c *registry.Connection) error {
		c.Nickname = "renamed"
		c.Status = registry.StatusError
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, b.DeleteConnection(ctx, ten.ID, "c0"))
	require.NoError(t, b.InsertConnectionCapped(ctx, newConn(ten.ID, "c9", "s9"), false, 0))
	after, total := list()
	assert.Equal(t, 5, total)
	assert.Equal(t, []string{"c1:renamed:error", "c2:s2:active", "c3:s3:active"}, after)
}
