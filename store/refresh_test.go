package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// TestRoutineRefreshCommitsLight: on SQLite a routine refresh
// (registry.WithRoutineRefresh) runs with synchronous=NORMAL, every other
// write with FULL, and the writer is FULL again after it, whether the
// refresh committed or failed.
func TestRoutineRefreshCommitsLight(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "t.db"))
	ctx := context.Background()
	// PRAGMA synchronous: 1 is NORMAL, 2 is FULL.
	level := func(ctx context.Context) (n int) {
		t.Helper()
		require.NoError(t, st.inTx(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n)
		}))
		return n
	}
	assert.Equal(t, 2, level(ctx))
	assert.Equal(t, 1, level(registry.WithRoutineRefresh(ctx)))
	assert.Equal(t, 2, level(ctx), "the writer is FULL again")

	err := st.inTx(registry.WithRoutineRefresh(ctx), func(tx *sql.Tx) error { return assert.AnError })
	require.ErrorIs(t, err, assert.AnError)
	assert.Equal(t, 2, level(ctx), "after a failed refresh too")
}
