package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tether-dev/tether/internal/sandboxtest"
	"github.com/tether-dev/tether/internal/spectest"
	"github.com/tether-dev/tether/internal/syncbuf"
)

// harness is a running tether (the real wiring, on port 0, with a SQLite
// file under t.TempDir) and a client that checks every response it gets
// against openapi.yaml.
type harness struct {
	t      *testing.T
	m      *Main
	base   string
	dbPath string
	logs   *syncbuf.Buffer

	mu     sync.Mutex
	bodies [][]byte // every response body received, for leak checks

	// client is this harness's own HTTP client, so stop can close its
	// idle connections: a connection dialled but never used keeps the
	// server's graceful shutdown waiting (net/http counts it as active
	// for its first five seconds).
	client *http.Client
}

// stop closes the client's idle connections and shuts tether down.
func (h *harness) stop() error {
	h.httpClient().CloseIdleConnections()
	return h.m.Close()
}

// httpClient is the harness's client (the default one for harnesses built
// elsewhere).
func (h *harness) httpClient() *http.Client {
	if h.client == nil {
		return http.DefaultClient
	}
	return h.client
}

// startTether runs tether on a fresh database; mods adjust the Config.
func startTether(t *testing.T, mods ...func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Addr:            "127.0.0.1:0",
		DB:              filepath.Join(dir, "tether.db"),
		ShutdownTimeout: 5e9,
		// Stdio, where a test enables it, runs in the sandbox as CI
		// runs it: as root, with a separate user.
		StdioUser: sandboxtest.User(),
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	return startOn(t, cfg)
}

// startOn runs tether with cfg as given (used to restart on the same file).
func startOn(t *testing.T, cfg Config) *harness {
	t.Helper()
	logs := &syncbuf.Buffer{}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	require.NoError(t, m.Run(context.Background()))
	h := &harness{t: t, m: m, base: "http://" + m.Addr, dbPath: cfg.DB, logs: logs,
		client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	t.Cleanup(func() { _ = h.stop() })
	return h
}

// newKey creates an API key for tenant through the CLI, while serving.
func (h *harness) newKey(tenant string) string {
	h.t.Helper()
	var out bytes.Buffer
	require.NoError(h.t, run(context.Background(), []string{"apikey", "create", "--tenant", tenant, "--db", h.dbPath}, &out, io.Discard))
	return strings.TrimSpace(out.String())
}

// runCLI runs a tether subcommand in-process.
func runCLI(t *testing.T, args ...string) error {
	t.Helper()
	return run(context.Background(), args, io.Discard, io.Discard)
}

// response is what a request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

func (r response) list(t *testing.T) []any {
	t.Helper()
	var v []any
	require.NoError(t, json.Unmarshal(r.body, &v), "body: %s", r.body)
	return v
}

// req describes one request.
type req struct {
	method, path, key string
	body              any    // marshalled as JSON unless raw is set
	raw               []byte // sent as is
	contentType       string // default application/json when there is a body
	bearer            bool   // send the key as Authorization: Bearer
	header            map[string]string
}

// do sends r and validates the response against the spec.
func (h *harness) do(r req) response {
	h.t.Helper()
	header := http.Header{}
	if r.key != "" {
		if r.bearer {
			header.Set("Authorization", "Bearer "+r.key)
		} else {
			header.Set("x-api-key", r.key)
		}
	}
	for k, v := range r.header {
		header.Set(k, v)
	}
	resp, got := spectest.Send(h.t, h.httpClient(), h.base, spectest.Request{
		Method: r.method, Path: r.path, Body: r.body, Raw: r.raw, ContentType: r.contentType, Header: header})
	h.mu.Lock()
	h.bodies = append(h.bodies, got)
	h.mu.Unlock()
	return response{status: resp.StatusCode, header: resp.Header, body: got}
}

// validate checks a response against openapi.yaml: its status must be
// declared for the operation and its body must match the schema. Requests
// to routes the spec does not have are skipped (they test the 404 itself).
func (h *harness) validate(method, path string, payload []byte, resp *http.Response, body []byte) {
	h.t.Helper()
	if err := spectest.CheckResponse(method, path, payload, resp.StatusCode, resp.Header, body); err != nil {
		h.t.Error(err)
	}
}

// assertNoLeak fails if any response body or log line so far contains one
// of the given secret values.
func (h *harness) assertNoLeak(values ...string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	logs := h.logs.String()
	for _, v := range values {
		for _, b := range h.bodies {
			if bytes.Contains(b, []byte(v)) {
				h.t.Errorf("secret %q appeared in a response: %s", v, b)
			}
		}
		if strings.Contains(logs, v) {
			h.t.Errorf("secret %q appeared in the logs", v)
		}
	}
}
