package registry

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"maps"
	"slices"
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
// Keys are comparable within this process only. Each field goes into the
// hash length-prefixed, maps in key order, so that distinct connections
// cannot hash alike and equal ones always do. Empty and nil are the same
// reach (a row read back from the store has {} where the one created in
// memory had nil). It is computed on every tool call, so it is written
// field by field, not through encoding/json.
func ReachKey(c *Connection) string {
	w := reachHash{h: hmac.New(sha256.New, reachSalt)}
	w.str(c.TenantID)
	w.str(string(c.Transport))
	w.str(c.Endpoint)
	w.str(c.Command)
	w.num(len(c.Args))
	for _, a := range c.Args {
		w.str(a)
	}
	w.dict(c.Headers)
	w.dict(c.Secrets)
	w.num(c.TimeoutMS)
	w.str(string(c.AuthType))
	if c.Enabled {
		w.num(1)
	} else {
		w.num(0)
	}
	return string(w.h.Sum(nil))
}

// reachHash writes ReachKey's fields into its hash.
type reachHash struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (w *reachHash) num(n int) {
	w.h.Write(binary.AppendVarint(w.buf[:0], int64(n)))
}

func (w *reachHash) str(s string) {
	w.num(len(s))
	io.WriteString(w.h, s)
}

func (w *reachHash) dict(m Sensitive) {
	w.num(len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		w.str(k)
		w.str(m[k])
	}
}
