package secrets_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/secrets"
)

func TestWriteKeysFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tether.db.keys")
	keys := []secrets.Key{mustKey(t, "k-new"), mustKey(t, "k-old")}

	require.NoError(t, secrets.WriteKeysFile(path, keys))

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, secrets.FormatKey(keys[0])+"\n"+secrets.FormatKey(keys[1])+"\n", string(b))

	back, err := secrets.LoadKeysFile(path)
	require.NoError(t, err)
	require.Len(t, back, 2)
	for i := range keys {
		assert.Equal(t, secrets.FormatKey(keys[i]), secrets.FormatKey(back[i]))
	}
	r := mustRing(t, back...)
	assert.Equal(t, "k-new", r.Primary())

	assertOnlyFile(t, dir, "tether.db.keys")
}

func TestWriteKeysFileReplacesAndTightensMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(path, []byte("old contents\n"), 0o644))
	require.NoError(t, os.Chmod(path, 0o644)) // regardless of umask

	keys := []secrets.Key{mustKey(t, "k2"), mustKey(t, "k1")}
	require.NoError(t, secrets.WriteKeysFile(path, keys))

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	back, err := secrets.LoadKeysFile(path)
	require.NoError(t, err)
	assert.Equal(t, "k2", back[0].ID)
	assertOnlyFile(t, dir, "keys")
}

func TestWriteKeysFileRefusesBadKeys(t *testing.T) {
	k := mustKey(t, "k1")
	tests := []struct {
		name string
		keys []secrets.Key
	}{
		{name: "none", keys: nil},
		{name: "duplicate", keys: []secrets.Key{k, k}},
		{name: "no material", keys: []secrets.Key{{ID: "k1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keys")
			err := secrets.WriteKeysFile(path, tt.keys)
			require.ErrorIs(t, err, secrets.ErrInvalidKey)
			assertOnlyFile(t, dir)
		})
	}
}

func TestLoadKeysFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := secrets.LoadKeysFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	m := testMaterial(3)
	k, err := secrets.NewKey("k1", m)
	require.NoError(t, err)
	bad := filepath.Join(dir, "bad")
	// The second line lacks "id:", so its content (material) must not be echoed.
	content := secrets.FormatKey(k) + "\n" + strings.TrimPrefix(secrets.FormatKey(k), "k1:") + "\n"
	require.NoError(t, os.WriteFile(bad, []byte(content), 0o600))
	_, err = secrets.LoadKeysFile(bad)
	require.ErrorIs(t, err, secrets.ErrInvalidKey)
	assert.Contains(t, err.Error(), bad)
	assert.Contains(t, err.Error(), "line 2")
	assertNoMaterial(t, err.Error(), m)
}

var devKeyID = regexp.MustCompile(`^k\d{8}[0-9a-f]{6}$`)

func TestEnsureDevKeysFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tether.db.keys")

	keys, created, err := secrets.EnsureDevKeysFile(path)
	require.NoError(t, err)
	assert.True(t, created)
	require.Len(t, keys, 1)
	assert.Regexp(t, devKeyID, keys[0].ID)

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), info.Mode().Perm())
	assertOnlyFile(t, dir, "tether.db.keys")

	again, created, err := secrets.EnsureDevKeysFile(path)
	require.NoError(t, err)
	assert.False(t, created)
	require.Len(t, again, 1)
	assert.Equal(t, secrets.FormatKey(keys[0]), secrets.FormatKey(again[0]))

	// A value written with the first call's keys reads back with the second's.
	ct, err := mustRing(t, keys...).Encrypt([]byte("v"), where)
	require.NoError(t, err)
	pt, err := mustRing(t, again...).Decrypt(ct, where)
	require.NoError(t, err)
	assert.Equal(t, "v", string(pt))
}

func TestEnsureDevKeysFileNeverOverwritesABadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(path, []byte("not a key\n"), 0o600))

	_, created, err := secrets.EnsureDevKeysFile(path)
	require.ErrorIs(t, err, secrets.ErrInvalidKey)
	assert.False(t, created)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "not a key\n", string(b))
}

func TestEnsureDevKeysFileRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []string
		creates int
	)
	for range n {
		wg.Go(func() {
			keys, created, err := secrets.EnsureDevKeysFile(path)
			if !assert.NoError(t, err) || !assert.Len(t, keys, 1) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			results = append(results, secrets.FormatKey(keys[0]))
			if created {
				creates++
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 1, creates)
	require.Len(t, results, n)
	for _, r := range results {
		assert.Equal(t, results[0], r, "every caller must end up with the one key on disk")
	}
}

// assertOnlyFile checks that dir holds exactly names, so temporary files are
// cleaned up.
func assertOnlyFile(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, names, got)
}
