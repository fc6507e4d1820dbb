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
	_ = json.NewEncoder(h).Encode([]any{c.TenantID, c.Transport, c.Endpoint, c.Command, c.Args,
		map[string]string(c.Headers), map[string]string(c.Secrets), c.TimeoutMS, c.AuthType, c.Enabled})
	return string(h.Sum(nil))
}
