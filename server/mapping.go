package server

// The mapping between the registry's Connection and both dialects lives
// here, in one place (DESIGN.md, "How one row looks in each dialect").

import (
	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"
	"github.com/oapi-codegen/runtime/types"
	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// Feather constants for custom MCP connections.
const (
	featherVendor         = "mcp"
	featherIntegrationKey = gen.IntegrationKey("custom_mcp")
	defaultAPIKeyHeader   = "X-API-Key"
)

// ---- Ferni

func toMcpServer(c *registry.Connection) gen.McpServer {
	headers, secretNames := shownCredentials(c)
	m := gen.McpServer{
		Id:                 c.ID,
		Name:               registry.NameFromSlug(c.Slug),
		Description:        c.Description,
		Status:             gen.ConnectionStatus(c.Status),
		Transport:          gen.Transport(c.Transport),
		Endpoint:           strPtr(c.Endpoint),
		Headers:            headers,
		HasSecrets:         len(secretNames) > 0,
		SecretNames:        secretNames,
		AutoConnect:        c.AutoConnect,
		Enabled:            c.Enabled,
		Timeout:            c.TimeoutMS,
		PersonaId:          strPtr(c.PersonaID),
		ToolCount:          c.ToolCount,
		LastConnected:      c.ConnectedAt,
		LastError:          strPtr(c.StatusReason),
		ConnectedTransport: strPtr(string(c.ConnectedTransport)),
		ToolPolicy:         gen.ToolPolicy(c.ToolPolicy),
		ToolPrefix:         c.Prefix(),
		CreatedAt:          c.CreatedAt,
		UpdatedAt:          c.UpdatedAt,
	}
	if c.ToolsTTL > 0 {
		ms := int(c.ToolsTTL.Milliseconds())
		m.ToolsTtlMs = &ms
	}
	if c.Transport == registry.TransportStdio {
		m.Command = &c.Command
		args := append([]string{}, c.Args...)
		m.Args = &args
	}
	return m
}

// shownCredentials is what a response shows of c's credentials. A row
// read for a list carries them in its Listing, used as it is: the
// response only encodes them.
func shownCredentials(c *registry.Connection) (headers map[string]string, secretNames []string) {
	if c.Listing != nil {
		return c.Listing.Headers, c.Listing.SecretNames
	}
	return c.DisplayHeaders(), c.SecretNames()
}

func fromMcpServerCreate(b *gen.McpServerCreate) registry.NewConnection {
	in := registry.NewConnection{
		Name:        b.Name,
		Description: b.Description,
		Transport:   registry.Transport(b.Transport),
		Endpoint:    deref(b.Endpoint),
		Command:     deref(b.Command),
		Headers:     registry.Sensitive(derefMap(b.Headers)),
		Secrets:     registry.Sensitive(derefMap(b.Secrets)),
		AutoConnect: derefOr(b.AutoConnect, true),
		Enabled:     derefOr(b.Enabled, true),
		TimeoutMS:   derefOr(b.Timeout, registry.DefaultTimeoutMS),
		PersonaID:   deref(b.PersonaId),
		ToolPolicy:  registry.ToolPolicy(deref(b.ToolPolicy)),
		ToolPrefix:  b.ToolPrefix,
	}
	if b.Args != nil {
		in.Args = *b.Args
	}
	if len(in.Headers) > 0 {
		in.AuthType = registry.AuthHeaders
	}
	return in
}

func fromMcpServerUpdate(b *gen.McpServerUpdate) registry.Patch {
	p := registry.Patch{
		Name:        b.Name,
		Description: b.Description,
		Endpoint:    b.Endpoint,
		Command:     b.Command,
		Args:        b.Args,
		Headers:     b.Headers,
		AutoConnect: b.AutoConnect,
		Enabled:     b.Enabled,
		TimeoutMS:   b.Timeout,
		ToolPrefix:  optional(b.ToolPrefix),
	}
	if b.ToolPolicy != nil {
		policy := registry.ToolPolicy(*b.ToolPolicy)
		p.ToolPolicy = &policy
	}
	if b.Transport != nil {
		t := registry.Transport(*b.Transport)
		p.Transport = &t
	}
	if b.Secrets != nil {
		p.Secrets = *b.Secrets
	}
	if b.PersonaId.IsSpecified() {
		p.PersonaID.Set = true
		if b.PersonaId.IsNull() {
			p.PersonaID.Null = true
		} else {
			p.PersonaID.Value = b.PersonaId.MustGet()
		}
	}
	return p
}

// ---- Feather

func toConnectionResponse(c *registry.Connection, t *registry.Tenant, tools []*registry.Tool) gen.ConnectionResponse {
	meta := map[string]any{
		"server_url":          c.Endpoint,
		"transport":           string(c.Transport),
		"connected_transport": nilIfEmpty(string(c.ConnectedTransport)),
		"auth_type":           string(c.AuthType),
	}
	if c.ServerInfo.Name != "" {
		meta["server_info"] = map[string]any{"name": c.ServerInfo.Name, "version": c.ServerInfo.Version}
		meta["protocol_version"] = c.ProtocolVersion
	}
	if c.ToolsTTL > 0 {
		meta["tools_ttl_ms"] = c.ToolsTTL.Milliseconds()
	}
	out := make([]gen.ConnectionToolResponse, len(tools))
	for i, tool := range tools {
		out[i] = toConnectionTool(tool, c, t)
	}
	return gen.ConnectionResponse{
		Id:                 uuidOf(c.ID),
		OrganizationId:     uuidOf(t.ID),
		IntegrationKey:     featherIntegrationKey,
		NicknameSlug:       c.Slug,
		Nickname:           c.Nickname,
		Vendor:             featherVendor,
		VendorConnectionId: nil,
		Status:             string(c.Status),
		StatusReason:       strPtr(c.StatusReason),
		ToolsStatus:        string(c.ToolsStatus),
		ToolsSyncedAt:      c.ToolsSyncedAt,
		ConnectedAt:        c.ConnectedAt,
		LastRefreshedAt:    c.LastRefreshedAt,
		LastUsedAt:         c.LastUsedAt,
		Metadata:           meta,
		ToolPolicy:         gen.ToolPolicy(c.ToolPolicy),
		ToolPrefix:         c.Prefix(),
		CreatedAt:          c.CreatedAt,
		UpdatedAt:          c.UpdatedAt,
		Tools:              out,
	}
}

func toConnectionTool(tool *registry.Tool, c *registry.Connection, t *registry.Tenant) gen.ConnectionToolResponse {
	defaults, pinned := tool.Counts()
	r := gen.ConnectionToolResponse{
		Id:                  uuidOf(tool.ID),
		ConnectionId:        uuidOf(c.ID),
		OrganizationId:      uuidOf(t.ID),
		IntegrationKey:      featherIntegrationKey,
		NicknameSlug:        c.Slug,
		ToolPath:            tool.Name,
		Slug:                tool.Slug,
		DisplayName:         displayName(tool),
		DefinitionHash:      tool.DefinitionHash,
		ApprovalStatus:      gen.ApprovalStatus(tool.ApprovalStatus),
		ApprovedHash:        strPtr(tool.ApprovedHash),
		TitleOverride:       tool.TitleOverride,
		DescriptionOverride: tool.DescriptionOverride,
		Description:         strPtr(tool.Description),
		InputSchema:         orEmpty(tool.InputSchema),
		IsEnabled:           tool.Enabled,
		IsAvailable:         tool.Available,
		LastSeenAt:          tool.LastSeenAt,
		CreatedAt:           tool.CreatedAt,
		UpdatedAt:           tool.UpdatedAt,
		StaleFieldPaths:     tool.StaleFieldPaths(),
		DefaultCount:        defaults,
		PinnedCount:         pinned,
		StaleInputFields:    append([]string{}, tool.StaleInputFields...),
		MergedInputPreview:  tool.MergedInputPreview(),
	}
	if tool.OutputSchema != nil {
		r.ResponseSchema = &tool.OutputSchema
	}
	if tool.Annotations != nil {
		r.Annotations = &tool.Annotations
	}
	if tool.ResponseFieldMap != nil {
		r.ResponseFieldMap = &tool.ResponseFieldMap
	}
	if tool.InputDefaults != nil {
		m := make(map[string]gen.InputArgConfig, len(tool.InputDefaults))
		for name, a := range tool.InputDefaults {
			typ := gen.InputArgType("default")
			if a.Pinned {
				typ = "pinned"
			}
			m[name] = gen.InputArgConfig{Value: a.Value, Type: &typ}
		}
		r.InputDefaults = &m
	}
	return r
}

func fromInputDefaults(m map[string]gen.InputArgConfig) map[string]registry.InputArg {
	out := make(map[string]registry.InputArg, len(m))
	for name, a := range m {
		out[name] = registry.InputArg{Value: a.Value, Pinned: a.Type != nil && *a.Type == "pinned"}
	}
	return out
}

// displayName is the tool's title (its own, else its annotations'), or
// its name.
func displayName(t *registry.Tool) string {
	if title := t.DisplayTitle(); title != "" {
		return title
	}
	return t.Name
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// fromCustomMcpCreate maps a Feather connect body. Static credentials
// become headers over secrets, so the Ferni dialect shows them as
// templates: bearer → Authorization: Bearer {{secrets.token}}, api_key →
// <api_key_header>: {{secrets.api_key}}.
func fromCustomMcpCreate(b *gen.CustomMcpConnectionCreate) (registry.NewConnection, *registry.OAuthRequest, error) {
	in := registry.NewConnection{
		Nickname:    b.Nickname,
		Description: b.Nickname,
		Transport:   registry.TransportSSE,
		Endpoint:    b.ServerUrl,
		AuthType:    registry.AuthNone,
		Headers:     registry.Sensitive(derefMap(b.Headers)),
		Secrets:     registry.Sensitive{},
		AutoConnect: true,
		Enabled:     true,
		TimeoutMS:   registry.DefaultTimeoutMS,
		ToolPolicy:  registry.ToolPolicy(deref(b.ToolPolicy)),
		ToolPrefix:  b.ToolPrefix,
	}
	if b.Transport != nil {
		in.Transport = registry.Transport(*b.Transport)
	}
	if b.AuthType != nil {
		in.AuthType = registry.AuthType(*b.AuthType)
	}
	switch in.AuthType {
	case registry.AuthBearer:
		if deref(b.Token) == "" {
			return in, nil, validationf("auth_type bearer needs a token")
		}
		in.Secrets["token"] = *b.Token
		in.Headers["Authorization"] = "Bearer {{secrets.token}}"
	case registry.AuthAPIKey:
		if deref(b.ApiKey) == "" {
			return in, nil, validationf("auth_type api_key needs an api_key")
		}
		header := derefOr(b.ApiKeyHeader, defaultAPIKeyHeader)
		in.Secrets["api_key"] = *b.ApiKey
		in.Headers[header] = "{{secrets.api_key}}"
	}
	if in.AuthType != registry.AuthBearer && b.Token != nil {
		return in, nil, validationf("token applies only to auth_type bearer")
	}
	if in.AuthType != registry.AuthAPIKey && b.ApiKey != nil {
		return in, nil, validationf("api_key applies only to auth_type api_key")
	}
	oauthGiven := b.OauthClientId != nil || b.OauthClientSecret != nil || b.OauthAuthorizeUrl != nil || b.OauthTokenUrl != nil || b.OauthScopes != nil ||
		b.OauthGrant != nil || b.OauthTokenEndpointAuth != nil || b.OauthPrivateKey != nil
	if in.AuthType != registry.AuthOAuth {
		if oauthGiven {
			return in, nil, validationf("oauth_* fields apply only to auth_type oauth")
		}
		return in, nil, nil
	}
	req := &registry.OAuthRequest{
		ClientID: deref(b.OauthClientId), ClientSecret: deref(b.OauthClientSecret),
		AuthorizeURL: deref(b.OauthAuthorizeUrl), TokenURL: deref(b.OauthTokenUrl),
	}
	if b.OauthScopes != nil {
		req.Scopes = *b.OauthScopes
	}
	if b.OauthGrant != nil {
		req.Grant = string(*b.OauthGrant)
	}
	if b.OauthTokenEndpointAuth != nil {
		req.TokenEndpointAuth = string(*b.OauthTokenEndpointAuth)
	}
	req.PrivateKey = deref(b.OauthPrivateKey)
	return in, req, nil
}

func validationf(msg string) error {
	return &registry.Error{Kind: registry.ErrValidation, Message: msg}
}

// ---- small helpers

func uuidOf(s string) types.UUID {
	u, _ := uuid.Parse(s) // ids are minted by the registry as UUIDs
	return u
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// optional reads a nullable PATCH field: omitted, null, or a value.
func optional[T any](n nullable.Nullable[T]) registry.Optional[T] {
	if !n.IsSpecified() {
		return registry.Optional[T]{}
	}
	if n.IsNull() {
		return registry.Optional[T]{Set: true, Null: true}
	}
	return registry.Optional[T]{Set: true, Value: n.MustGet()}
}

func derefMap(p *map[string]string) map[string]string {
	out := map[string]string{}
	if p != nil {
		for k, v := range *p {
			out[k] = v
		}
	}
	return out
}
