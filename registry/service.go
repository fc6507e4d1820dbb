package registry

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/tether-dev/tether/internal/lifetime"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/singleflight"
)

// Store persists tenants, API keys and connections. Every connection method
// is scoped to a tenant: another tenant's id is ErrNotFound. Every write
// method runs in one transaction, which also inserts the audit events
// pending on its context's AuditTrail (TakeAudit) and drops them when it
// fails: that is how a change and its audit record commit together.
type Store interface {
	// InsertConnectionCapped stores c. With uniqueSuffix the store picks
	// the first free "<slug>_N" when c.Slug is taken (and writes it back to
	// c.Slug); without it a taken slug is ErrNameExists. With maxPerTenant
	// > 0, a tenant that already holds that many connections is
	// ErrLimitExceeded, counted in the insert's transaction so that
	// concurrent creates cannot overshoot.
	InsertConnectionCapped(ctx context.Context, c *Connection, uniqueSuffix bool, maxPerTenant int) error
	GetConnection(ctx context.Context, tenantID, id string) (*Connection, error)
	ListConnections(ctx context.Context, tenantID string, f ListFilter) ([]*Connection, int, error)
	// UpdateConnection loads the row, calls fn on it and stores the result,
	// all in one write transaction; an error from fn aborts the update.
	UpdateConnection(ctx context.Context, tenantID, id string, fn func(*Connection) error) (*Connection, error)
	DeleteConnection(ctx context.Context, tenantID, id string) error
	// UpdateConnectionTools loads a connection and its tools, calls fn, and
	// in one write transaction stores the connection and upserts the tools
	// fn returns (nil: none). It returns the connection and all its tools
	// as stored.
	UpdateConnectionTools(ctx context.Context, tenantID, id string, fn func(*Connection, []*Tool) ([]*Tool, error)) (*Connection, []*Tool, error)
	// ListTools returns the tools of the given connections (all of the
	// tenant's when none is given), by connection id, ordered by name.
	ListTools(ctx context.Context, tenantID string, connectionIDs ...string) (map[string][]*Tool, error)
	// ListProbeTargets returns every enabled connection, of every tenant,
	// whose status the health monitor keeps fresh.
	ListProbeTargets(ctx context.Context) ([]*Connection, error)
	// ToolVersions returns the recorded definitions of one tool of the
	// tenant's connection, newest first seen first; ErrNotFound when the
	// connection or the tool is not the tenant's.
	ToolVersions(ctx context.Context, tenantID, connectionID, toolID string) ([]ToolVersion, error)
}

// URLChecker applies the outbound URL policy when an endpoint enters the API
// (netguard.Guard implements it). Errors explain the refusal to the user.
type URLChecker interface {
	CheckURL(raw string, schemes []string) (*url.URL, error)
}

// ListFilter narrows and pages a connection list. Limit 0 means no limit.
type ListFilter struct {
	Status Status
	Limit  int
	Offset int
	// Credentials reads rows in full, decrypting headers, secrets and
	// OAuth documents (to call their servers); without it rows carry a
	// Listing instead, and the list decrypts nothing.
	Credentials bool
}

// Timeout bounds, in milliseconds.
const (
	MinTimeoutMS     = 1000
	MaxTimeoutMS     = 300000
	DefaultTimeoutMS = 30000
)

// Options configures a Service.
type Options struct {
	Store Store
	// Bus, when set, carries change announcements to the other processes
	// sharing Store (see ChangeBus); nil for a process alone on its store.
	Bus ChangeBus
	// URLs checks endpoints; nil accepts any well-formed http(s)/ws(s) URL.
	URLs URLChecker
	// StdioCommands are the stdio allow-list entries (see [StdioPolicy]);
	// empty disables the stdio transport.
	StdioCommands []string
	// StdioFixedArgs: a connection's args must match an entry's vector.
	StdioFixedArgs bool
	// Prober talks to MCP servers; required for tests, syncs and calls.
	Prober Prober
	Logger *slog.Logger
	// Observer records probe, tool call and monitor metrics; nil: none.
	Observer Observer
	// Calls keeps call records (written in the background); nil: none.
	Calls CallStore
	// OAuth enables OAuth connections; nil: auth_type oauth is refused.
	OAuth *OAuthOptions
	// Now is the clock (tests control time); nil means time.Now.
	Now func() time.Time
	// Limits bound what one tenant can make tether hold.
	Limits Limits
	// TracerProvider traces probes and monitor rounds (trace.go); nil
	// records nothing.
	TracerProvider trace.TracerProvider
	// DefaultToolPolicy is the tool_policy of connections created without
	// one; "" means auto.
	DefaultToolPolicy ToolPolicy
	// ToolEvents hears about approvals, rejections and upstream changes of
	// tool definitions (the audit log's hook); nil: none.
	ToolEvents func(ToolEvent)
	// Sealer seals the state tether hands to agents (input-required
	// request states, task handles: sealed.go). Give every replica the
	// same keys. nil: a random key of this process, so that state opens
	// only on the replica that sealed it and not after a restart.
	Sealer Sealer
}

// Service is the registry's API: both dialects call it.
type Service struct {
	store     Store
	urls      URLChecker
	stdio     *StdioPolicy
	prober    Prober
	sealer    Sealer
	listeners listeners
	observe   Observer
	calls     *recorder
	oauth     *oauthFlows
	catalogue *catalogue
	bus       ChangeBus
	log       *slog.Logger
	now       func() time.Time
	limits    Limits
	tracer    trace.Tracer
	policy    ToolPolicy
	events    func(ToolEvent)

	probes singleflight.Group // one probe per connection configuration at a time
	// monitorNudge wakes the health monitor early (buffered, one
	// pending nudge is enough): a connection's tool-list hint changed.
	monitorNudge chan struct{}
	// life runs background work (probes, the monitor, revocations);
	// Close ends it.
	life *lifetime.Group
}

// NewService returns a Service over opts.Store.
func NewService(opts Options) *Service {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Observer == nil {
		opts.Observer = noObserver{}
	}
	s := &Service{
		store: opts.Store, urls: opts.URLs, stdio: stdioPolicy(opts),
		prober: opts.Prober, observe: opts.Observer, log: logger, now: now, life: lifetime.New(),
		catalogue: newCatalogue(), limits: opts.Limits.withDefaults(), bus: opts.Bus,
		policy: opts.DefaultToolPolicy, events: opts.ToolEvents,
		sealer: opts.Sealer, monitorNudge: make(chan struct{}, 1),
	}
	if s.sealer == nil {
		s.sealer = newProcessSealer()
	}
	if s.policy == "" {
		s.policy = PolicyAuto
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	s.tracer = tp.Tracer("github.com/tether-dev/tether/registry")
	if opts.OAuth != nil {
		s.oauth = &oauthFlows{OAuthOptions: *opts.OAuth}
	}
	if opts.Calls != nil {
		s.calls = newRecorder(opts.Calls, func(err error) { logger.Warn("call records", "error", err.Error()) })
	}
	return s
}

// Close cancels background probes, waits for them to finish, and writes
// the call records still queued.
func (s *Service) Close() {
	s.life.Close()
	if s.calls != nil {
		s.calls.close()
	}
}

// Now is the service clock, truncated to milliseconds in UTC (what the
// store keeps and the APIs show).
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// NewConnection is what a create asks for. Exactly one of Name (Ferni,
// kebab-case, must be free) or Nickname-derived slug (Feather, next free
// suffix) decides the slug: set Name for the former, leave it empty for the
// latter.
type NewConnection struct {
	Name        string
	Nickname    string
	Description string
	Transport   Transport
	Endpoint    string
	Command     string
	Args        []string
	AuthType    AuthType
	Headers     Sensitive
	Secrets     Sensitive
	AutoConnect bool
	Enabled     bool
	TimeoutMS   int
	PersonaID   string
	// ToolPolicy: "" takes Options.DefaultToolPolicy.
	ToolPolicy ToolPolicy
	// ToolPrefix: nil means the slug.
	ToolPrefix *string
}

// Create validates and stores a new connection, born active (or disabled).
func (s *Service) Create(ctx context.Context, tenantID string, in NewConnection) (*Connection, error) {
	c := s.newConnection(tenantID, in, s.Now())
	uniqueSuffix := in.Name == ""
	if uniqueSuffix {
		c.Slug = SlugFromNickname(in.Nickname)
	} else {
		slug, err := SlugFromName(in.Name)
		if err != nil {
			return nil, err
		}
		c.Slug = slug
		if c.Nickname == "" {
			c.Nickname = in.Name
		}
	}
	if err := s.validate(c); err != nil {
		return nil, err
	}
	ctx, au := s.connectionAudit(ctx, tenantID)
	au.recordCreate(c)
	if err := s.store.InsertConnectionCapped(ctx, c, uniqueSuffix, s.limits.MaxConnectionsPerTenant); err != nil {
		return nil, fmt.Errorf("create connection: %w", err)
	}
	s.notify(c, ConnectionCreated)
	s.autoConnect(ctx, c)
	return c, nil
}

// newConnection builds a row from a create request, born active (or
// disabled when not enabled).
func (s *Service) newConnection(tenantID string, in NewConnection, now time.Time) *Connection {
	c := &Connection{
		ID:          newUUID(),
		TenantID:    tenantID,
		Nickname:    in.Nickname,
		Description: in.Description,
		Transport:   in.Transport,
		Endpoint:    in.Endpoint,
		Command:     in.Command,
		Args:        in.Args,
		AuthType:    in.AuthType,
		Headers:     in.Headers,
		Secrets:     in.Secrets,
		AutoConnect: in.AutoConnect,
		Enabled:     in.Enabled,
		TimeoutMS:   in.TimeoutMS,
		PersonaID:   in.PersonaID,
		ToolPolicy:  in.ToolPolicy,
		ToolPrefix:  in.ToolPrefix,
		Status:      StatusActive,
		ToolsStatus: ToolsPending,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if c.AuthType == "" {
		c.AuthType = AuthNone
	}
	if c.TimeoutMS == 0 {
		c.TimeoutMS = DefaultTimeoutMS
	}
	if c.ToolPolicy == "" {
		c.ToolPolicy = s.policy
	}
	if !c.Enabled {
		c.Status = StatusDisabled
	}
	return c
}

// Get returns one connection of the tenant.
func (s *Service) Get(ctx context.Context, tenantID, id string) (*Connection, error) {
	return s.store.GetConnection(ctx, tenantID, id)
}

// List returns a page of the tenant's connections and the filtered total.
func (s *Service) List(ctx context.Context, tenantID string, f ListFilter) ([]*Connection, int, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, 0, errorf(ErrValidation, "status %q is not one of active, error, disabled, pending_oauth, reauth_required", f.Status)
	}
	return s.store.ListConnections(ctx, tenantID, f)
}

// Optional is a PATCH field that can be left out, set, or set to null.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// Patch is a partial update; nil or unset fields are left alone.
type Patch struct {
	// Name, when given, must equal the current name: slugs are immutable.
	Name        *string
	Nickname    *string
	Description *string
	Transport   *Transport
	Endpoint    *string
	Command     *string
	Args        *[]string
	// Headers replaces the stored headers; a value equal to Masked keeps the
	// stored value of that header.
	Headers *map[string]string
	// Secrets is merged; a nil value removes the secret.
	Secrets     map[string]*string
	AutoConnect *bool
	Enabled     *bool
	TimeoutMS   *int
	PersonaID   Optional[string]
	// ToolPolicy changes the tool policy; to auto, every tool's current
	// definition takes effect.
	ToolPolicy *ToolPolicy
	// ToolPrefix renames the connection's tools; null: back to the slug.
	ToolPrefix Optional[string]
}

// autoConnect probes a new or edited connection in the background when it
// asks for it (Ferni autoConnect; Feather connects always sync at once).
func (s *Service) autoConnect(ctx context.Context, c *Connection) {
	if c.AutoConnect && c.Enabled && s.prober != nil {
		s.probeInBackground(ctx, c)
	}
}

// Update applies p to a connection atomically and returns the result.
func (s *Service) Update(ctx context.Context, tenantID, id string, p Patch) (*Connection, error) {
	var (
		c   *Connection
		err error
	)
	if p.ToolPolicy != nil || p.ToolPrefix.Set {
		c, err = s.updateWithTools(ctx, tenantID, id, p)
	} else {
		c, err = s.update(ctx, tenantID, id, p)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case p.reconnects():
		s.notify(c, ConnectionUpdated)
		s.autoConnect(ctx, c)
	case p.PersonaID.Set, p.ToolPolicy != nil, p.ToolPrefix.Set:
		s.notify(c, ToolsChanged) // who sees the tools, or what, changed
	}
	return c, nil
}

// reconnects reports whether a patch changes how tether reaches the server
// (or whether it may at all).
func (p Patch) reconnects() bool {
	return p.Transport != nil || p.Endpoint != nil || p.Command != nil || p.Args != nil ||
		p.Headers != nil || len(p.Secrets) > 0 || p.Enabled != nil || p.TimeoutMS != nil
}

func (s *Service) update(ctx context.Context, tenantID, id string, p Patch) (*Connection, error) {
	ctx, au := s.connectionAudit(ctx, tenantID)
	return s.store.UpdateConnection(ctx, tenantID, id, func(c *Connection) error {
		orig := *c
		defer func() { au.recordUpdate(&orig, c) }()
		return s.apply(c, p)
	})
}

// apply applies p to c (in the update's transaction).
func (s *Service) apply(c *Connection, p Patch) error {
	if p.Name != nil {
		slug, err := SlugFromName(*p.Name)
		if err != nil {
			return err
		}
		if slug != c.Slug {
			return errorf(ErrValidation, "name is immutable: this server is %q", NameFromSlug(c.Slug))
		}
	}
	setIf(&c.Nickname, p.Nickname)
	setIf(&c.Description, p.Description)
	before := destination(c)
	if p.Transport != nil && *p.Transport != c.Transport {
		// Fields of the old kind of transport no longer apply.
		if *p.Transport == TransportStdio && p.Endpoint == nil {
			c.Endpoint = ""
		}
		if *p.Transport != TransportStdio && p.Command == nil && p.Args == nil {
			c.Command, c.Args = "", nil
		}
		c.Transport = *p.Transport
		c.ConnectedTransport = ""
	}
	setIf(&c.Endpoint, p.Endpoint)
	setIf(&c.Command, p.Command)
	setIf(&c.Args, p.Args)
	// Stored credentials never follow the connection to another
	// destination (credentials.go).
	moved, err := s.rebind(c, before, p)
	if err != nil {
		return err
	}
	if p.Headers != nil {
		headers := Sensitive{}
		for name, value := range *p.Headers {
			if value == Masked {
				if moved {
					return errorf(ErrValidation, "header %q: %q cannot keep a stored value when the connection moves to another destination; send the value", name, Masked)
				}
				old, ok := lookupHeader(c.Headers, name)
				if !ok {
					return errorf(ErrValidation, "header %q: %q keeps a stored value, but none is stored", name, Masked)
				}
				value = old
			}
			headers[name] = value
		}
		c.Headers = headers
	}
	if len(p.Secrets) > 0 {
		merged := Sensitive{}
		for k, v := range c.Secrets {
			merged[k] = v
		}
		for k, v := range p.Secrets {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = *v
			}
		}
		c.Secrets = merged
	}
	setIf(&c.AutoConnect, p.AutoConnect)
	setIf(&c.TimeoutMS, p.TimeoutMS)
	if p.PersonaID.Set {
		c.PersonaID = p.PersonaID.Value
		if p.PersonaID.Null {
			c.PersonaID = ""
		}
	}
	if p.Enabled != nil && *p.Enabled != c.Enabled {
		c.Enabled = *p.Enabled
		if c.Enabled {
			c.Status, c.StatusReason = StatusActive, ""
			if c.AuthType == AuthOAuth && len(c.OAuth) == 0 {
				c.Status = StatusPendingOAuth
			}
		} else {
			c.Status = StatusDisabled
		}
	}
	if p.ToolPolicy != nil {
		c.ToolPolicy = *p.ToolPolicy
	}
	if p.ToolPrefix.Set {
		c.ToolPrefix = nil
		if !p.ToolPrefix.Null {
			v := p.ToolPrefix.Value
			c.ToolPrefix = &v
		}
	}
	if err := s.validate(c); err != nil {
		return err
	}
	c.UpdatedAt = s.Now()
	return nil
}

// Delete removes a connection.
func (s *Service) Delete(ctx context.Context, tenantID, id string) error {
	c, err := s.store.GetConnection(ctx, tenantID, id)
	if err != nil {
		return err
	}
	ctx, au := s.connectionAudit(ctx, tenantID)
	au.record(ActionConnectionDeleted, c.ID, c.ID, connectionChanges(c, nil))
	if err := s.store.DeleteConnection(ctx, tenantID, id); err != nil {
		return err
	}
	s.notify(c, ConnectionDeleted)
	s.revokeInBackground(c.OAuth)
	return nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
