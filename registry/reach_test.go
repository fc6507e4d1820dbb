package registry_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/tether-dev/tether/registry"
)

// A row created in memory (nil headers, secrets, args) and the same row
// read back from the store (empty ones) reach the server the same way:
// otherwise a probe of the first is thrown away as stale when recorded.
func TestReachKeyEmptyEqualsNil(t *testing.T) {
	created := &registry.Connection{TenantID: "acme", Transport: registry.TransportStreamableHTTP, Endpoint: "https://mcp.example.com/mcp", Enabled: true}
	stored := *created
	stored.Headers, stored.Secrets, stored.Args = registry.Sensitive{}, registry.Sensitive{}, []string{}
	assert.Equal(t, registry.ReachKey(created), registry.ReachKey(&stored))

	other := stored
	other.Headers = registry.Sensitive{"Authorization": "Bearer x"}
	assert.NotEqual(t, registry.ReachKey(created), registry.ReachKey(&other))
}
