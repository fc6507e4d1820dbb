package secrets

import "errors"

var (
	// ErrUnknownKey reports a ciphertext sealed under a key id that the
	// keyring does not hold. The wrapping error names the id, so an operator
	// can tell which retired or missing key the database still needs.
	ErrUnknownKey = errors.New("secrets: unknown encryption key")

	// ErrDecrypt reports that authentication failed: the ciphertext was
	// tampered with, or it is being read with different AAD than it was
	// written with (moved to another row, tenant, table, column or field).
	ErrDecrypt = errors.New("secrets: decryption failed")

	// ErrMalformed reports a ciphertext whose framing cannot be parsed: too
	// short, an unknown version, or an invalid key id in the header.
	ErrMalformed = errors.New("secrets: malformed ciphertext")

	// ErrInvalidKey reports an unusable key or key configuration: a bad id,
	// material that is not 32 bytes of base64, duplicate ids or no keys at
	// all. Its messages never contain key material.
	ErrInvalidKey = errors.New("secrets: invalid key")
)
