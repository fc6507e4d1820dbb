// Package secrets encrypts values at rest with AES-256-GCM under a keyring of
// named keys, following the "Secrets at rest" rules in SECURITY.md.
//
// One key in a [Keyring] is the primary: every [Keyring.Encrypt] uses it. The
// others only decrypt, so a rotation can add and promote a new key, re-encrypt
// rows in the background (see [Keyring.NeedsRotation] and [KeyIDOf]) and then
// retire the old key without a window in which stored values are unreadable.
// A [Holder] lets a running server swap in a reloaded keyring atomically.
//
// Every ciphertext names the key it was sealed with and is bound by [AAD] to
// the tenant, table, column, row and field it was written for, so a value
// copied to another row or tenant does not decrypt. Decryption fails closed:
// an unknown key id is [ErrUnknownKey], never an attempt with some other key,
// and nothing is ever returned as plaintext when authentication fails.
//
// # Ciphertext format (version 1)
//
//	+---------+--------+----------------+-----------+---------------------+
//	| version | id len | key id         | nonce     | ciphertext + tag    |
//	| 1 byte  | 1 byte | id len bytes   | 12 bytes  | len(plaintext) + 16 |
//	+---------+--------+----------------+-----------+---------------------+
//
// The version byte is 1. The key id is 1-32 bytes of [A-Za-z0-9_-]. The nonce
// is fresh from crypto/rand for each encryption. The GCM additional data is the
// header (version, id len, key id) followed by the five [AAD] fields, each
// prefixed by its length as a 4-byte big-endian integer, so altering the header
// fails authentication and no two distinct AAD values encode alike.
//
// # Key configuration
//
// Keys are written "id:base64" where the base64 (standard or URL alphabet,
// padded or not) decodes to exactly 32 bytes. [ParseKeys] accepts the flag form
// ("id:b64,id:b64") and the keys-file form (one key a line, blank lines and
// '#' comments ignored); the first key is the primary. [FormatKey] is the only
// way key material leaves this package; [Key] redacts itself everywhere else.
//
// # Example
//
//	keys, err := secrets.ParseKeys(os.Getenv("TETHER_ENCRYPTION_KEYS"))
//	if err != nil {
//		return err
//	}
//	ring, err := secrets.NewKeyring(keys)
//	if err != nil {
//		return err
//	}
//	where := secrets.AAD{Tenant: "default", Table: "connections", Column: "headers", RowID: "c1", Field: "Authorization"}
//	ct, err := ring.Encrypt([]byte("Bearer abc"), where)
//	if err != nil {
//		return err
//	}
//	pt, err := ring.Decrypt(ct, where) // the same AAD, or ErrDecrypt
package secrets
