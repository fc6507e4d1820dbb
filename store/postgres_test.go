package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
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
