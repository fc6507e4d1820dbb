package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
)

// openWithKey opens path under a keyring of one key, id "test", whose
// material is 32 bytes of fill.
func openWithKey(t *testing.T, path string, fill byte) *Store {
	t.Helper()
	material := make([]byte, 32)
	for i := range material {
		material[i] = fill
	}
	key, err := secrets.NewKey("test", material)
	require.NoError(t, err)
	ring, err := secrets.NewKeyring([]secrets.Key{key})
	require.NoError(t, err)
	st, err := Open(context.Background(), path, Options{Cipher: ring})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// The start-up key check covers every encrypted column: a row holding
// only an OAuth document, or only a pending authorization's verifier, is
// checked like one with headers and secrets.
func TestCheckDecryptableCoversEveryEncryptedColumn(t *testing.T) {
	forEachBackendFresh(t, func(t *testing.T, fresh func(*testing.T) string) {
		ctx := context.Background()
		cases := map[string]func(t *testing.T, st *Store, c *registry.Connection){
			"OAuth document only": func(t *testing.T, st *Store, c *registry.Connection) {
				c.AuthType, c.OAuth = registry.AuthOAuth, registry.SecretBlob(`{"access_token":"at"}`)
				require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
			},
			"pending authorization only": func(t *testing.T, st *Store, c *registry.Connection) {
				require.NoError(t, st.InsertConnectionCapped(ctx, c, false, 0))
				now := time.Now().UTC().Truncate(time.Millisecond)
				require.NoError(t, st.InsertOAuthState(ctx, &registry.OAuthPending{
					StateHash: []byte{0xAB, 0xCD, 0x01}, TenantID: c.TenantID, ConnectionID: c.ID,
					Verifier: "pkce-verifier", Issuer: "https://as.example", CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
				}))
			},
		}
		for name, seed := range cases {
			t.Run(name, func(t *testing.T) {
				path := fresh(t)
				st := openWithKey(t, path, 1)
				_, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t1", Name: "acme"})
				require.NoError(t, err)
				c := newConn("t1", "c1", "crm")
				c.Headers, c.Secrets = nil, nil // nothing but the column under test
				seed(t, st, c)
				require.NoError(t, st.CheckDecryptable(ctx), "the right key opens everything")
				require.NoError(t, st.Close())

				wrong := openWithKey(t, path, 2) // same key id, other material
				err = wrong.CheckDecryptable(ctx)
				require.Error(t, err, "a wrong keyring must be noticed at start-up")
				assert.ErrorIs(t, err, secrets.ErrDecrypt)
			})
		}
	})
}
