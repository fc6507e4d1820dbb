package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// Sealer seals what tether hands an agent to bring back later: the state
// of an input-required answer (MRTR, SEP-2322) and a task handle (the
// tasks extension, SEP-2663). The agent must not read or alter it, and it
// must open on any replica (secrets.Holder implements it with the
// keyring: AES-256-GCM, the binding in the associated data).
//
// tenantID, purpose and subject bind the ciphertext: opening it with any
// of them different fails, which is what refuses state brought back by
// another tenant or API key.
type Sealer interface {
	Seal(tenantID, purpose, subject string, plaintext []byte) ([]byte, error)
	Open(tenantID, purpose, subject string, ciphertext []byte) ([]byte, error)
}

// What sealed state is for (the purpose bound into it), so that a task
// handle is never accepted as a request state or the other way round.
const (
	purposeRequestState = "mcp_request_state"
	purposeTask         = "mcp_task"
)

// Lifetimes of sealed state. A request state answers one question an agent
// puts to its user: minutes, not days. A task handle lives as long as the
// task may, within bounds.
const (
	RequestStateTTL  = 10 * time.Minute
	TaskHandleTTL    = 24 * time.Hour
	MaxTaskHandleTTL = 7 * 24 * time.Hour
)

// sealedPrefix starts every sealed string, naming the format's version.
const sealedPrefix = "tsl1."

// maxSealedLen bounds what is decoded of a sealed string an agent sends.
const maxSealedLen = 64 << 10

// sealed is what a sealed string carries. The tenant and the API key are
// in the binding, not in here.
type sealed struct {
	// Conn is the connection the state came from.
	Conn string `json:"c"`
	// Tool is the upstream tool's name.
	Tool string `json:"t,omitempty"`
	// Server identifies the server the state came from (serverOf): an
	// edit that points the connection at another server voids it.
	Server string `json:"o"`
	// Exp is the expiry, unix seconds.
	Exp int64 `json:"x"`
	// State is the upstream's own value: its requestState, or its taskId.
	State string `json:"s,omitempty"`
}

// seal returns the sealed string for st.
func (s *Service) seal(tenantID, purpose, subject string, st sealed) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	ct, err := s.sealer.Seal(tenantID, purpose, subject, b)
	if err != nil {
		return "", err
	}
	if base64.RawURLEncoding.EncodedLen(len(ct)) > maxSealedLen {
		// open would refuse it: fail now, naming the cause, rather
		// than hand out state whose retry is "not issued by tether".
		return "", errorf(ErrUpstreamInvalid, "the server's %s is too large for tether to relay (%d bytes; sealed, it may take %d KiB)",
			upstreamField(purpose), len(st.State), maxSealedLen>>10)
	}
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(ct), nil
}

// upstreamField names the upstream's value a purpose seals.
func upstreamField(purpose string) string {
	if purpose == purposeTask {
		return "taskId"
	}
	return "requestState"
}

// open returns what a sealed string carries, or ErrInvalidState when it
// was not sealed by tether for this binding or has expired.
func (s *Service) open(tenantID, purpose, subject, value string) (sealed, error) {
	what := "request state"
	if purpose == purposeTask {
		what = "task handle"
	}
	invalid := errorf(ErrInvalidState, "invalid %s: not issued by tether for this caller, or expired", what)
	rest, ok := strings.CutPrefix(value, sealedPrefix)
	if !ok || len(rest) > maxSealedLen {
		return sealed{}, invalid
	}
	ct, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return sealed{}, invalid
	}
	b, err := s.sealer.Open(tenantID, purpose, subject, ct)
	if err != nil {
		return sealed{}, invalid
	}
	var st sealed
	if err := json.Unmarshal(b, &st); err != nil || st.Conn == "" {
		return sealed{}, invalid
	}
	if s.now().Unix() >= st.Exp {
		return sealed{}, errorf(ErrInvalidState, "%s expired; call the tool again", what)
	}
	return st, nil
}

// serverOf identifies the server c reaches: its transport, endpoint,
// command and arguments. Sealed state names it, so that state an edited
// connection's old server handed out (its task ids, its own request
// state, which may hold what a user answered) never goes to the new one.
// Credentials, the timeout and the like are not in it: an edit of those
// keeps the server, and its tasks.
func serverOf(c *Connection) string {
	h := sha256.New()
	for _, f := range append([]string{string(c.Transport), c.Endpoint, c.Command}, c.Args...) {
		h.Write(binary.AppendUvarint(nil, uint64(len(f))))
		io.WriteString(h, f)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// processSealer seals with a random key of this process: the default when
// no Sealer is configured (tests, a single replica).
type processSealer struct{ aead cipher.AEAD }

func newProcessSealer() *processSealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go ≥ 1.24)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("registry: " + err.Error()) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("registry: " + err.Error())
	}
	return &processSealer{aead: aead}
}

func sealAAD(tenantID, purpose, subject string) []byte {
	b, _ := json.Marshal([]string{tenantID, purpose, subject})
	return b
}

func (p *processSealer) Seal(tenantID, purpose, subject string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, p.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return p.aead.Seal(nonce, nonce, plaintext, sealAAD(tenantID, purpose, subject)), nil
}

func (p *processSealer) Open(tenantID, purpose, subject string, ciphertext []byte) ([]byte, error) {
	n := p.aead.NonceSize()
	if len(ciphertext) < n {
		return nil, errors.New("short ciphertext")
	}
	return p.aead.Open(nil, ciphertext[:n], ciphertext[n:], sealAAD(tenantID, purpose, subject))
}
