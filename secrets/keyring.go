package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
)

const (
	// version is the first byte of every ciphertext; a new framing or
	// algorithm gets a new version so old rows stay readable.
	version byte = 1

	nonceSize = 12 // 96-bit GCM nonce (NIST SP 800-38D recommended size)
	tagSize   = 16
)

// AAD binds a ciphertext to where it lives. Decrypting with any field
// different from the one used to encrypt fails with [ErrDecrypt], which is
// what makes a value copied to another row, tenant or column unreadable.
type AAD struct {
	// Tenant is the owning tenant's id.
	Tenant string
	// Table is the database table holding the value.
	Table string
	// Column is the column holding the value.
	Column string
	// RowID is the primary key of the row.
	RowID string
	// Field names the value within a map-valued column, e.g. the header name
	// or secret name; empty when the column holds a single value.
	Field string
}

// appendTo appends the header and the AAD fields, each length-prefixed, so
// that ("ab","c") and ("a","bc") can never encode the same bytes.
func (a AAD) appendTo(dst []byte) []byte {
	for _, f := range [...]string{a.Tenant, a.Table, a.Column, a.RowID, a.Field} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// Keyring holds the keys that encrypt and decrypt secrets. The first key is
// the primary and seals every new ciphertext; the others only open values
// written before a rotation. A Keyring is immutable and safe for concurrent
// use; to change keys at runtime build a new one and swap it in a [Holder].
type Keyring struct {
	primary string
	ids     []string
	// aeads is filled once in NewKeyring and only read afterwards; the
	// standard library's GCM keeps no per-call state, so sharing is safe.
	aeads map[string]cipher.AEAD
	// derive holds, per key, HMAC-SHA256(material, "tether/derive/v1"):
	// the root of Derive's keys, so the material itself never leaves.
	derive map[string][]byte
}

// NewKeyring returns a keyring over keys, the first of which is the primary.
// It needs at least one key and refuses duplicate ids and keys not built by
// this package.
func NewKeyring(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: a keyring needs at least one key", ErrInvalidKey)
	}
	r := &Keyring{
		primary: keys[0].ID,
		ids:     make([]string, 0, len(keys)),
		aeads:   make(map[string]cipher.AEAD, len(keys)),
		derive:  make(map[string][]byte, len(keys)),
	}
	for i, k := range keys {
		if !k.valid() {
			return nil, fmt.Errorf("%w: key %d has no material or an invalid id", ErrInvalidKey, i+1)
		}
		if _, dup := r.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate key id %q", ErrInvalidKey, k.ID)
		}
		block, err := aes.NewCipher(k.material[:])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
		r.aeads[k.ID] = aead
		m := hmac.New(sha256.New, k.material[:])
		m.Write([]byte("tether/derive/v1"))
		r.derive[k.ID] = m.Sum(nil)
		r.ids = append(r.ids, k.ID)
	}
	return r, nil
}

// Derive returns a 32-byte key for purpose, derived from the primary key:
// every process holding the same primary derives the same key (replicas
// that must recognise each other's tokens), and nothing about the key
// material can be learnt from it.
func (r *Keyring) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, r.derive[r.primary])
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Primary returns the id of the key that encrypts.
func (r *Keyring) Primary() string { return r.primary }

// IDs returns the key ids, primary first, in configuration order.
func (r *Keyring) IDs() []string { return slices.Clone(r.ids) }

// Has reports whether the keyring holds a key named id, e.g. to check that
// every key id found in the database is still configured.
func (r *Keyring) Has(id string) bool {
	_, ok := r.aeads[id]
	return ok
}

// Encrypt seals plaintext under the primary key with a fresh random nonce,
// bound to aad. The result is in the format described in the package doc.
func (r *Keyring) Encrypt(plaintext []byte, aad AAD) ([]byte, error) {
	id := r.primary
	aead := r.aeads[id]
	hdrLen := 2 + len(id)
	out := make([]byte, hdrLen+nonceSize, hdrLen+nonceSize+len(plaintext)+tagSize)
	out[0] = version
	out[1] = byte(len(id))
	copy(out[2:], id)
	nonce := out[hdrLen:]
	// A random 96-bit nonce is safe for well beyond the number of secrets
	// tether will ever store under one key (NIST's 2^32 bound).
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt: read nonce: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, aad.appendTo(out[:hdrLen:hdrLen])), nil
}

// Decrypt opens a ciphertext made by Encrypt with the key its header names.
// It fails with [ErrMalformed] if the framing is bad, [ErrUnknownKey] (naming
// the id) if the keyring lacks that key, and [ErrDecrypt] if aad differs from
// the one used to encrypt or any byte was altered. It never tries another key
// and never returns the input as plaintext.
func (r *Keyring) Decrypt(ciphertext []byte, aad AAD) ([]byte, error) {
	id, hdrLen, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	aead, ok := r.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKey, id)
	}
	if len(ciphertext) < hdrLen+nonceSize+tagSize {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(ciphertext))
	}
	// Copy the header before building the AAD so appending never writes
	// into the caller's ciphertext.
	ad := aad.appendTo(append(make([]byte, 0, hdrLen+64), ciphertext[:hdrLen]...))
	nonce := ciphertext[hdrLen : hdrLen+nonceSize]
	pt, err := aead.Open(nil, nonce, ciphertext[hdrLen+nonceSize:], ad)
	if err != nil {
		// The cause from crypto/cipher says nothing more than "failed";
		// the key id helps tell a tampered row from a mis-addressed one.
		return nil, fmt.Errorf("%w (key %q)", ErrDecrypt, id)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// KeyIDOf returns the id of the key that sealed ciphertext, read from the
// header without decrypting. `tether keys status` counts values per key with
// it, and the re-encryption pass uses it to find rows still under old keys.
func KeyIDOf(ciphertext []byte) (string, error) {
	id, _, err := parseHeader(ciphertext)
	return id, err
}

// NeedsRotation reports whether ciphertext was sealed under a key other than
// the primary and so should be re-encrypted. A malformed ciphertext also
// reports true, so the re-encryption pass tries it and surfaces the error
// instead of skipping it silently.
func (r *Keyring) NeedsRotation(ciphertext []byte) bool {
	id, err := KeyIDOf(ciphertext)
	return err != nil || id != r.primary
}

// String describes the keyring by its key ids; the material never appears.
func (r *Keyring) String() string {
	return fmt.Sprintf("Keyring(primary=%s, ids=%v)", r.primary, r.ids)
}

// GoString keeps %#v from walking into the cipher state.
func (r *Keyring) GoString() string { return r.String() }

// LogValue implements slog.LogValuer with the key ids only.
func (r *Keyring) LogValue() slog.Value {
	return slog.GroupValue(slog.String("primary", r.primary), slog.Any("ids", r.ids))
}

// parseHeader returns the key id and header length of ciphertext. It rejects
// ids outside the key id alphabet so a corrupt header is reported as
// malformed, and never echoes arbitrary bytes into an error.
func parseHeader(ct []byte) (id string, hdrLen int, err error) {
	if len(ct) < 2 {
		return "", 0, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(ct))
	}
	if ct[0] != version {
		return "", 0, fmt.Errorf("%w: unknown version %d", ErrMalformed, ct[0])
	}
	n := int(ct[1])
	if len(ct) < 2+n {
		return "", 0, fmt.Errorf("%w: truncated key id", ErrMalformed)
	}
	id = string(ct[2 : 2+n])
	if !validID(id) {
		return "", 0, fmt.Errorf("%w: invalid key id in header", ErrMalformed)
	}
	return id, 2 + n, nil
}
