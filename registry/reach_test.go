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

// Every field that says how the server is reached changes the key, and
// values cannot be shifted from one field into the next to hash alike.
func TestReachKeyTellsReachesApart(t *testing.T) {
	base := registry.Connection{TenantID: "acme", Transport: registry.TransportStreamableHTTP, Endpoint: "https://mcp.example.com/mcp",
		Command: "npx", Args: []string{"a", "b"}, Headers: registry.Sensitive{"X-Key": "{{secrets.k}}"}, Secrets: registry.Sensitive{"k": "v"},
		TimeoutMS: 5000, AuthType: registry.AuthHeaders, Enabled: true}
	edits := map[string]func(c *registry.Connection){
		"tenant":        func(c *registry.Connection) { c.TenantID = "other" },
		"transport":     func(c *registry.Connection) { c.Transport = registry.TransportSSE },
		"endpoint":      func(c *registry.Connection) { c.Endpoint += "2" },
		"command":       func(c *registry.Connection) { c.Command = "node" },
		"args":          func(c *registry.Connection) { c.Args = []string{"a", "b", ""} },
		"args shifted":  func(c *registry.Connection) { c.Args = []string{"ab"} },
		"header":        func(c *registry.Connection) { c.Headers = registry.Sensitive{"X-Key": "v"} },
		"header name":   func(c *registry.Connection) { c.Headers = registry.Sensitive{"X-Other": "{{secrets.k}}"} },
		"secret":        func(c *registry.Connection) { c.Secrets = registry.Sensitive{"k": "w"} },
		"secret moved":  func(c *registry.Connection) { c.Secrets, c.Headers = c.Headers, c.Secrets },
		"timeout":       func(c *registry.Connection) { c.TimeoutMS = 6000 },
		"auth":          func(c *registry.Connection) { c.AuthType = registry.AuthBearer },
		"disabled":      func(c *registry.Connection) { c.Enabled = false },
		"into endpoint": func(c *registry.Connection) { c.Endpoint, c.Command = c.Endpoint+"npx", "" },
	}
	seen := map[string]string{registry.ReachKey(&base): "base"}
	for name, edit := range edits {
		c := base
		edit(&c)
		key := registry.ReachKey(&c)
		if other, dup := seen[key]; dup {
			t.Errorf("%s hashes as %s", name, other)
		}
		seen[key] = name
	}
	// Map order does not matter; the nickname does not count.
	c := base
	c.Headers = registry.Sensitive{"X-A": "1", "X-B": "2"}
	d := c
	d.Headers = registry.Sensitive{"X-B": "2", "X-A": "1"}
	d.Nickname = "renamed"
	assert.Equal(t, registry.ReachKey(&c), registry.ReachKey(&d))
}
