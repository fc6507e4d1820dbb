package secrets_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/secrets"
)

var where = secrets.AAD{Tenant: "t1", Table: "connections", Column: "headers", RowID: "c1", Field: "Authorization"}

func mustKey(t *testing.T, id string) secrets.Key {
	t.Helper()
	k, err := secrets.GenerateKey(id)
	require.NoError(t, err)
	return k
}

func mustRing(t *testing.T, keys ...secrets.Key) *secrets.Keyring {
	t.Helper()
	r, err := secrets.NewKeyring(keys)
	require.NoError(t, err)
	return r
}

func TestRoundTrip(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	tests := []struct {
		name      string
		plaintext []byte
	}{
		{name: "text", plaintext: []byte("Bearer sk-live-123")},
		{name: "empty", plaintext: []byte{}},
		{name: "binary", plaintext: []byte{0, 1, 2, 0xff, 0}},
		{name: "large", plaintext: bytes.Repeat([]byte("x"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, err := r.Encrypt(tt.plaintext, where)
			require.NoError(t, err)
			pt, err := r.Decrypt(ct, where)
			require.NoError(t, err)
			assert.Equal(t, tt.plaintext, pt)
		})
	}
}

func TestCiphertextFraming(t *testing.T) {
	r := mustRing(t, mustKey(t, "key-A_1"))
	pt := []byte("hello")
	ct, err := r.Encrypt(pt, where)
	require.NoError(t, err)
	// version | id len | id | 12-byte nonce | ciphertext + 16-byte tag
	require.Len(t, ct, 1+1+len("key-A_1")+12+len(pt)+16)
	assert.Equal(t, byte(1), ct[0])
	assert.Equal(t, byte(len("key-A_1")), ct[1])
	assert.Equal(t, "key-A_1", string(ct[2:9]))
}

func TestDecryptFailsWhenAnyAADFieldChanges(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	ct, err := r.Encrypt([]byte("secret"), where)
	require.NoError(t, err)

	tests := []struct {
		name   string
		change func(a *secrets.AAD)
	}{
		{name: "tenant", change: func(a *secrets.AAD) { a.Tenant = "t2" }},
		{name: "table", change: func(a *secrets.AAD) { a.Table = "oauth_tokens" }},
		{name: "column", change: func(a *secrets.AAD) { a.Column = "secrets" }},
		{name: "row moved", change: func(a *secrets.AAD) { a.RowID = "c2" }},
		{name: "field", change: func(a *secrets.AAD) { a.Field = "X-Api-Key" }},
		{name: "field emptied", change: func(a *secrets.AAD) { a.Field = "" }},
		{name: "all empty", change: func(a *secrets.AAD) { *a = secrets.AAD{} }},
		// Joining fields with a separator would make these collide; the
		// length-prefixed encoding must not.
		{name: "boundary shift tenant/table", change: func(a *secrets.AAD) { a.Tenant, a.Table = "t1c", "onnections" }},
		{name: "boundary shift row/field", change: func(a *secrets.AAD) { a.RowID, a.Field = "c1Authorization", "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := where
			tt.change(&other)
			require.NotEqual(t, where, other)
			pt, err := r.Decrypt(ct, other)
			require.ErrorIs(t, err, secrets.ErrDecrypt)
			assert.Nil(t, pt)
		})
	}
}

func TestAADEncodingIsUnambiguous(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	// Each pair joins to the same string with sep, so an encoding that
	// joined fields with a separator would let one decrypt as the other.
	for _, sep := range []string{"|", "\x00", "/", ":", "\n"} {
		t.Run(fmt.Sprintf("%q", sep), func(t *testing.T) {
			a := secrets.AAD{Tenant: "t", Table: "x" + sep + "y", Column: "c", RowID: "r", Field: "f"}
			b := secrets.AAD{Tenant: "t" + sep + "x", Table: "y", Column: "c", RowID: "r", Field: "f"}
			c := secrets.AAD{Tenant: "t", Table: "x", Column: "c", RowID: "r", Field: "f" + sep}
			d := secrets.AAD{Tenant: "t", Table: "x", Column: "c", RowID: "r" + sep + "f", Field: ""}
			for _, pair := range [][2]secrets.AAD{{a, b}, {c, d}} {
				ct, err := r.Encrypt([]byte("v"), pair[0])
				require.NoError(t, err)
				_, err = r.Decrypt(ct, pair[1])
				require.ErrorIs(t, err, secrets.ErrDecrypt)
			}
		})
	}
}

func TestCiphertextMovedToAnotherRowFails(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	rowA := secrets.AAD{Tenant: "t1", Table: "secrets", Column: "value", RowID: "a"}
	rowB := rowA
	rowB.RowID = "b"
	ctA, err := r.Encrypt([]byte("a's secret"), rowA)
	require.NoError(t, err)

	// Copying A's ciphertext into B's row must not make it readable as B's.
	_, err = r.Decrypt(ctA, rowB)
	require.ErrorIs(t, err, secrets.ErrDecrypt)

	pt, err := r.Decrypt(ctA, rowA)
	require.NoError(t, err)
	assert.Equal(t, "a's secret", string(pt))
}

func TestAnyFlippedBitFails(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	ct, err := r.Encrypt([]byte("some secret value"), where)
	require.NoError(t, err)
	hdrLen := 2 + len("k1")

	for i := range ct {
		for bit := range 8 {
			bad := bytes.Clone(ct)
			bad[i] ^= 1 << bit
			pt, err := r.Decrypt(bad, where)
			require.Error(t, err, "byte %d bit %d", i, bit)
			assert.Nil(t, pt)
			if i >= hdrLen {
				// Nonce and body are covered by the tag.
				require.ErrorIs(t, err, secrets.ErrDecrypt, "byte %d bit %d", i, bit)
			} else {
				// A header change may be caught while parsing or by lookup
				// before GCM ever runs; any of these is a refusal.
				assert.True(t,
					errors.Is(err, secrets.ErrMalformed) || errors.Is(err, secrets.ErrUnknownKey) || errors.Is(err, secrets.ErrDecrypt),
					"byte %d bit %d: %v", i, bit, err)
			}
		}
	}
}

func TestHeaderIsAuthenticated(t *testing.T) {
	// Two ids over the same material: only the header's key id differs, so
	// a swapped id is caught only if the header is part of the GCM AAD.
	k1 := mustKey(t, "ka")
	k2, err := secrets.NewKey("kb", keyMaterial(t, k1))
	require.NoError(t, err)
	r := mustRing(t, k1, k2)

	ct, err := r.Encrypt([]byte("secret"), where)
	require.NoError(t, err)
	bad := bytes.Clone(ct)
	copy(bad[2:4], "kb")
	id, err := secrets.KeyIDOf(bad)
	require.NoError(t, err)
	require.Equal(t, "kb", id)

	_, err = r.Decrypt(bad, where)
	require.ErrorIs(t, err, secrets.ErrDecrypt)
}

func TestTruncatedCiphertextFails(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	ct, err := r.Encrypt([]byte("secret"), where)
	require.NoError(t, err)
	for n := range len(ct) {
		_, err := r.Decrypt(ct[:n], where)
		require.Error(t, err, "length %d", n)
	}
	_, err = r.Decrypt(append(bytes.Clone(ct), 0), where)
	require.ErrorIs(t, err, secrets.ErrDecrypt)
}

func TestMalformed(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	tests := []struct {
		name string
		ct   []byte
	}{
		{name: "nil", ct: nil},
		{name: "one byte", ct: []byte{1}},
		{name: "unknown version", ct: append([]byte{2, 2, 'k', '1'}, make([]byte, 40)...)},
		{name: "version zero", ct: append([]byte{0, 2, 'k', '1'}, make([]byte, 40)...)},
		{name: "plaintext is not accepted", ct: []byte("just some plaintext that was never encrypted")},
		{name: "id length past end", ct: []byte{1, 40, 'k'}},
		{name: "empty id", ct: append([]byte{1, 0}, make([]byte, 40)...)},
		{name: "id outside alphabet", ct: append([]byte{1, 2, 'k', '/'}, make([]byte, 40)...)},
		{name: "no room for nonce and tag", ct: append([]byte{1, 2, 'k', '1'}, make([]byte, 27)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := r.Decrypt(tt.ct, where)
			require.ErrorIs(t, err, secrets.ErrMalformed)
			assert.Nil(t, pt)
		})
	}
}

func TestUnknownKeyNamesTheID(t *testing.T) {
	old := mustRing(t, mustKey(t, "k-retired"))
	ct, err := old.Encrypt([]byte("secret"), where)
	require.NoError(t, err)

	// Even a ring with the same id length and a key that could not possibly
	// work must refuse up front rather than try its keys.
	r := mustRing(t, mustKey(t, "k-current"), mustKey(t, "k-previous"))
	pt, err := r.Decrypt(ct, where)
	require.ErrorIs(t, err, secrets.ErrUnknownKey)
	assert.NotErrorIs(t, err, secrets.ErrDecrypt)
	assert.Contains(t, err.Error(), `"k-retired"`)
	assert.Nil(t, pt)
}

func TestRotation(t *testing.T) {
	oldKey := mustKey(t, "k-old")
	before := mustRing(t, oldKey)
	ctOld, err := before.Encrypt([]byte("written before rotation"), where)
	require.NoError(t, err)
	assert.False(t, before.NeedsRotation(ctOld))

	after := mustRing(t, mustKey(t, "k-new"), oldKey)
	assert.Equal(t, "k-new", after.Primary())
	assert.Equal(t, []string{"k-new", "k-old"}, after.IDs())

	pt, err := after.Decrypt(ctOld, where)
	require.NoError(t, err)
	assert.Equal(t, "written before rotation", string(pt))
	assert.True(t, after.NeedsRotation(ctOld))

	ctNew, err := after.Encrypt(pt, where)
	require.NoError(t, err)
	id, err := secrets.KeyIDOf(ctNew)
	require.NoError(t, err)
	assert.Equal(t, "k-new", id)
	assert.False(t, after.NeedsRotation(ctNew))

	// Once the old key is retired, old values are refused, never guessed at.
	retired := mustRing(t, mustKey(t, "k-new2"))
	_, err = retired.Decrypt(ctOld, where)
	require.ErrorIs(t, err, secrets.ErrUnknownKey)
}

func TestNeedsRotationMalformed(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	assert.True(t, r.NeedsRotation([]byte("garbage")))
	_, err := secrets.KeyIDOf([]byte("garbage"))
	require.ErrorIs(t, err, secrets.ErrMalformed)
}

func TestNoncesDiffer(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	seen := make(map[string]bool)
	ctSeen := make(map[string]bool)
	hdrLen := 2 + len("k1")
	for range 1000 {
		ct, err := r.Encrypt([]byte("same plaintext"), where)
		require.NoError(t, err)
		nonce := string(ct[hdrLen : hdrLen+12])
		require.False(t, seen[nonce], "nonce reused")
		require.False(t, ctSeen[string(ct)], "ciphertext repeated")
		seen[nonce] = true
		ctSeen[string(ct)] = true
	}
}

func TestDecryptDoesNotModifyInput(t *testing.T) {
	r := mustRing(t, mustKey(t, "k1"))
	ct, err := r.Encrypt([]byte("secret"), where)
	require.NoError(t, err)
	// Give the slice spare capacity so an append inside Decrypt would
	// write into it if the implementation reused the caller's buffer.
	buf := make([]byte, len(ct), len(ct)+256)
	copy(buf, ct)
	orig := bytes.Clone(buf[:cap(buf)])
	_, err = r.Decrypt(buf, where)
	require.NoError(t, err)
	assert.Equal(t, orig, buf[:cap(buf)])
}

func TestNewKeyring(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	dup, err := secrets.NewKey("k1", keyMaterial(t, k2))
	require.NoError(t, err)
	renamed := k1
	renamed.ID = "not valid!"

	tests := []struct {
		name string
		keys []secrets.Key
	}{
		{name: "no keys", keys: nil},
		{name: "duplicate id", keys: []secrets.Key{k1, k2, dup}},
		{name: "literal key without material", keys: []secrets.Key{{ID: "k1"}}},
		{name: "id changed to invalid", keys: []secrets.Key{renamed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := secrets.NewKeyring(tt.keys)
			require.ErrorIs(t, err, secrets.ErrInvalidKey)
			assert.Nil(t, r)
		})
	}

	r := mustRing(t, k1, k2)
	assert.True(t, r.Has("k2"))
	assert.False(t, r.Has("k3"))
	ids := r.IDs()
	ids[0] = "changed"
	assert.Equal(t, "k1", r.IDs()[0], "IDs must return a copy")
}

func TestHolderSwapsConcurrently(t *testing.T) {
	k1, k2 := mustKey(t, "k1"), mustKey(t, "k2")
	r1 := mustRing(t, k1, k2)
	r2 := mustRing(t, k2, k1)
	h := secrets.NewHolder(r1)
	require.Same(t, r1, h.Load())

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				ct, err := h.Encrypt([]byte("v"), where)
				if !assert.NoError(t, err) {
					return
				}
				// Both rings hold both keys, so every value stays readable
				// whichever ring is current when it is read back.
				pt, err := h.Decrypt(ct, where)
				if !assert.NoError(t, err) || !assert.Equal(t, "v", string(pt)) {
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				h.Store(r2)
			} else {
				h.Store(r1)
			}
		}
	})
	wg.Wait()

	h.Store(r2)
	ct, err := h.Encrypt([]byte("v"), where)
	require.NoError(t, err)
	id, err := secrets.KeyIDOf(ct)
	require.NoError(t, err)
	assert.Equal(t, "k2", id)
	assert.Panics(t, func() { h.Store(nil) })
}

// Derive gives the same key for the same primary and purpose, another for
// another purpose or primary, and never the material itself.
func TestDerive(t *testing.T) {
	a, err := secrets.GenerateKey("a")
	require.NoError(t, err)
	b, err := secrets.GenerateKey("b")
	require.NoError(t, err)
	r1, err := secrets.NewKeyring([]secrets.Key{a, b})
	require.NoError(t, err)
	r2, err := secrets.NewKeyring([]secrets.Key{a})
	require.NoError(t, err)
	r3, err := secrets.NewKeyring([]secrets.Key{b, a})
	require.NoError(t, err)
	assert.Equal(t, r1.Derive("x"), r2.Derive("x"), "same primary, same key")
	assert.NotEqual(t, r1.Derive("x"), r1.Derive("y"))
	assert.NotEqual(t, r1.Derive("x"), r3.Derive("x"), "another primary")
	assert.NotContains(t, secrets.FormatKey(a), string(r1.Derive("x")))
	assert.Len(t, r1.Derive("x"), 32)
}
