package registry_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/registry"
)

// A list shows what a get shows of the credentials (names, templates,
// masks), from rows that carry no credential values.
func TestListShowsWhatGetShowsWithoutValues(t *testing.T) {
	ctx := context.Background()
	f := newCredentialsFixture(t)
	var ids []string
	for i := range 3 {
		c, err := f.svc.Create(ctx, f.tenant, registry.NewConnection{
			Name: fmt.Sprintf("crm-%d", i), Transport: registry.TransportHTTP, Endpoint: "https://mcp.example.com/mcp",
			AuthType: registry.AuthHeaders,
			Headers: registry.Sensitive{
				"X-Key": "{{secrets.K}}", "Authorization": "Bearer literal-token", "X-Org": "acme",
			},
			Secrets: registry.Sensitive{"K": "s3cret", "Spare": "x"},
			Enabled: true, TimeoutMS: registry.DefaultTimeoutMS,
		})
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}

	listed, total, err := f.svc.List(ctx, f.tenant, registry.ListFilter{Limit: 2, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	require.Len(t, listed, 2)
	for i, c := range listed {
		assert.Equal(t, ids[i+1], c.ID)
		full, err := f.svc.Get(ctx, f.tenant, c.ID)
		require.NoError(t, err)
		assert.Equal(t, full.DisplayHeaders(), c.DisplayHeaders())
		assert.Equal(t, full.SecretNames(), c.SecretNames())
		assert.Equal(t, map[string]string{"X-Key": "{{secrets.K}}", "Authorization": registry.Masked, "X-Org": "acme"}, c.DisplayHeaders())
		assert.Equal(t, []string{"K", "Spare"}, c.SecretNames())
		assert.Empty(t, c.Secrets, "a listed row carries no secret values")
		assert.Empty(t, c.Headers, "a listed row carries no header values")
	}

	// An edit shows in the next list.
	_, err = f.svc.Update(ctx, f.tenant, ids[1], registry.Patch{Secrets: map[string]*string{"Spare": nil, "New": ptr("n")}})
	require.NoError(t, err)
	listed, _, err = f.svc.List(ctx, f.tenant, registry.ListFilter{Limit: 2, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{"K", "New"}, listed[0].SecretNames())
}
