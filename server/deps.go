package server

import (
	"context"

	"github.com/tether-dev/tether/registry"
)

// The small interfaces below are what the handlers call of the registry;
// *registry.Service implements all of them and *registry.Keys implements
// APIKeys. A handler test can give the server a fake of just the part it
// exercises.

// Connections is the connection CRUD both dialects share.
type Connections interface {
	Create(ctx context.Context, tenantID string, in registry.NewConnection) (*registry.Connection, error)
	Get(ctx context.Context, tenantID, id string) (*registry.Connection, error)
	// List returns a page of the tenant's connections and the filtered total.
	List(ctx context.Context, tenantID string, f registry.ListFilter) ([]*registry.Connection, int, error)
	Update(ctx context.Context, tenantID, id string, p registry.Patch) (*registry.Connection, error)
	Delete(ctx context.Context, tenantID, id string) error
}

// ConnectionTools reads a connection's cached tools and edits their
// settings.
type ConnectionTools interface {
	// Tools returns a connection and its tools, ordered by name.
	Tools(ctx context.Context, tenantID, id string) (*registry.Connection, []*registry.Tool, error)
	// ToolsOf returns the tools of several connections, by connection id.
	ToolsOf(ctx context.Context, tenantID string, ids ...string) (map[string][]*registry.Tool, error)
	UpdateTool(ctx context.Context, tenantID, connID, toolID string, p registry.ToolPatch) (*registry.Connection, *registry.Tool, error)
	SetAllTools(ctx context.Context, tenantID, connID string, enabled bool) ([]*registry.Tool, error)
	// ApproveTool and RejectTool decide on a tool's current definition,
	// named by its fingerprint; by is the deciding API key's id.
	ApproveTool(ctx context.Context, tenantID, connID, toolID, hash, by string) (*registry.Connection, *registry.Tool, error)
	RejectTool(ctx context.Context, tenantID, connID, toolID, hash, by string) (*registry.Connection, *registry.Tool, error)
	// ToolHistory lists a tool's definitions, newest first, with diffs.
	ToolHistory(ctx context.Context, tenantID, connID, toolID string) ([]registry.ToolVersion, error)
}

// Probes reaches a connection's server on a user's request: a test, a tool
// sync, a test call.
type Probes interface {
	// Test probes now; a failed connection is an outcome, not an error.
	Test(ctx context.Context, tenantID, id string) (*registry.TestOutcome, error)
	// RefreshTools starts a background tool sync.
	RefreshTools(ctx context.Context, tenantID, id string) (*registry.Connection, error)
	// CallTool calls a tool of one connection by slug (Feather's test-mcp-call).
	CallTool(ctx context.Context, tenantID, connID, slug string, input map[string]any) (map[string]any, error)
}

// OAuth runs the OAuth flows of Feather's OAuth connections.
type OAuth interface {
	Discover(ctx context.Context, serverURL string) (*registry.OAuthDiscovery, error)
	ConnectOAuth(ctx context.Context, tenantID string, in registry.NewConnection, req registry.OAuthRequest) (*registry.Connection, *registry.PendingAuth, error)
	Reauthorize(ctx context.Context, tenantID, id string) (*registry.Connection, *registry.PendingAuth, error)
	Callback(ctx context.Context, state, code, iss, errCode, errDescription string) (*registry.CallbackResult, error)
}

// Agent is the REST tool API: the tenant's tools as agents see them, their
// invocation, and the call records.
type Agent interface {
	TenantTools(ctx context.Context, tenantID, persona string) ([]registry.AgentTool, error)
	InvokeAgentTool(ctx context.Context, tenantID, persona, slug string, args map[string]any, opts registry.CallOptions) (map[string]any, *registry.Tool, error)
	Calls(ctx context.Context, tenantID, connID string, limit int) ([]registry.Call, error)
}

// APIKeys resolves an API key to its tenant, key and scope.
type APIKeys interface {
	// AuthenticateKey fails with registry.ErrUnauthorized for a missing,
	// unknown, revoked or expired key.
	AuthenticateKey(ctx context.Context, key string) (*registry.Principal, error)
}

// Audit reads a tenant's audit log.
type Audit interface {
	List(ctx context.Context, tenantID string, q registry.AuditQuery) (*registry.AuditPage, error)
}

// Admin is the operator API: tenants and their keys (*registry.Keys).
type Admin interface {
	CreateTenant(ctx context.Context, name string) (*registry.Tenant, error)
	ListTenants(ctx context.Context) ([]*registry.Tenant, error)
	DeleteTenant(ctx context.Context, idOrName string) error
	TenantKeys(ctx context.Context, idOrName string) ([]*registry.APIKey, error)
	CreateTenantKey(ctx context.Context, idOrName string, in registry.NewKey) (string, *registry.APIKey, error)
	RevokeTenantKey(ctx context.Context, idOrName, keyID string) error
}

// services is the registry as the handlers see it: each call goes to the
// interface that declares it.
type services struct {
	Connections
	ConnectionTools
	Probes
	OAuth
	Agent
}

var (
	_ Connections     = (*registry.Service)(nil)
	_ ConnectionTools = (*registry.Service)(nil)
	_ Probes          = (*registry.Service)(nil)
	_ OAuth           = (*registry.Service)(nil)
	_ Agent           = (*registry.Service)(nil)
	_ APIKeys         = (*registry.Keys)(nil)
	_ Admin           = (*registry.Keys)(nil)
	_ Audit           = (*registry.AuditLog)(nil)
)
