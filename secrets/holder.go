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

// sealedTable is the AAD "table" of sealed agent state. No table has that
// name, so a sealed value and a stored ciphertext never open as each other.
const sealedTable = "sealed_state"

// Seal encrypts state that tether hands to an agent to bring back (an
// input-required requestState, a task handle: registry.Sealer) with the
// primary key, bound to the tenant, what it is for, and its subject (the
// API key of a request state). Every replica that holds the keyring opens
// it; a key rotation leaves it readable until the old key is retired.
func (h *Holder) Seal(tenantID, purpose, subject string, plaintext []byte) ([]byte, error) {
	return h.Encrypt(plaintext, AAD{Tenant: tenantID, Table: sealedTable, Column: purpose, RowID: subject})
}

// Open decrypts what Seal sealed for the same tenant, purpose and
// subject; anything else is [ErrDecrypt] (or a key error).
func (h *Holder) Open(tenantID, purpose, subject string, ciphertext []byte) ([]byte, error) {
	return h.Decrypt(ciphertext, AAD{Tenant: tenantID, Table: sealedTable, Column: purpose, RowID: subject})
}
