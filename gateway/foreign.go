package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// Sessions of the revisions that have them (2025-11-25 and older) live in
// the memory of the process that opened them. Behind a load balancer with
// no affinity, an agent's requests reach other replicas too, and the
// replica that opened its session may die. A session id is
// "<tag>-<instance><random>": the tag (an HMAC of tenant and persona under
// a key every replica derives from the shared primary encryption key)
// proves whose session it is, the instance names the process that opened
// it. A replica given a session it did not open serves its requests
// without the session, as the stateless handler serves the 2026-07-28
// revision: tenant, persona and key come from the request's credentials
// anyway, and a tool list or call needs nothing from the handshake. What
// does not carry over: the standalone GET stream (answered 405, as a
// server without one does, so list_changed reaches such an agent only on
// the replica holding its session), and a session this process opened and
// then closed (idle, over the key's cap) stays closed: 404.
//
// Limits: a rotation of the primary key changes the tag key of replicas
// started after it; their peers' older sessions are then unknown to them
// (404, and the agent initializes again).

// instanceLen is the length of the instance id in session ids.
const instanceLen = 8

func newInstanceID() string {
	b := make([]byte, instanceLen/2)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b)
}

// isForeign reports whether sid (already checked to carry the request's
// tag) was opened by another process.
func (h *Handler) isForeign(sid string) bool {
	_, rest, ok := strings.Cut(sid, "-")
	if !ok || len(rest) < instanceLen {
		return false // not one of ours: the SDK answers "session not found"
	}
	return rest[:instanceLen] != h.instance
}

// serveForeign serves a request of a session another replica opened.
func (h *Handler) serveForeign(w http.ResponseWriter, r *http.Request, tenantID, persona string) {
	switch r.Method {
	case http.MethodPost:
		h.serveStateless(w, r, tenantID, persona)
	case http.MethodDelete:
		// Nothing of the session is held here.
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			"this replica does not hold the session's stream; requests are served, notifications come from the replica holding the session")
	}
}
