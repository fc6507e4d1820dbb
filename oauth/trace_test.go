package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/oauth"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestRefreshSpan: a refresh is one client span naming the token
// endpoint's host and the outcome, never a token; the token endpoint gets
// its trace context.
func TestRefreshSpan(t *testing.T) {
	const refreshToken = "rt-planted-0123456789"
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Traceparent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("refresh_token") != refreshToken {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-planted-0123456789", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(srv.Close)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	c := oauth.New(oauth.Options{HTTPClient: guardedClient(t), TracerProvider: tp})
	d := &oauth.Discovery{TokenEndpoint: srv.URL + "/token?x=1", Resource: srv.URL + "/mcp"}
	cr := &oauth.Credentials{ClientID: "mine", AuthMethod: "none"}
	_, err := c.Refresh(testContext(t), d, cr, refreshToken)
	require.NoError(t, err)
	_, err = c.Refresh(testContext(t), d, cr, "rt-wrong-0123456789")
	require.ErrorIs(t, err, oauth.ErrInvalidGrant)

	spans := rec.Ended()
	require.Len(t, spans, 2)
	host, _ := url.Parse(srv.URL)
	for i, want := range []string{"ok", "invalid_grant"} {
		s := spans[i]
		assert.Equal(t, "oauth refresh", s.Name())
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
			assert.NotContains(t, kv.Value.String(), "planted")
			assert.NotContains(t, kv.Value.String(), "x=1")
		}
		assert.Equal(t, host.Hostname(), attrs["server.address"])
		assert.Equal(t, want, attrs["tether.outcome"])
		mu.Lock()
		assert.Equal(t, "00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01", got[i])
		mu.Unlock()
	}
	assert.Equal(t, codes.Error, spans[1].Status().Code)
}
