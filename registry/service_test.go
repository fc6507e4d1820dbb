package registry_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/store"
)

// fixture is a Service over a real store in t.TempDir() with a fake
// prober (listing tools add and echo) and two tenants.
type fixture struct {
	svc         *registry.Service
	st          *store.Store
	prober      *registrytest.Prober
	acme, other string
}

func newFixture(t *testing.T, mods ...func(*registry.Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	st := registrytest.OpenStore(t)
	prober := &registrytest.Prober{}
	prober.SetTools("add", "echo")
	opts := registry.Options{Store: st, Prober: prober}
	for _, mod := range mods {
		mod(&opts)
	}
	svc := registry.NewService(opts)
	t.Cleanup(svc.Close)
	acme, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t-acme", Name: "acme"})
	require.NoError(t, err)
	other, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t-other", Name: "other"})
	require.NoError(t, err)
	return &fixture{svc: svc, st: st, prober: prober, acme: acme.ID, other: other.ID}
}

// create makes a connection for acme that is not probed on its own.
func (f *fixture) create(t *testing.T, in registry.NewConnection) *registry.Connection {
	t.Helper()
	if in.Transport == "" {
		in.Transport, in.Endpoint = registry.TransportHTTP, "https://mcp.example.com/mcp"
	}
	in.Enabled = true
	c, err := f.svc.Create(context.Background(), f.acme, in)
	require.NoError(t, err)
	return c
}

func TestServiceCRUD(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.create(t, registry.NewConnection{Name: "crm", Description: "CRM", PersonaID: "p1"})
	assert.Equal(t, "crm", c.Slug)
	assert.Equal(t, "crm", c.Nickname, "a Ferni create names the nickname after the name")
	assert.Equal(t, registry.StatusActive, c.Status)
	assert.Equal(t, registry.ToolsPending, c.ToolsStatus)
	assert.Equal(t, registry.AuthNone, c.AuthType)
	assert.Equal(t, registry.DefaultTimeoutMS, c.TimeoutMS)

	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, c.ID, got.ID)
	assert.Equal(t, "CRM", got.Description)
	assert.Equal(t, "p1", got.PersonaID)

	disabled, err := f.svc.Create(ctx, f.acme, registry.NewConnection{Name: "off", Transport: registry.TransportHTTP, Endpoint: "https://off.example/"})
	require.NoError(t, err)
	assert.Equal(t, registry.StatusDisabled, disabled.Status, "born disabled when not enabled")

	// A patch changes what it sets and nothing else.
	desc, timeout := "Customer lookups", 5000
	up, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Description: &desc, TimeoutMS: &timeout, PersonaID: registry.Optional[string]{Set: true, Null: true}})
	require.NoError(t, err)
	assert.Equal(t, "Customer lookups", up.Description)
	assert.Equal(t, 5000, up.TimeoutMS)
	assert.Empty(t, up.PersonaID)
	assert.Equal(t, "https://mcp.example.com/mcp", up.Endpoint)
	assert.Equal(t, "crm", up.Nickname)
	assert.False(t, up.UpdatedAt.Before(c.UpdatedAt))

	// List: every row of the tenant, with the filtered total.
	all, total, err := f.svc.List(ctx, f.acme, registry.ListFilter{})
	require.NoError(t, err)
	assert.Equal(t, 2, total)
	assert.Len(t, all, 2)
	off, total, err := f.svc.List(ctx, f.acme, registry.ListFilter{Status: registry.StatusDisabled})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
	require.Len(t, off, 1)
	assert.Equal(t, disabled.ID, off[0].ID)
	page, total, err := f.svc.List(ctx, f.acme, registry.ListFilter{Limit: 1, Offset: 1})
	require.NoError(t, err)
	assert.Equal(t, 2, total, "the total counts past the page")
	assert.Len(t, page, 1)
	_, _, err = f.svc.List(ctx, f.acme, registry.ListFilter{Status: "sleeping"})
	assert.ErrorIs(t, err, registry.ErrValidation)

	require.NoError(t, f.svc.Delete(ctx, f.acme, c.ID))
	_, err = f.svc.Get(ctx, f.acme, c.ID)
	assert.ErrorIs(t, err, registry.ErrNotFound)
	assert.ErrorIs(t, f.svc.Delete(ctx, f.acme, c.ID), registry.ErrNotFound)
	_, total, err = f.svc.List(ctx, f.acme, registry.ListFilter{})
	require.NoError(t, err)
	assert.Equal(t, 1, total)
}

// TestTenantScoping: every call that takes a connection id answers
// ErrNotFound for another tenant's connection, and changes nothing.
func TestTenantScoping(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.create(t, registry.NewConnection{Name: "crm"})
	out, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.True(t, out.Connected)
	_, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.NotEmpty(t, tools)
	probes := len(f.prober.Probed())

	desc := "hijacked"
	calls := map[string]func() error{
		"Get": func() error { _, err := f.svc.Get(ctx, f.other, c.ID); return err },
		"Update": func() error {
			_, err := f.svc.Update(ctx, f.other, c.ID, registry.Patch{Description: &desc})
			return err
		},
		"Delete": func() error { return f.svc.Delete(ctx, f.other, c.ID) },
		"Test":   func() error { _, err := f.svc.Test(ctx, f.other, c.ID); return err },
		"Tools":  func() error { _, _, err := f.svc.Tools(ctx, f.other, c.ID); return err },
		"UpdateTool": func() error {
			_, _, err := f.svc.UpdateTool(ctx, f.other, c.ID, tools[0].ID, registry.ToolPatch{Enabled: ptr(false)})
			return err
		},
		"SetAllTools":  func() error { _, err := f.svc.SetAllTools(ctx, f.other, c.ID, false); return err },
		"RefreshTools": func() error { _, err := f.svc.RefreshTools(ctx, f.other, c.ID); return err },
		"CallTool":     func() error { _, err := f.svc.CallTool(ctx, f.other, c.ID, "crm_add", nil); return err },
		"Calls":        func() error { _, err := f.svc.Calls(ctx, f.other, c.ID, 10); return err },
		"InvokeTool":   func() error { _, _, err := f.svc.InvokeTool(ctx, f.other, "", "crm_add", nil); return err },
	}
	for name, call := range calls {
		assert.ErrorIs(t, call(), registry.ErrNotFound, name)
	}
	toolsOf, err := f.svc.ToolsOf(ctx, f.other, c.ID)
	require.NoError(t, err)
	assert.Empty(t, toolsOf[c.ID], "ToolsOf does not reach into another tenant")
	list, total, err := f.svc.List(ctx, f.other, registry.ListFilter{})
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Zero(t, total)
	agentTools, err := f.svc.TenantTools(ctx, f.other, "")
	require.NoError(t, err)
	assert.Empty(t, agentTools)

	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err, "the row is still there")
	assert.Empty(t, got.Description)
	_, tools, err = f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	for _, tool := range tools {
		assert.True(t, tool.Enabled, tool.Name)
	}
	assert.Len(t, f.prober.Probed(), probes, "nothing was probed for the other tenant")
	assert.Empty(t, f.prober.Calls(), "nothing was called for the other tenant")
}

// TestSlugRules: a Feather create takes the next free suffix of its
// nickname's slug; a Ferni create's name must be free (Feather's slugs
// included) and never changes; each tenant has its own names.
func TestSlugRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var slugs []string
	for range 3 {
		slugs = append(slugs, f.create(t, registry.NewConnection{Nickname: "My MCP"}).Slug)
	}
	assert.Equal(t, []string{"my_mcp", "my_mcp_2", "my_mcp_3"}, slugs)

	_, err := f.svc.Create(ctx, f.acme, ferniCreate("my-mcp-2"))
	assert.ErrorIs(t, err, registry.ErrNameExists, "a Ferni name taken by a Feather suffix")
	_, err = f.svc.Create(ctx, f.acme, ferniCreate("my-mcp"))
	assert.ErrorIs(t, err, registry.ErrNameExists)
	_, err = f.svc.Create(ctx, f.acme, ferniCreate("My MCP"))
	assert.ErrorIs(t, err, registry.ErrValidation, "a Ferni name is kebab-case, not a nickname")

	crm := f.create(t, registry.NewConnection{Name: "crm-tools"})
	assert.Equal(t, "crm_tools", crm.Slug)
	assert.Equal(t, "crm_tools_2", f.create(t, registry.NewConnection{Nickname: "CRM tools"}).Slug, "a Feather nickname skips a Ferni name")

	// The name is immutable; sending the same one is not a change.
	_, err = f.svc.Update(ctx, f.acme, crm.ID, registry.Patch{Name: ptr("crm-tools-v2")})
	assert.ErrorIs(t, err, registry.ErrValidation)
	_, err = f.svc.Update(ctx, f.acme, crm.ID, registry.Patch{Name: ptr("crm-tools")})
	assert.NoError(t, err)
	renamed, err := f.svc.Update(ctx, f.acme, crm.ID, registry.Patch{Nickname: ptr("CRM (prod)")})
	require.NoError(t, err)
	assert.Equal(t, "crm_tools", renamed.Slug, "a new nickname keeps the slug")

	// A freed slug can be taken again; other tenants have their own.
	require.NoError(t, f.svc.Delete(ctx, f.acme, crm.ID))
	_, err = f.svc.Create(ctx, f.acme, ferniCreate("crm-tools"))
	assert.NoError(t, err)
	other, err := f.svc.Create(ctx, f.other, featherCreate("My MCP"))
	require.NoError(t, err)
	assert.Equal(t, "my_mcp", other.Slug)
}

// TestSecretsOnUpdate: secrets merge, a nil value removes one, a secret
// still referenced cannot go, and a masked header value keeps the stored
// one only when there is one.
func TestSecretsOnUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.create(t, registry.NewConnection{
		Name: "crm", AuthType: registry.AuthHeaders,
		Headers: registry.Sensitive{"X-Key": "{{secrets.K}}", "Authorization": "Basic c2VjcmV0"},
		Secrets: registry.Sensitive{"K": "v1", "OLD": "o"},
	})

	up, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Secrets: map[string]*string{"K": ptr("v2"), "NEW": ptr("n"), "OLD": nil}})
	require.NoError(t, err)
	assert.Equal(t, registry.Sensitive{"K": "v2", "NEW": "n"}, up.Secrets)

	_, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Secrets: map[string]*string{"K": nil}})
	assert.ErrorIs(t, err, registry.ErrValidation, "X-Key still refers to K")

	up, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Headers: &map[string]string{"X-Key": "{{secrets.K}}", "Authorization": registry.Masked}})
	require.NoError(t, err)
	assert.Equal(t, "Basic c2VjcmV0", up.Headers["Authorization"], "the masked value kept the stored one")

	_, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Headers: &map[string]string{"X-Other": registry.Masked}})
	assert.ErrorIs(t, err, registry.ErrValidation, "nothing stored to keep")

	// Headers are replaced as a whole: a header left out is gone.
	up, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Headers: &map[string]string{"X-Key": "{{secrets.K}}"}})
	require.NoError(t, err)
	assert.Equal(t, registry.Sensitive{"X-Key": "{{secrets.K}}"}, up.Headers)

	stored, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.Sensitive{"K": "v2", "NEW": "n"}, stored.Secrets, "refused updates changed nothing")
	assert.Equal(t, registry.Sensitive{"X-Key": "{{secrets.K}}"}, stored.Headers)
}

// TestStatusTransitions: a probe's outcome moves the row between active
// and error and records what it found; disabling and enabling move it too,
// and a disabled connection is not probed.
func TestStatusTransitions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.create(t, registry.NewConnection{Name: "crm"})

	out, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.True(t, out.Connected)
	row, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, row.Status)
	assert.Equal(t, registry.ToolsSynced, row.ToolsStatus)
	assert.Equal(t, 2, row.ToolCount)
	assert.Equal(t, registry.TransportStreamableHTTP, row.ConnectedTransport)
	assert.Equal(t, registry.ServerInfo{Name: "fake-upstream", Version: "1.0.0"}, row.ServerInfo)
	require.NotNil(t, row.ConnectedAt)
	connectedAt := *row.ConnectedAt

	f.prober.Fail(fmt.Errorf("%w: connection refused", registry.ErrUpstreamConnection))
	out, err = f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err, "a failed probe is an outcome")
	assert.False(t, out.Connected)
	assert.ErrorIs(t, out.Err, registry.ErrUpstreamConnection)
	row, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusError, row.Status)
	assert.Equal(t, out.Err.Error(), row.StatusReason)
	assert.Equal(t, registry.ToolsFailed, row.ToolsStatus)
	assert.Equal(t, connectedAt, *row.ConnectedAt, "the last success is kept")
	assert.Len(t, tools, 2, "a failed probe keeps the tools")
	_, err = f.svc.RefreshTools(ctx, f.acme, c.ID)
	assert.ErrorIs(t, err, registry.ErrNotActive, "only an active connection refreshes")

	f.prober.SetTools("add")
	out, err = f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.True(t, out.Connected)
	row, err = f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, row.Status)
	assert.Empty(t, row.StatusReason)
	assert.Equal(t, 1, row.ToolCount)

	off, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Enabled: ptr(false)})
	require.NoError(t, err)
	assert.Equal(t, registry.StatusDisabled, off.Status)
	probes := len(f.prober.Probed())
	_, err = f.svc.Test(ctx, f.acme, c.ID)
	assert.ErrorIs(t, err, registry.ErrNotActive)
	_, err = f.svc.RefreshTools(ctx, f.acme, c.ID)
	assert.ErrorIs(t, err, registry.ErrNotActive)
	assert.Len(t, f.prober.Probed(), probes, "a disabled connection is not probed")

	on, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Enabled: ptr(true)})
	require.NoError(t, err)
	assert.Equal(t, registry.StatusActive, on.Status)
}

// An OAuth connection enabled again without a grant waits for one.
func TestEnablingAnUnauthorizedOAuthConnection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := &registry.Connection{
		ID: "00000000-0000-4000-8000-0000000000aa", TenantID: f.acme, Slug: "linear", Nickname: "Linear",
		Transport: registry.TransportHTTP, Endpoint: "https://mcp.linear.example/mcp", AuthType: registry.AuthOAuth,
		Enabled: false, TimeoutMS: registry.DefaultTimeoutMS, Status: registry.StatusDisabled, ToolsStatus: registry.ToolsPending,
		CreatedAt: f.svc.Now(), UpdatedAt: f.svc.Now(),
	}
	require.NoError(t, f.st.InsertConnectionCapped(ctx, c, false, 0))
	on, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Enabled: ptr(true)})
	require.NoError(t, err)
	assert.Equal(t, registry.StatusPendingOAuth, on.Status)
	out, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.ErrorIs(t, out.Err, registry.ErrUpstreamAuth)
	assert.Empty(t, f.prober.Probed(), "nothing to probe before the user authorizes")
}

// gatedProber holds every probe until the test opens the gate.
type gatedProber struct {
	*registrytest.Prober
	entered chan struct{}
	gate    chan struct{}
}

func (p *gatedProber) Probe(ctx context.Context, c *registry.Connection) (*registry.ProbeResult, error) {
	p.entered <- struct{}{}
	<-p.gate
	return p.Prober.Probe(ctx, c)
}

// TestStaleProbeIsNotRecorded: a probe of a configuration the user
// changed while it ran does not overwrite the row with its result.
func TestStaleProbeIsNotRecorded(t *testing.T) {
	ctx := context.Background()
	prober := &gatedProber{Prober: &registrytest.Prober{}, entered: make(chan struct{}, 4), gate: make(chan struct{})}
	prober.SetTools("add")
	f := newFixture(t, func(o *registry.Options) { o.Prober = prober })
	c := f.create(t, registry.NewConnection{Name: "crm"})

	done := make(chan *registry.TestOutcome, 1)
	go func() {
		out, err := f.svc.Test(ctx, f.acme, c.ID)
		assert.NoError(t, err)
		done <- out
	}()
	<-prober.entered
	_, err := f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Endpoint: ptr("https://mcp2.example.com/mcp")})
	require.NoError(t, err)
	close(prober.gate)
	out := <-done
	assert.True(t, out.Connected, "the caller still learns the outcome")

	row, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.ToolsPending, row.ToolsStatus, "the result describes a configuration that no longer exists")
	assert.Zero(t, row.ToolCount)
	assert.Nil(t, row.ConnectedAt)
	assert.Empty(t, tools)
}

// TestToolSync: syncs add new tools enabled, keep each tool's id and the
// author's settings, mark vanished tools unavailable (and back), and flag
// configured inputs the schema no longer has.
func TestToolSync(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	schema := func(fields ...string) map[string]any {
		props := map[string]any{}
		for _, n := range fields {
			props[n] = map[string]any{"type": "integer"}
		}
		return map[string]any{"type": "object", "properties": props}
	}
	f.prober.SetToolSpecs(
		registry.ToolSpec{Name: "add", InputSchema: schema("a", "b")},
		registry.ToolSpec{Name: "get-sum", InputSchema: schema("x")},
	)
	c := f.create(t, registry.NewConnection{Name: "calc"})
	test := func() {
		t.Helper()
		out, err := f.svc.Test(ctx, f.acme, c.ID)
		require.NoError(t, err)
		require.True(t, out.Connected, "%v", out.Err)
	}
	byName := func() map[string]*registry.Tool {
		t.Helper()
		_, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
		require.NoError(t, err)
		out := map[string]*registry.Tool{}
		for _, tool := range tools {
			out[tool.Name] = tool
		}
		return out
	}
	test()
	first := byName()
	require.Len(t, first, 2)
	assert.Equal(t, "calc_add", first["add"].Slug)
	assert.Equal(t, "calc_get_sum", first["get-sum"].Slug)
	for _, tool := range first {
		assert.True(t, tool.Enabled && tool.Available, tool.Name)
	}

	// The author's settings.
	_, _, err := f.svc.UpdateTool(ctx, f.acme, c.ID, first["add"].ID, registry.ToolPatch{
		Enabled:       ptr(false),
		InputDefaults: registry.Optional[map[string]registry.InputArg]{Set: true, Value: map[string]registry.InputArg{"b": {Value: float64(10), Pinned: true}}},
	})
	require.NoError(t, err)
	_, _, err = f.svc.UpdateTool(ctx, f.acme, c.ID, first["add"].ID, registry.ToolPatch{
		InputDefaults: registry.Optional[map[string]registry.InputArg]{Set: true, Value: map[string]registry.InputArg{"zzz": {Value: 1}, "a": {Value: "one"}}},
	})
	var ide *registry.InputDefaultError
	require.ErrorAs(t, err, &ide, "defaults that do not fit the schema are refused")
	assert.Equal(t, []string{"a", "zzz"}, slices.Sorted(maps.Keys(ide.Fields)))

	// The server drops get-sum, adds echo and changes add's schema.
	f.prober.SetToolSpecs(
		registry.ToolSpec{Name: "add", Description: "now documented", InputSchema: schema("a")},
		registry.ToolSpec{Name: "echo", InputSchema: schema("text")},
	)
	test()
	second := byName()
	require.Len(t, second, 3)
	add := second["add"]
	assert.Equal(t, first["add"].ID, add.ID, "a tool keeps its id across syncs")
	assert.False(t, add.Enabled, "and its settings")
	assert.Equal(t, map[string]registry.InputArg{"b": {Value: float64(10), Pinned: true}}, add.InputDefaults)
	assert.Equal(t, "now documented", add.Description)
	assert.Equal(t, []string{"b"}, add.StaleInputFields, "b is pinned but the schema no longer has it")
	assert.False(t, second["get-sum"].Available, "a vanished tool is kept, unavailable")
	assert.True(t, second["echo"].Available && second["echo"].Enabled, "a new tool comes enabled")
	row, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, row.ToolCount, "the count is of the tools the server lists")

	// get-sum comes back: the same tool again.
	f.prober.SetToolSpecs(registry.ToolSpec{Name: "get-sum", InputSchema: schema("x")})
	test()
	third := byName()
	assert.Equal(t, first["get-sum"].ID, third["get-sum"].ID)
	assert.True(t, third["get-sum"].Available)

	// SetAllTools switches every tool.
	tools, err := f.svc.SetAllTools(ctx, f.acme, c.ID, true)
	require.NoError(t, err)
	require.Len(t, tools, 3)
	for _, tool := range tools {
		assert.True(t, tool.Enabled, tool.Name)
	}

	// A list read over a warm session merges the same way, but only into
	// an active connection.
	require.NoError(t, f.svc.RecordTools(ctx, f.acme, c.ID, []registry.ToolSpec{{Name: "add", InputSchema: schema("a", "b")}}))
	fourth := byName()
	assert.True(t, fourth["add"].Available)
	assert.False(t, fourth["get-sum"].Available)
	assert.Empty(t, fourth["add"].StaleInputFields)
	_, err = f.svc.Update(ctx, f.acme, c.ID, registry.Patch{Enabled: ptr(false)})
	require.NoError(t, err)
	require.NoError(t, f.svc.RecordTools(ctx, f.acme, c.ID, []registry.ToolSpec{{Name: "late"}}))
	assert.NotContains(t, byName(), "late", "a disabled connection's list is left alone")
}

// TestCallTool: a call goes to the server with the author's values
// applied; unknown, vanished and disabled tools never reach it.
func TestCallTool(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.prober.SetToolSpecs(registry.ToolSpec{Name: "add", InputSchema: map[string]any{"type": "object", "properties": map[string]any{
		"a": map[string]any{"type": "integer"}, "b": map[string]any{"type": "integer"},
	}}})
	c := f.create(t, registry.NewConnection{Name: "calc"})
	_, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	_, tools, err := f.svc.Tools(ctx, f.acme, c.ID)
	require.NoError(t, err)
	require.Len(t, tools, 1)
	_, _, err = f.svc.UpdateTool(ctx, f.acme, c.ID, tools[0].ID, registry.ToolPatch{
		InputDefaults: registry.Optional[map[string]registry.InputArg]{Set: true, Value: map[string]registry.InputArg{
			"a": {Value: float64(1)}, "b": {Value: float64(10), Pinned: true},
		}},
	})
	require.NoError(t, err)

	res, err := f.svc.CallTool(ctx, f.acme, c.ID, "calc_add", map[string]any{"b": float64(99)})
	require.NoError(t, err)
	assert.Equal(t, "called add", res["content"].([]any)[0].(map[string]any)["text"])
	calls := f.prober.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, "add", calls[0].Tool, "the server gets the tool's own name")
	assert.Equal(t, map[string]any{"a": float64(1), "b": float64(10)}, calls[0].Args, "the default fills in, the pin wins")

	f.prober.SetCall(func(*registry.Connection, string, map[string]any) (map[string]any, error) {
		return nil, fmt.Errorf("%w: -32603 boom", registry.ErrUpstreamError)
	})
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "calc_add", nil)
	assert.ErrorIs(t, err, registry.ErrUpstreamError)

	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "calc_nope", nil)
	assert.ErrorIs(t, err, registry.ErrToolUnavailable)
	_, _, err = f.svc.UpdateTool(ctx, f.acme, c.ID, tools[0].ID, registry.ToolPatch{Enabled: ptr(false)})
	require.NoError(t, err)
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "calc_add", nil)
	assert.ErrorIs(t, err, registry.ErrToolUnavailable)
	f.prober.SetTools("other")
	_, err = f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	_, err = f.svc.SetAllTools(ctx, f.acme, c.ID, true)
	require.NoError(t, err)
	_, err = f.svc.CallTool(ctx, f.acme, c.ID, "calc_add", nil)
	assert.ErrorIs(t, err, registry.ErrToolUnavailable, "a vanished tool cannot be called")
	assert.Len(t, f.prober.Calls(), 2, "only the two calls of an available, enabled tool reached the server")
}

// panickyProber panics on every probe, as a prober with a bug in reading
// some server's answer would.
type panickyProber struct{ *registrytest.Prober }

func (p *panickyProber) Probe(_ context.Context, c *registry.Connection) (*registry.ProbeResult, error) {
	var tools []registry.ToolSpec
	return &registry.ProbeResult{Tools: tools[:len(c.ID)]}, nil // out of range: a runtime error
}

// TestProbePanicIsTheProbesFailure: a prober that panics fails that probe
// (recorded on the row like any other failure, without what the panic
// carried), and the service, which the health monitor runs on goroutines
// with nothing above them to recover, goes on.
func TestProbePanicIsTheProbesFailure(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *registry.Options) { o.Prober = &panickyProber{Prober: &registrytest.Prober{}} })
	c := f.create(t, registry.NewConnection{Name: "crm"})

	out, err := f.svc.Test(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.False(t, out.Connected)
	require.ErrorIs(t, out.Err, registry.ErrUpstreamInvalid)
	assert.Contains(t, out.Err.Error(), "internal error")
	row, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusError, row.Status)
	assert.Equal(t, out.Err.Error(), row.StatusReason)
}
