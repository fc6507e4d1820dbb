package registry

import (
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Status is a connection's lifecycle state, shared by both dialects.
type Status string

// The statuses a connection moves through.
const (
	StatusActive         Status = "active"
	StatusError          Status = "error"
	StatusDisabled       Status = "disabled"
	StatusPendingOAuth   Status = "pending_oauth"
	StatusReauthRequired Status = "reauth_required"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusError, StatusDisabled, StatusPendingOAuth, StatusReauthRequired:
		return true
	}
	return false
}

// Transport names how tether talks to an MCP server.
type Transport string

// The transports. HTTP tries streamable HTTP and falls back to legacy SSE;
// SSE tries SSE and falls back to streamable HTTP.
const (
	TransportHTTP           Transport = "http"
	TransportSSE            Transport = "sse"
	TransportStreamableHTTP Transport = "streamable_http"
	TransportWebSocket      Transport = "websocket"
	TransportStdio          Transport = "stdio"
)

// Valid reports whether t is a known transport.
func (t Transport) Valid() bool {
	switch t {
	case TransportHTTP, TransportSSE, TransportStreamableHTTP, TransportWebSocket, TransportStdio:
		return true
	}
	return false
}

// AuthType is how a connection authenticates, as Feather names it. Ferni
// rows express credentials as headers and secrets and show AuthHeaders.
type AuthType string

// The authentication types.
const (
	AuthNone    AuthType = "none"
	AuthBearer  AuthType = "bearer"
	AuthAPIKey  AuthType = "api_key"
	AuthOAuth   AuthType = "oauth"
	AuthHeaders AuthType = "headers"
)

// ToolsStatus tracks the tool-list sync of a connection (Feather's
// tools_status): pending → syncing → synced | failed.
type ToolsStatus string

// The tool sync states.
const (
	ToolsPending ToolsStatus = "pending"
	ToolsSyncing ToolsStatus = "syncing"
	ToolsSynced  ToolsStatus = "synced"
	ToolsFailed  ToolsStatus = "failed"
)

// Sensitive is a map of names to secret values (connection secrets, header
// values). It redacts its values whenever it is printed or logged, so a
// stray log line cannot leak them; code that needs a value indexes the map.
type Sensitive map[string]string

// String lists the names only.
func (s Sensitive) String() string { return "Sensitive" + formatNames(s) }

// GoString lists the names only.
func (s Sensitive) GoString() string { return s.String() }

// LogValue lists the names only.
func (s Sensitive) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON lists the names only; code that stores the values encodes
// map[string]string(s) on purpose.
func (s Sensitive) MarshalJSON() ([]byte, error) {
	masked := make(map[string]string, len(s))
	for k := range s {
		masked[k] = "***"
	}
	return json.Marshal(masked)
}

// Names returns the keys in sorted order (never nil).
func (s Sensitive) Names() []string {
	if len(s) == 0 {
		return []string{}
	}
	return slices.Sorted(maps.Keys(s))
}

func formatNames(s Sensitive) string {
	out := "["
	for i, n := range s.Names() {
		if i > 0 {
			out += " "
		}
		out += n + ":***"
	}
	return out + "]"
}

// Connection is one registered MCP server. The same row is a Ferni "MCP
// server" and a Feather "connection"; server/ maps it to each dialect.
type Connection struct {
	ID       string
	TenantID string
	// Slug is canonical and immutable: lowercase letters and digits joined by
	// single underscores. Feather shows it as nickname_slug, Ferni as name
	// with hyphens.
	Slug        string
	Nickname    string
	Description string

	Transport Transport
	// ConnectedTransport is the transport that worked on the last
	// successful connection ("" before one).
	ConnectedTransport Transport
	Endpoint           string
	Command            string
	Args               []string

	AuthType AuthType
	// Headers are sent on every request; values may hold {{secrets.KEY}}
	// templates and are encrypted at rest.
	Headers Sensitive
	// Secrets are write-only values referenced by header templates.
	Secrets Sensitive
	// OAuth is the OAuth document of an AuthOAuth connection (discovery,
	// client credentials, tokens), opaque here; see Authorizer.
	OAuth SecretBlob
	// Listing is set instead of Headers, Secrets and OAuth on a row read
	// for a list: lists decrypt nothing. Such a row cannot reach a server.
	Listing *Listing

	AutoConnect bool
	Enabled     bool
	TimeoutMS   int
	PersonaID   string

	// ToolPolicy says whether tool definitions take effect at once (auto)
	// or wait for approval (approve).
	ToolPolicy ToolPolicy
	// ToolPrefix names the connection's tools for agents
	// ({prefix}_{tool}); nil means the slug.
	ToolPrefix *string

	Status       Status
	StatusReason string
	// ServerInfo and ProtocolVersion are from the last successful probe.
	ServerInfo      ServerInfo
	ProtocolVersion string
	// ToolsTTL is the cache hint (ttlMs) of the server's last tool list:
	// how long it says the list stays fresh, which paces the health
	// monitor's re-syncs within the operator's bounds (monitor.go). Zero:
	// no hint, or the last probe failed.
	ToolsTTL    time.Duration
	ToolsStatus ToolsStatus
	ToolCount   int

	ConnectedAt     *time.Time
	ToolsSyncedAt   *time.Time
	LastRefreshedAt *time.Time
	LastUsedAt      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Prefix is the prefix of the connection's tool slugs: ToolPrefix, or
// the slug.
func (c *Connection) Prefix() string {
	if c.ToolPrefix != nil {
		return *c.ToolPrefix
	}
	return c.Slug
}

// Tenant is an organization: the owner of API keys and connections.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// Scope is what an API key may do.
type Scope string

// The scopes. An agent key may only list and call tools: /mcp,
// GET /v1/integrations/tools and the invoke route.
const (
	ScopeAdmin Scope = "admin"
	ScopeAgent Scope = "agent"
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeAdmin || s == ScopeAgent }

// APIKey is a stored API key. Only its SHA-256 hash is kept; the key itself
// is shown once, when it is created.
type APIKey struct {
	ID         string
	TenantID   string
	TenantName string
	// Prefix is the start of the key, enough to recognise it in a list.
	Prefix    string
	Hash      []byte
	Scope     Scope
	CreatedAt time.Time
	// ExpiresAt, when set, is when the key stops working (refused like a
	// revoked key from then on).
	ExpiresAt *time.Time
	RevokedAt *time.Time
}
