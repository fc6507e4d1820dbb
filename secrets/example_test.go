package secrets_test

import (
	"errors"
	"fmt"

	"github.com/tether-dev/tether/secrets"
)

func Example() {
	oldKey, _ := secrets.GenerateKey("k-old")
	newKey, _ := secrets.GenerateKey("k-new")

	before, _ := secrets.NewKeyring([]secrets.Key{oldKey})
	where := secrets.AAD{Tenant: "default", Table: "connections", Column: "headers", RowID: "c1", Field: "Authorization"}
	ct, _ := before.Encrypt([]byte("Bearer abc"), where)

	// Rotation: the new key becomes primary, the old one still decrypts.
	after, _ := secrets.NewKeyring([]secrets.Key{newKey, oldKey})
	pt, err := after.Decrypt(ct, where)
	fmt.Println(string(pt), err, after.NeedsRotation(ct))

	// The same ciphertext copied to another row does not decrypt.
	elsewhere := where
	elsewhere.RowID = "c2"
	_, err = after.Decrypt(ct, elsewhere)
	fmt.Println(errors.Is(err, secrets.ErrDecrypt))

	// Keys print redacted.
	fmt.Println(newKey)
	// Output:
	// Bearer abc <nil> true
	// true
	// Key(k-new, material redacted)
}
