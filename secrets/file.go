package secrets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// keysFileMode keeps the keys file readable by its owner only.
const keysFileMode = 0o600

// LoadKeysFile reads and parses a keys file (see [ParseKeys]); the first key
// is the primary.
func LoadKeysFile(path string) ([]Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load keys file: %w", err)
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("load keys file %s: %w", path, err)
	}
	return keys, nil
}

// WriteKeysFile writes keys to path, one "id:base64" a line with the primary
// first, with mode 0600. It writes a temporary file in the same directory and
// renames it over path, so a crash or a concurrent reader (the server reloading
// on SIGHUP) sees either the old file or the new one, never a partial one.
func WriteKeysFile(path string, keys []Key) error {
	content, err := keysFileContent(keys)
	if err != nil {
		return fmt.Errorf("write keys file %s: %w", path, err)
	}
	tmp, err := writeTemp(path, content)
	if err != nil {
		return fmt.Errorf("write keys file %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write keys file %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// EnsureDevKeysFile returns the keys in path, creating the file with one new
// key (id from [NewKeyID]) if it does not exist. created reports whether it
// did, so the caller can warn that a generated key now guards the database
// and must be kept with it. It is for `make run` and first starts with no key
// configuration; production should pass keys explicitly.
//
// Creation never overwrites: if another process creates the file first, its
// keys are loaded and created is false.
func EnsureDevKeysFile(path string) (keys []Key, created bool, err error) {
	keys, err = LoadKeysFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return keys, false, err
	}
	k, err := GenerateKey(NewKeyID(time.Now()))
	if err != nil {
		return nil, false, err
	}
	keys = []Key{k}
	content, err := keysFileContent(keys)
	if err != nil {
		return nil, false, err
	}
	tmp, err := writeTemp(path, content)
	if err != nil {
		return nil, false, fmt.Errorf("create keys file %s: %w", path, err)
	}
	defer os.Remove(tmp)
	// A hard link publishes the complete file atomically and, unlike
	// rename, fails if path already exists, so two first starts racing
	// cannot each write a key and lose one.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			keys, err = LoadKeysFile(path)
			return keys, false, err
		}
		return nil, false, fmt.Errorf("create keys file %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return keys, true, nil
}

// keysFileContent renders keys in the keys-file format after checking that
// they would load again, so a bad write cannot lock the server out of its data.
func keysFileContent(keys []Key) ([]byte, error) {
	if _, err := NewKeyring(keys); err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(FormatKey(k))
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// writeTemp writes content to a new 0600 file beside path, synced to disk,
// and returns its name.
func writeTemp(path string, content []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(name)
		return "", err
	}
	// CreateTemp already uses 0600; Chmod states the requirement rather
	// than relying on that detail.
	if err := f.Chmod(keysFileMode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(content); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return "", err
	}
	return name, nil
}

// syncDir makes a rename or link in dir durable. It is best effort: some
// platforms and filesystems cannot fsync a directory, and the file itself is
// already complete either way.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
