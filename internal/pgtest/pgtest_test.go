package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Each test's database is its own: a table made in one is absent from
// another, and the database is gone once its test ended.
func TestDatabasesAreFreshAndDropped(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("one", func(t *testing.T) {
		first = pgtest.URL(t)
		conn, err := pgx.Connect(ctx, first)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "CREATE TABLE marker (x int)")
		require.NoError(t, err)
	})
	t.Run("two", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, pgtest.URL(t))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var n int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'").Scan(&n))
		require.Zero(t, n)
	})
	_, err := pgx.Connect(ctx, first)
	require.Error(t, err, "the first test's database outlived its test")
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	require.NoError(t, err)
	defer admin.Close(ctx)
	var version string
	require.NoError(t, admin.QueryRow(ctx, "SHOW server_version").Scan(&version))
	require.Regexp(t, `^15\.`, version)
}
