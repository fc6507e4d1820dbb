package registry_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/oauthtest"
	"github.com/tether-dev/tether/registry"
)

// TestStepUpHostileChallenges: a server that answers every call with an
// insufficient_scope challenge of its choosing cannot grow the row without
// bound. A challenge with a huge scope list (the HTTP client lets through
// 1 MiB of headers), or with scope tokens RFC 6749 §3.3 does not allow, is
// not honoured: the row stays as it was and the error stays short. Many
// challenges with fresh scopes each stop accumulating at a bound, so the
// status reason, the stored document and the next authorization request
// stay small.
func TestStepUpHostileChallenges(t *testing.T) {
	ctx := context.Background()
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{
		PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true, ChallengeScopes: []string{"mcp:basic"},
	})
	f := oauthFixture(t, clock)
	f.prober.SetTools("write")
	c, pending, err := f.svc.ConnectOAuth(ctx, f.acme, registry.NewConnection{Nickname: "Files", Transport: registry.TransportStreamableHTTP, Endpoint: rs.URL, Enabled: true}, registry.OAuthRequest{})
	require.NoError(t, err)
	authorize(t, f, pending)
	waitSynced(t, f, c.ID)

	var challenge string
	f.prober.SetCall(func(*registry.Connection, string, map[string]any) (map[string]any, error) {
		return nil, &challengeError{header: challenge}
	})

	many := make([]string, 50000)
	for i := range many {
		many[i] = fmt.Sprintf("scope:%05d", i)
	}
	for _, tc := range []struct{ name, header string }{
		{"huge", `Bearer error="insufficient_scope", scope="` + strings.Join(many, " ") + `"`},
		{"one huge scope", `Bearer error="insufficient_scope", scope="` + strings.Repeat("x", 64<<10) + `"`},
		{"a quote", `Bearer error="insufficient_scope", scope="mcp:write a\"b"`},
		{"a backslash", `Bearer error="insufficient_scope", scope="mcp:write a\\\\b"`},
		{"non-ASCII", "Bearer error=\"insufficient_scope\", scope=\"mcp:write \u00e9crire\""},
		{"a control character", "Bearer error=\"insufficient_scope\", scope=\"mcp:write a\x01b\""},
		{"bidi override", "Bearer error=\"insufficient_scope\", scope=\"mcp:write \u202eetirw\""},
	} {
		name := tc.name
		challenge = tc.header
		_, err := f.svc.CallTool(ctx, f.acme, c.ID, "files_write", nil)
		require.ErrorIs(t, err, registry.ErrUpstreamAuth, name)
		assert.Less(t, len(err.Error()), 1024, "%s: the error stays short", name)
		got, err := f.svc.Get(ctx, f.acme, c.ID)
		require.NoError(t, err)
		assert.Equal(t, registry.StatusActive, got.Status, "%s: not honoured", name)
		assert.Empty(t, got.StatusReason, name)
	}

	// A server that asks for fresh scopes on every call: the accumulated
	// list has a bound, and what is past it is not stored.
	for i := range 200 {
		challenge = fmt.Sprintf(`Bearer error="insufficient_scope", scope="mcp:basic extra:%03d"`, i)
		_, err := f.svc.CallTool(ctx, f.acme, c.ID, "files_write", nil)
		require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	}
	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusReauthRequired, got.Status)
	assert.Less(t, len(got.StatusReason), 4096, "the status reason stays bounded")
	_, pending, err = f.svc.Reauthorize(ctx, f.acme, c.ID)
	require.NoError(t, err)
	scopes := strings.Fields(scopeParam(t, pending.URL))
	assert.LessOrEqual(t, len(scopes), 64, "the authorization request stays bounded")
	assert.Contains(t, scopes, "mcp:basic")
	assert.Contains(t, scopes, "extra:000", "the first challenges were kept")
}

// TestCallbackErrorBounded: the error and error_description of a callback
// are the authorization server's words (RFC 6749 §4.1.2.1), carried by the
// browser: what the row and the callback page show of them is bounded and
// printable, as every other server text tether reports.
func TestCallbackErrorBounded(t *testing.T) {
	ctx := context.Background()
	clock := oauthtest.NewClock()
	as := oauthtest.NewServer(t, oauthtest.Options{Now: clock.Now})
	rs := oauthtest.NewResourceServer(t, as, oauthtest.ResourceOptions{PRMPath: "/.well-known/oauth-protected-resource/mcp", Advertise: true})
	f := oauthFixture(t, clock)
	c, pending, err := f.svc.ConnectOAuth(ctx, f.acme, registry.NewConnection{Nickname: "Files", Transport: registry.TransportStreamableHTTP, Endpoint: rs.URL, Enabled: true}, registry.OAuthRequest{})
	require.NoError(t, err)
	u, err := url.Parse(pending.URL)
	require.NoError(t, err)
	state := u.Query().Get("state")

	long := strings.Repeat("\x1b[31mdenied\r\n", 5000)
	res, err := f.svc.Callback(ctx, state, "", "", "access_denied\x1b[0m"+long, long)
	require.NoError(t, err)
	require.Error(t, res.Err)
	got, err := f.svc.Get(ctx, f.acme, c.ID)
	require.NoError(t, err)
	assert.Equal(t, registry.StatusError, got.Status)
	for _, s := range []string{got.StatusReason, res.Err.Error()} {
		assert.Less(t, len(s), 1024)
		assert.Contains(t, s, "access_denied")
		assert.NotContains(t, s, "\x1b")
		assert.NotContains(t, s, "\n")
	}
}
