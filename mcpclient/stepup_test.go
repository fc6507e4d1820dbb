package mcpclient

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/oauth"
	"github.com/tether-dev/tether/registry"
)

// TestCallToolStepUpChallenge: a tools/call answered 403 with a step-up
// challenge is an authentication failure that carries the challenge
// (AuthChallenge), over a fresh session and a warm one, so the registry
// can read the scopes from it.
func TestCallToolStepUpChallenge(t *testing.T) {
	t.Parallel()
	const challenge = `Bearer error="insufficient_scope", scope="mcp:basic mcp:write"`
	inner := streamableHandler(newTestServer("scoped"), nil)
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"tools/call"`)) {
				w.Header().Set("WWW-Authenticate", challenge)
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		inner.ServeHTTP(w, r)
	}))
	conn := httpConn(registry.TransportStreamableHTTP, srv.URL+"/mcp")

	_, err := newTestClient(t, Options{}).CallTool(ctxT(t), conn, "add", map[string]any{"a": 1, "b": 2})
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	e := asError(t, err)
	assert.Equal(t, http.StatusForbidden, e.HTTPStatus)
	assert.Equal(t, challenge, e.AuthChallenge())

	pool := NewPool(PoolOptions{Client: newTestClient(t, Options{})})
	t.Cleanup(pool.Close)
	_, err = pool.Probe(ctxT(t), conn)
	require.NoError(t, err, "listing needs no extra scope")
	_, err = pool.CallTool(ctxT(t), conn, "add", map[string]any{"a": 1, "b": 2})
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	assert.Equal(t, challenge, asError(t, err).AuthChallenge())
}

// TestCallToolStepUpChallengeSecondField: a server may send its Bearer
// challenge in a second WWW-Authenticate field, after another scheme's
// (RFC 9110 §11.6.1); the step-up is still seen.
func TestCallToolStepUpChallengeSecondField(t *testing.T) {
	t.Parallel()
	inner := streamableHandler(newTestServer("scoped"), nil)
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"tools/call"`)) {
				w.Header().Add("WWW-Authenticate", `Basic realm="legacy"`)
				w.Header().Add("WWW-Authenticate", `Bearer error="insufficient_scope", scope="mcp:write"`)
				http.Error(w, "insufficient scope", http.StatusForbidden)
				return
			}
		}
		inner.ServeHTTP(w, r)
	}))
	conn := httpConn(registry.TransportStreamableHTTP, srv.URL+"/mcp")
	_, err := newTestClient(t, Options{}).CallTool(ctxT(t), conn, "add", map[string]any{"a": 1, "b": 2})
	require.ErrorIs(t, err, registry.ErrUpstreamAuth)
	scopes, ok := oauth.StepUpScopes(asError(t, err).AuthChallenge())
	assert.True(t, ok)
	assert.Equal(t, []string{"mcp:write"}, scopes)
}

// TestProbeStepUpChallenge: a probe answered 403 with a step-up challenge
// (at server/discover or initialize, whichever comes first) carries the
// challenge too, so a probe can stop the row as a call does.
func TestProbeStepUpChallenge(t *testing.T) {
	t.Parallel()
	const challenge = `Bearer error="insufficient_scope", scope="mcp:basic mcp:list"`
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", challenge)
		http.Error(w, "insufficient scope", http.StatusForbidden)
	}))
	for _, tr := range []registry.Transport{registry.TransportStreamableHTTP, registry.TransportSSE} {
		_, err := newTestClient(t, Options{}).Probe(ctxT(t), httpConn(tr, srv.URL+"/mcp"))
		require.ErrorIs(t, err, registry.ErrUpstreamAuth, tr)
		assert.Equal(t, challenge, asError(t, err).AuthChallenge(), tr)
	}
}
