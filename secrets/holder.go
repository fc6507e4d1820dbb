package secrets

import "sync/atomic"

// Holder holds the keyring in use and lets it be replaced while other
// goroutines encrypt and decrypt, so a SIGHUP or admin call can reload the
// keys file without a restart (SECURITY.md rule 4). Callers that keep a
// *Holder rather than a *Keyring always see the latest keys; a single
// operation that needs a consistent view (say, decrypt then re-encrypt)
// should call Load once and use that keyring throughout.
type Holder struct {
	ring atomic.Pointer[Keyring]
}

// NewHolder returns a Holder holding r, which must not be nil.
func NewHolder(r *Keyring) *Holder {
	h := &Holder{}
	h.Store(r)
	return h
}

// Load returns the current keyring.
func (h *Holder) Load() *Keyring { return h.ring.Load() }

// Store makes r the current keyring. It panics if r is nil, because a Holder
// without keys would turn every later Encrypt into a nil dereference far from
// the mistake.
func (h *Holder) Store(r *Keyring) {
	if r == nil {
		panic("secrets: Holder.Store with a nil Keyring")
	}
	h.ring.Store(r)
}

// Encrypt encrypts with the current keyring; see [Keyring.Encrypt].
func (h *Holder) Encrypt(plaintext []byte, aad AAD) ([]byte, error) {
	return h.Load().Encrypt(plaintext, aad)
}

// Decrypt decrypts with the current keyring; see [Keyring.Decrypt].
func (h *Holder) Decrypt(ciphertext []byte, aad AAD) ([]byte, error) {
	return h.Load().Decrypt(ciphertext, aad)
}
