package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// KeySize is the length in bytes of every key's material (AES-256).
const KeySize = 32

// maxIDLen bounds key ids so that the id length fits the one-byte field of
// the ciphertext header with room to spare, and ids stay readable in logs.
const maxIDLen = 32

// Key is one named 256-bit key. Its material is unexported and the type
// redacts itself in fmt (every verb), slog and JSON output, so a Key can be
// logged or embedded in a config struct without leaking; only [FormatKey]
// reveals the material.
//
// Build a Key with [NewKey], [GenerateKey] or [ParseKeys]. The zero Key, or a
// Key written as a literal, has no material and is refused by [NewKeyring]
// rather than silently encrypting under an all-zero key.
type Key struct {
	// ID names the key in ciphertext headers and in the keys file.
	ID string

	// material is a pointer so that a composite-literal Key is detectably
	// empty, and so that even fmt's field-by-field printing of a struct
	// containing a Key shows an address, not bytes.
	material *[KeySize]byte
}

// NewKey returns a Key named id holding a copy of material. The id must be
// 1-32 characters of [A-Za-z0-9_-]; material must be exactly 32 bytes.
func NewKey(id string, material []byte) (Key, error) {
	if !validID(id) {
		return Key{}, fmt.Errorf("%w: key id must be 1-%d characters of A-Z a-z 0-9 _ -", ErrInvalidKey, maxIDLen)
	}
	if len(material) != KeySize {
		return Key{}, fmt.Errorf("%w: key %q: material is %d bytes, want %d", ErrInvalidKey, id, len(material), KeySize)
	}
	m := new([KeySize]byte)
	copy(m[:], material)
	return Key{ID: id, material: m}, nil
}

// GenerateKey returns a new Key named id with material from crypto/rand.
func GenerateKey(id string) (Key, error) {
	var m [KeySize]byte
	// crypto/rand.Read never fails on supported platforms (it aborts the
	// program instead), but the error is still checked in case that changes.
	if _, err := rand.Read(m[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return NewKey(id, m[:])
}

// NewKeyID returns a fresh key id for a key created at now: "k", the UTC date
// as YYYYMMDD and six random hex digits, e.g. "k20261121a1b2c3". The date tells
// an operator how old a key is; the suffix keeps two keys made the same day
// apart.
func NewKeyID(now time.Time) string {
	var suffix [3]byte
	_, _ = rand.Read(suffix[:]) // never fails; see GenerateKey
	return "k" + now.UTC().Format("20060102") + hex.EncodeToString(suffix[:])
}

// FormatKey returns k as "id:base64" (standard alphabet, padded), the form
// read by [ParseKeys]. It is the only way key material leaves the package,
// for writing the keys file and printing from the CLI. It returns "" for a
// Key without material.
func FormatKey(k Key) string {
	if k.material == nil {
		return ""
	}
	return k.ID + ":" + base64.StdEncoding.EncodeToString(k.material[:])
}

// valid reports whether k can be used to encrypt; ID is exported and could
// have been changed after construction.
func (k Key) valid() bool {
	return k.material != nil && validID(k.ID)
}

// String returns the key id and a redaction marker.
func (k Key) String() string {
	return fmt.Sprintf("Key(%s, material redacted)", k.ID)
}

// GoString returns a Go-syntax-like form with the material redacted, so %#v
// is safe too.
func (k Key) GoString() string {
	return fmt.Sprintf("secrets.Key{ID:%q, material:<redacted>}", k.ID)
}

// Format implements fmt.Formatter so that every verb (including %x, %d and
// %+v, which would otherwise walk the struct) prints the redacted form.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, k.GoString())
		return
	}
	_, _ = fmt.Fprint(f, k.String())
}

// LogValue implements slog.LogValuer: only the id is logged.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("material", "redacted"))
}

// MarshalJSON encodes only the id, so a Key inside a struct that is logged or
// returned as JSON does not leak.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID string `json:"id"`
	}{k.ID})
}

// validID reports whether id is 1-32 characters of [A-Za-z0-9_-]. The
// alphabet keeps ids unambiguous in "id:base64" lists and safe to print.
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
