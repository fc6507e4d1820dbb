package secrets_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/secrets"
)

// Sealed agent state opens only for its tenant, purpose and subject, on
// any holder of the keys, and survives a rotation until its key is
// retired.
func TestHolderSeal(t *testing.T) {
	k1, err := secrets.GenerateKey("k1")
	require.NoError(t, err)
	ring, err := secrets.NewKeyring([]secrets.Key{k1})
	require.NoError(t, err)
	h := secrets.NewHolder(ring)
	ct, err := h.Seal("acme", "mcp_request_state", "key-1", []byte("state"))
	require.NoError(t, err)

	replica := secrets.NewHolder(ring) // another replica, same keys
	pt, err := replica.Open("acme", "mcp_request_state", "key-1", ct)
	require.NoError(t, err)
	assert.Equal(t, "state", string(pt))

	for _, tt := range []struct{ name, tenant, purpose, subject string }{
		{"another tenant", "globex", "mcp_request_state", "key-1"},
		{"another purpose", "acme", "mcp_task", "key-1"},
		{"another key", "acme", "mcp_request_state", "key-2"},
	} {
		_, err := h.Open(tt.tenant, tt.purpose, tt.subject, ct)
		assert.ErrorIs(t, err, secrets.ErrDecrypt, tt.name)
	}
	// Not a stored value either.
	_, err = h.Decrypt(ct, secrets.AAD{Tenant: "acme", Table: "connections", Column: "mcp_request_state", RowID: "key-1"})
	assert.Error(t, err)

	k2, err := secrets.GenerateKey("k2")
	require.NoError(t, err)
	rotated, err := secrets.NewKeyring([]secrets.Key{k2, k1})
	require.NoError(t, err)
	h.Store(rotated)
	_, err = h.Open("acme", "mcp_request_state", "key-1", ct)
	require.NoError(t, err, "readable after a rotation")
	retired, err := secrets.NewKeyring([]secrets.Key{k2})
	require.NoError(t, err)
	h.Store(retired)
	_, err = h.Open("acme", "mcp_request_state", "key-1", ct)
	assert.Error(t, err, "not after its key is retired")
}
