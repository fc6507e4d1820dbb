package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"time"

	"github.com/tether-dev/tether/internal/panics"
	"go.opentelemetry.io/otel/trace"
)

// ToolSpec is a tool as a server lists it. Schemas and annotations are
// plain JSON objects.
type ToolSpec struct {
	Name string
	// Title is the tool's own title, as listed (not annotations.title).
	Title        string
	Description  string
	InputSchema  map[string]any
	OutputSchema map[string]any
	// Annotations are the server's hints about the tool (readOnlyHint,
	// ...), as listed; they are part of the definition agents see.
	Annotations map[string]any
}

// ServerInfo is what a server says about itself in initialize.
type ServerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Title   string `json:"title,omitempty"`
}

// ProbeResult is the outcome of initialize + a full tools/list.
type ProbeResult struct {
	// Transport is the transport that worked: streamable_http, sse,
	// websocket or stdio (never http, which names a preference).
	Transport       Transport
	ServerInfo      ServerInfo
	ProtocolVersion string
	Tools           []ToolSpec
	// ToolsTTL is the server's cache hint for its tool list (ttlMs,
	// 2026-07-28 and later): the smallest positive one of the listing's
	// pages. Zero: no hint (older revisions, or a ttlMs of 0, which is
	// also what a server that sets none sends).
	ToolsTTL time.Duration
	// Latency is the wall time from the start of the probe to the
	// complete tool list.
	Latency time.Duration
}

// Prober talks to MCP servers (mcpclient's Client and Pool implement it).
// Every error wraps one of the ErrUpstream* sentinels.
type Prober interface {
	Probe(ctx context.Context, c *Connection) (*ProbeResult, error)
	// CallTool calls one tool and returns the raw MCP result object.
	CallTool(ctx context.Context, c *Connection, tool string, args map[string]any) (map[string]any, error)
}

// TestOutcome is what a connection test reports; a failed connection is an
// outcome with Err set, not an error.
type TestOutcome struct {
	Connected bool
	Result    *ProbeResult
	Err       error
	TestedAt  time.Time
}

// Test probes a connection now and records the result (status, last
// error, tools). Disabled connections are not probed.
func (s *Service) Test(ctx context.Context, tenantID, id string) (*TestOutcome, error) {
	c, err := s.store.GetConnection(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if !c.Enabled {
		return nil, errorf(ErrNotActive, "MCP server %q is disabled; enable it before testing", NameFromSlug(c.Slug))
	}
	if c.Status == StatusPendingOAuth || c.Status == StatusReauthRequired {
		// Nothing to probe until the user authorizes: report the state.
		return &TestOutcome{TestedAt: s.Now(), Err: errorf(ErrUpstreamAuth,
			"the server needs OAuth authorization (status %s): open the authorize_url, or call reauthorize", c.Status)}, nil
	}
	return s.probeAndRecord(ctx, c)
}

// probeAndRecord runs one probe of c (sharing an in-flight one, so probes
// of one connection never run twice at once) and stores the outcome.
//
// The first caller runs the probe on its own goroutine (Do, where DoChan
// would start one): it waits for the outcome anyway, even if ctx ends
// (the probe is bounded by its timeout and by shutdown, and a caller that
// left must not leave it untracked), and a request's goroutine has the
// stack a probe and a SQLite write need, where a new one grew it, copying
// it several times, on every probe.
func (s *Service) probeAndRecord(ctx context.Context, c *Connection) (*TestOutcome, error) {
	v, err, _ := s.probes.Do(c.ID+"\x00"+ReachKey(c), func() (any, error) {
		// The probe runs on the service's context, not the caller's: a
		// caller that gives up does not cancel a probe others may share,
		// and its result is still worth recording. The connection's
		// timeout bounds it; shutdown cancels it. Its span is a child of
		// the first caller's (a test request, a monitor round).
		bg, span := s.startSpan(trace.ContextWithSpan(s.life.Context(), trace.SpanFromContext(ctx)), "probe", c)
		var outcome string
		defer func() { endSpan(span, outcome) }()
		pctx, cancel := context.WithTimeout(bg, time.Duration(c.TimeoutMS)*time.Millisecond+time.Second)
		defer cancel()
		start := time.Now()
		var res *ProbeResult
		dial, perr := s.withAccessToken(pctx, c)
		if perr == nil {
			res, perr = s.probeSafely(pctx, dial)
			perr = s.stepUp(pctx, c, perr)
		}
		if perr == nil {
			if perr = s.checkToolCount(res.Tools); perr != nil {
				res = nil
			}
		}
		transport := string(c.Transport)
		if res != nil {
			transport = string(res.Transport)
		}
		outcome = Outcome(nil, perr)
		s.observe.ObserveProbe(transport, outcome, time.Since(start))
		out := &TestOutcome{Connected: perr == nil, Result: res, Err: perr, TestedAt: s.Now()}
		// Recording gets a context of its own: a probe that ran to its
		// timeout must still be able to wait for the writer.
		rctx, rcancel := context.WithTimeout(bg, 30*time.Second)
		defer rcancel()
		if err := s.recordProbe(rctx, c, out); err != nil {
			// The caller still learns the outcome; only the row is stale.
			s.log.WarnContext(rctx, "record probe", "connection_id", c.ID, "error", err.Error())
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*TestOutcome), nil
}

// probeSafely runs the prober, a panic in it becoming the probe's failure.
// A prober reads what a tenant's server sends; a bug in that reading must
// fail the probe of that server, not end the process (the health
// monitor's probes run on goroutines with nothing above them to recover).
// The log gets the stack, and a runtime error's fixed text, never a value
// the panic carried: it may hold what the server sent.
func (s *Service) probeSafely(ctx context.Context, c *Connection) (res *ProbeResult, err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		s.log.ErrorContext(ctx, "probe panicked", "connection_id", c.ID, "panic", panics.Text(r), "stack", string(debug.Stack()))
		res, err = nil, errorf(ErrUpstreamInvalid, "%s: tether failed reading the server's answers (an internal error, logged)", ErrUpstreamInvalid.Error())
	}()
	return s.prober.Probe(ctx, c)
}

// errStaleProbe aborts recording a probe of a connection edited meanwhile.
var errStaleProbe = errors.New("connection changed during the probe")

// errNotRoutine aborts a record begun as a routine refresh that turned out
// to change more than timestamps; it is redone as an ordinary write.
var errNotRoutine = errors.New("the probe changed more than timestamps")

// recordProbe stores a probe's outcome on the row and syncs its tools,
// unless the row was edited while the probe ran (then the result describes
// a configuration that no longer exists).
//
// A probe that finds the server as the row says is recorded as a routine
// refresh (refresh.go): predicted from the row read before the probe,
// confirmed inside the transaction against the row and tools as stored,
// and redone as an ordinary write when the prediction was wrong.
func (s *Service) recordProbe(ctx context.Context, probed *Connection, out *TestOutcome) error {
	predicted := *probed
	applyOutcome(&predicted, out)
	reach := ReachKey(probed)
	if sameButTimes(probed, &predicted) {
		err := s.recordProbeOnce(WithRoutineRefresh(ctx), probed, reach, out, true)
		if !errors.Is(err, errNotRoutine) {
			return err
		}
	}
	return s.recordProbeOnce(ctx, probed, reach, out, false)
}

// recordProbeOnce is recordProbe as one write transaction (reach:
// ReachKey(probed)); routine makes it fail with errNotRoutine unless it
// only moves timestamps.
func (s *Service) recordProbeOnce(ctx context.Context, probed *Connection, reach string, out *TestOutcome, routine bool) error {
	var (
		events     []ToolEvent
		ttlChanged bool
	)
	// A definition changed upstream is tether's own finding: the system's
	// in the audit log.
	ctx, au := s.connectionAudit(WithActor(ctx, SystemActor), probed.TenantID)
	_, _, err := s.store.UpdateConnectionTools(ctx, probed.TenantID, probed.ID, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		if ReachKey(c) != reach || !c.Enabled || c.Status == StatusPendingOAuth || c.Status == StatusReauthRequired {
			return nil, errStaleProbe
		}
		before := *c
		applyOutcome(c, out)
		ttlChanged = before.ToolsTTL != c.ToolsTTL // a rerun starts over
		if out.Err != nil {
			if routine && !sameButTimes(&before, c) {
				return nil, errNotRoutine
			}
			return tools, nil
		}
		var prior []Tool
		if routine {
			prior = make([]Tool, len(tools))
			for i, t := range tools {
				prior[i] = *t
			}
		}
		merged, changed := mergeTools(c, tools, out.Result.Tools, out.TestedAt)
		merged = s.forgetVanished(merged)
		if routine && (len(changed) > 0 || !sameButTimes(&before, c) || !toolsSameButTimes(prior, merged)) {
			return nil, errNotRoutine
		}
		events = changed
		for _, e := range events {
			e.audit(au)
		}
		return merged, nil
	})
	if errors.Is(err, errStaleProbe) || errors.Is(err, ErrNotFound) {
		return nil // edited or deleted meanwhile: nothing to record
	}
	if err != nil {
		if errors.Is(err, errNotRoutine) {
			return err
		}
		return fmt.Errorf("record probe of %s: %w", probed.ID, err)
	}
	if ttlChanged {
		s.nudgeMonitor() // its schedule may need the new pace at once
	}
	s.toolEvents(events)
	if !routine {
		// A routine refresh changed nothing agents see.
		s.notify(probed, ToolsChanged)
	}
	return nil
}

// applyOutcome sets the fields of c that a probe's outcome decides (the
// tools are merged separately).
func applyOutcome(c *Connection, out *TestOutcome) {
	now := out.TestedAt
	c.LastRefreshedAt = &now
	if out.Err != nil {
		c.Status, c.StatusReason = StatusError, out.Err.Error()
		c.ToolsStatus = ToolsFailed
		// The hint came with a list; a failing server is re-probed at
		// the operator's interval, not hurried by an old hint.
		c.ToolsTTL = 0
		return
	}
	r := out.Result
	c.Status, c.StatusReason = StatusActive, ""
	c.ConnectedAt = &now
	c.ConnectedTransport = r.Transport
	c.ServerInfo = r.ServerInfo
	c.ProtocolVersion = r.ProtocolVersion
	c.ToolsTTL = r.ToolsTTL
	c.ToolsStatus = ToolsSynced
	c.ToolsSyncedAt = &now
	c.ToolCount = len(r.Tools)
}

// mergeTools folds a fresh tool list into the stored one: changed tools
// are updated, new ones added (enabled), vanished ones marked unavailable;
// the author's settings are kept throughout. Each listed definition is
// fingerprinted, recorded in the tool's history and judged under the
// connection's tool policy (integrity.go); the changes of fingerprint are
// returned as events.
func mergeTools(c *Connection, old []*Tool, specs []ToolSpec, now time.Time) ([]*Tool, []ToolEvent) {
	byName := make(map[string]*Tool, len(old))
	for _, t := range old {
		byName[t.Name] = t
	}
	seen := make(map[string]bool, len(specs))
	out := make([]*Tool, 0, len(specs)+len(old))
	var events []ToolEvent
	// Slugs are unique within a connection: names that fold to the same
	// slug ("get-sum" and "get_sum") get a numbered suffix, in list order.
	slugs := map[string]bool{}
	for i, spec := range specs {
		if seen[spec.Name] {
			continue // a server listing a name twice: keep the first
		}
		seen[spec.Name] = true
		t, ok := byName[spec.Name]
		if !ok {
			t = &Tool{ID: newUUID(), ConnectionID: c.ID, TenantID: c.TenantID, Name: spec.Name, Enabled: true, CreatedAt: now}
		}
		t.Slug = uniqueSlug(slugs, c.Prefix(), spec.Name)
		def := spec.definition()
		if def.InputSchema == nil {
			def.InputSchema = map[string]any{"type": "object"}
		}
		var hash string
		if ok && sameDefinition(t.Live(), def) {
			// Listed as stored (every sync of an unchanged server): the
			// same definition has the fingerprint stored with it. The
			// stored values are kept, so that comparing the tool with its
			// state as read (toolsSameButTimes) need not walk its schemas.
			def, hash = t.Live(), t.DefinitionHash
		} else {
			hash = def.Fingerprint()
		}
		if ok && t.DefinitionHash != hash && !t.legacy {
			if t.Approved == nil && t.ApprovedHash != "" && t.ApprovedHash == t.DefinitionHash {
				// Agents keep what was approved: keep a copy of it.
				approved := t.Live()
				t.Approved = &approved
			}
			events = append(events, ToolEvent{Action: ToolDefinitionChanged, TenantID: c.TenantID, ConnectionID: c.ID,
				ToolID: t.ID, Tool: t.Name, OldHash: t.DefinitionHash, NewHash: hash, At: now})
		}
		t.Title, t.Description = def.Title, def.Description
		t.InputSchema, t.OutputSchema, t.Annotations = def.InputSchema, def.OutputSchema, def.Annotations
		t.DefinitionHash = hash
		t.Available = true
		t.StaleInputFields = staleInputFields(t.InputDefaults, t.InputSchema)
		t.Position = i
		t.LastSeenAt, t.UpdatedAt = now, now
		t.recordVersion(now)
		evaluate(t, c.ToolPolicy, now)
		out = append(out, t)
	}
	for _, t := range old {
		if !seen[t.Name] {
			if t.Available {
				t.Available = false
				t.UpdatedAt = now
			}
			out = append(out, t)
		}
	}
	return out, events
}

// uniqueSlug is the tool's slug under prefix, numbered when an earlier
// tool of the connection took it.
func uniqueSlug(taken map[string]bool, prefix, name string) string {
	slug := ToolSlug(prefix, name)
	for n := 2; taken[slug]; n++ {
		slug = fmt.Sprintf("%s_%d", ToolSlug(prefix, name), n)
	}
	taken[slug] = true
	return slug
}

// Tools returns the tools of a connection, ordered by name.
func (s *Service) Tools(ctx context.Context, tenantID, id string) (*Connection, []*Tool, error) {
	c, err := s.store.GetConnection(ctx, tenantID, id)
	if err != nil {
		return nil, nil, err
	}
	tools, err := s.store.ListTools(ctx, tenantID, id)
	if err != nil {
		return nil, nil, err
	}
	return c, tools[id], nil
}

// ToolsOf returns the tools of several connections at once, by connection id.
func (s *Service) ToolsOf(ctx context.Context, tenantID string, ids ...string) (map[string][]*Tool, error) {
	return s.store.ListTools(ctx, tenantID, ids...)
}

// RefreshTools starts a background tool sync of an active connection and
// returns the row with tools_status "syncing".
func (s *Service) RefreshTools(ctx context.Context, tenantID, id string) (*Connection, error) {
	var snapshot *Connection
	c, _, err := s.store.UpdateConnectionTools(ctx, tenantID, id, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		if c.Status != StatusActive || !c.Enabled {
			return nil, errorf(ErrNotActive, "connection is %s; only active connections can refresh their tools", c.Status)
		}
		c.ToolsStatus = ToolsSyncing
		snapshot = c
		return tools, nil
	})
	if err != nil {
		return nil, err
	}
	// A re-sync negotiates afresh: the prober otherwise starts from the
	// protocol version and transport that worked last time, and a server
	// that was upgraded would never be noticed.
	fresh := *snapshot
	fresh.ProtocolVersion, fresh.ConnectedTransport = "", ""
	s.probeInBackground(ctx, &fresh)
	return c, nil
}

// probeInBackground probes c on the service's background context.
// ctx, the request that asked for it, gives the probe's span its parent.
func (s *Service) probeInBackground(ctx context.Context, c *Connection) {
	parent := trace.SpanFromContext(ctx)
	s.life.Go(func(bg context.Context) {
		bg = trace.ContextWithSpan(bg, parent)
		if _, err := s.probeAndRecord(bg, c); err != nil {
			s.log.WarnContext(bg, "background probe failed to record", "connection_id", c.ID, "error", err.Error())
		}
	})
}

// ToolPatch edits one tool's author settings; unset fields stay.
type ToolPatch struct {
	Enabled          *bool
	ResponseFieldMap Optional[map[string]any]
	InputDefaults    Optional[map[string]InputArg]
	// TitleOverride and DescriptionOverride replace what agents see of
	// the tool's title and description; null goes back to the server's.
	TitleOverride       Optional[string]
	DescriptionOverride Optional[string]
}

// UpdateTool applies p to one tool of a connection.
func (s *Service) UpdateTool(ctx context.Context, tenantID, connID, toolID string, p ToolPatch) (*Connection, *Tool, error) {
	var updated *Tool
	ctx, au := s.connectionAudit(ctx, tenantID)
	c, _, err := s.store.UpdateConnectionTools(ctx, tenantID, connID, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		i := slices.IndexFunc(tools, func(t *Tool) bool { return t.ID == toolID })
		if i < 0 {
			return nil, errorf(ErrNotFound, "no tool with id %q on this connection", toolID)
		}
		t := tools[i]
		before := *t
		defer func() { au.recordTool(&before, t) }()
		if p.Enabled != nil {
			t.Enabled = *p.Enabled
		}
		if p.ResponseFieldMap.Set {
			t.ResponseFieldMap = p.ResponseFieldMap.Value
			if p.ResponseFieldMap.Null {
				t.ResponseFieldMap = nil
			}
		}
		if p.InputDefaults.Set {
			if p.InputDefaults.Null {
				t.InputDefaults = nil
			} else {
				if err := validateInputDefaults(t, p.InputDefaults.Value); err != nil {
					return nil, err
				}
				t.InputDefaults = p.InputDefaults.Value
			}
			t.StaleInputFields = staleInputFields(t.InputDefaults, t.InputSchema)
		}
		setOverride(&t.TitleOverride, p.TitleOverride)
		setOverride(&t.DescriptionOverride, p.DescriptionOverride)
		t.UpdatedAt = s.Now()
		updated = t
		return []*Tool{t}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.notify(c, ToolsChanged)
	return c, updated, nil
}

// setOverride applies an override patch: set, cleared by null, or left.
func setOverride(dst **string, o Optional[string]) {
	switch {
	case !o.Set:
	case o.Null:
		*dst = nil
	default:
		v := o.Value
		*dst = &v
	}
}

// SetAllTools enables or disables every tool of a connection.
func (s *Service) SetAllTools(ctx context.Context, tenantID, connID string, enabled bool) ([]*Tool, error) {
	now := s.Now()
	ctx, au := s.connectionAudit(ctx, tenantID)
	c, tools, err := s.store.UpdateConnectionTools(ctx, tenantID, connID, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		for _, t := range tools {
			if t.Enabled != enabled {
				before := *t
				t.Enabled, t.UpdatedAt = enabled, now
				au.recordTool(&before, t) // one event per tool toggled
			}
		}
		return tools, nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(c, ToolsChanged)
	return tools, nil
}

// InputDefaultError lists the input_defaults entries that do not fit the
// tool's input schema, by field name.
type InputDefaultError struct {
	Fields map[string]string
}

func (e *InputDefaultError) Error() string {
	names := slices.Sorted(maps.Keys(e.Fields))
	msg := "input_defaults do not fit the tool's input schema:"
	for _, n := range names {
		msg += fmt.Sprintf(" %s: %s;", n, e.Fields[n])
	}
	return msg[:len(msg)-1]
}

// Unwrap makes it an ErrValidation.
func (e *InputDefaultError) Unwrap() error { return ErrValidation }

// validateInputDefaults checks each configured field exists in the tool's
// input schema and that its value has the declared JSON type.
func validateInputDefaults(t *Tool, defaults map[string]InputArg) error {
	props := schemaProperties(t.InputSchema)
	bad := map[string]string{}
	for name, arg := range defaults {
		p, ok := props[name].(map[string]any)
		if !ok {
			bad[name] = "the tool has no such input field"
			continue
		}
		if want, ok := p["type"].(string); ok && !jsonTypeIs(arg.Value, want) {
			bad[name] = fmt.Sprintf("value should be of type %s", want)
		}
	}
	if len(bad) > 0 {
		return &InputDefaultError{Fields: bad}
	}
	return nil
}

// jsonTypeIs reports whether a decoded JSON value has JSON Schema type t.
func jsonTypeIs(v any, t string) bool {
	switch t {
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "number":
		_, ok := v.(float64)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "null":
		return v == nil
	}
	return true
}

// CallTool resolves a tool slug on a connection, applies the author's
// defaults and pins, calls the tool and returns the raw MCP result
// (Feather's test-mcp-call).
func (s *Service) CallTool(ctx context.Context, tenantID, connID, slug string, input map[string]any) (map[string]any, error) {
	c, tools, err := s.Tools(ctx, tenantID, connID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(tools, func(t *Tool) bool { return t.Slug == slug && t.Available })
	if i < 0 {
		return nil, errorf(ErrToolUnavailable, "no tool %q on this connection; refresh its tools if the server added it", slug)
	}
	t := tools[i]
	if _, served := t.Served(); !served {
		err := errorf(ErrToolUnavailable, "%s", stateMessage(slug, t.ApprovalStatus))
		s.recordCall(c, t.Name, slug, "test", "refused", 0, err)
		return nil, err
	}
	if !t.Enabled || !c.Enabled {
		err := errorf(ErrToolUnavailable, "tool %q is disabled", slug)
		if !c.Enabled {
			err = errorf(ErrToolUnavailable, "connection %q is disabled", c.Slug)
		}
		s.recordCall(c, t.Name, slug, "test", "refused", 0, err)
		return nil, err
	}
	return s.callTool(ctx, c, t, input, "test")
}

// RecordTools records a tool list read over a warm session after the
// server announced a change: the same merge as a probe's, with no new
// handshake. Connections that are not active and enabled are left alone.
// The pool drops a connection's sessions when its configuration changes
// (ConnectionUpdated), so the list comes from the current configuration.
func (s *Service) RecordTools(ctx context.Context, tenantID, id string, specs []ToolSpec) error {
	var (
		changed *Connection
		events  []ToolEvent
	)
	ctx, au := s.connectionAudit(WithActor(ctx, SystemActor), tenantID)
	_, _, err := s.store.UpdateConnectionTools(ctx, tenantID, id, func(c *Connection, tools []*Tool) ([]*Tool, error) {
		if !c.Enabled || c.Status != StatusActive {
			return nil, errStaleProbe
		}
		now := s.Now()
		changed = c
		c.LastRefreshedAt = &now
		if err := s.checkToolCount(specs); err != nil {
			// As a probe that got this list would: the row fails, its
			// stored tools stay.
			c.Status, c.StatusReason, c.ToolsStatus = StatusError, err.Error(), ToolsFailed
			return nil, nil
		}
		c.ToolsStatus, c.ToolsSyncedAt = ToolsSynced, &now
		c.ToolCount = len(specs)
		merged, defs := mergeTools(c, tools, specs, now)
		events = defs
		for _, e := range events {
			e.audit(au)
		}
		return s.forgetVanished(merged), nil
	})
	if errors.Is(err, errStaleProbe) || errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record tools of %s: %w", id, err)
	}
	s.toolEvents(events)
	s.notify(changed, ToolsChanged)
	return nil
}
