package registry

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
)

// reachSalt keys reach keys: they are hashes over secrets, and must not be
// comparable outside this process.
var reachSalt = func() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return b
}()

// ReachKey identifies how tether reaches a connection's server: its
// tenant, transport, endpoint, command and arguments, headers, secrets,
// timeout, auth type and whether it is enabled. It is the one key for that
// idea. The registry shares probes, and keeps their results, per key: an
// edit of the nickname does not make a running probe stale, an edit of the
// endpoint does (an OAuth token refresh does not change a stored row's
// key). mcpclient's pool keeps a warm session only for the key it was
// opened with, computed on the connection it dials (OAuth token included),
// so old credentials are never reused for an edited connection.
//
// Keys are comparable within this process only.
func ReachKey(c *Connection) string {
	h := hmac.New(sha256.New, reachSalt)
	// encoding/json sorts map keys, so equal connections hash equally.
	// Empty and nil are the same reach (a row read back from the store has
	// {} where the one created in memory had nil).
	_ = json.NewEncoder(h).Encode([]any{c.TenantID, c.Transport, c.Endpoint, c.Command, orNil(c.Args),
		orNil(map[string]string(c.Headers)), orNil(map[string]string(c.Secrets)), c.TimeoutMS, c.AuthType, c.Enabled})
	return string(h.Sum(nil))
}

// orNil is nil for an empty map or slice, v otherwise.
func orNil[T ~[]string | ~map[string]string](v T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}
