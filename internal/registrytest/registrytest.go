// Package registrytest holds what the registry's and the server's tests
// build a registry from: a real SQLite store in the test's temporary
// directory, and a fake [registry.Prober] that answers from what the test
// set and records what it was asked.
//
//	st := registrytest.OpenStore(t)
//	prober := &registrytest.Prober{}
//	prober.SetTools("add", "echo")
//	svc := registry.NewService(registry.Options{Store: st, Prober: prober})
package registrytest

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-dev/tether/registry"
	"github.com/tether-dev/tether/secrets"
	"github.com/tether-dev/tether/store"
)

// OpenStore opens a store on a fresh SQLite file under t.TempDir(),
// encrypting with a fixed test key, and closes it when the test ends
// (after cleanups registered later, such as a service's Close).
func OpenStore(t testing.TB) *store.Store {
	t.Helper()
	key, err := secrets.NewKey("test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring([]secrets.Key{key})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tether.db"), store.Options{Cipher: ring})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Prober is a fake registry.Prober. A probe answers with the tools set by
// SetTools (over streamable HTTP, as server "fake-upstream" 1.0.0), or
// fails with the error set by Fail; a tool call answers with the function
// set by SetCall or, without one, a text content naming the tool. It
// records every connection handed to it, as handed. The zero value is
// ready to use.
type Prober struct {
	mu     sync.Mutex
	call   func(c *registry.Connection, tool string, args map[string]any) (map[string]any, error)
	tools  []registry.ToolSpec
	ttl    time.Duration
	err    error
	probed []*registry.Connection
	calls  []ToolCall
}

// ToolCall is one tool call the Prober got.
type ToolCall struct {
	Connection *registry.Connection
	Tool       string
	Args       map[string]any
}

// SetTools makes probes list tools of these names, each taking an object.
func (p *Prober) SetTools(names ...string) {
	specs := make([]registry.ToolSpec, len(names))
	for i, n := range names {
		specs[i] = registry.ToolSpec{Name: n, Description: "the " + n + " tool", InputSchema: map[string]any{"type": "object"}}
	}
	p.SetToolSpecs(specs...)
}

// SetToolSpecs makes probes list exactly these tools, and succeed.
func (p *Prober) SetToolSpecs(specs ...registry.ToolSpec) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tools, p.err = slices.Clone(specs), nil
}

// SetToolsTTL makes probes report ttl as the tool list's cache hint
// (0: none).
func (p *Prober) SetToolsTTL(ttl time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ttl = ttl
}

// Fail makes probes fail with err (nil: succeed again).
func (p *Prober) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// SetCall makes tool calls answer with fn (nil: the default answer).
func (p *Prober) SetCall(fn func(c *registry.Connection, tool string, args map[string]any) (map[string]any, error)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.call = fn
}

// Probe implements registry.Prober.
func (p *Prober) Probe(_ context.Context, c *registry.Connection) (*registry.ProbeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probed = append(p.probed, c)
	if p.err != nil {
		return nil, p.err
	}
	return &registry.ProbeResult{
		Transport:       registry.TransportStreamableHTTP,
		ServerInfo:      registry.ServerInfo{Name: "fake-upstream", Version: "1.0.0"},
		ProtocolVersion: "2025-06-18",
		Tools:           slices.Clone(p.tools),
		ToolsTTL:        p.ttl,
	}, nil
}

// CallTool implements registry.Prober.
func (p *Prober) CallTool(_ context.Context, c *registry.Connection, tool string, args map[string]any) (map[string]any, error) {
	p.mu.Lock()
	p.calls = append(p.calls, ToolCall{Connection: c, Tool: tool, Args: args})
	call := p.call
	p.mu.Unlock()
	if call != nil {
		return call(c, tool, args)
	}
	return map[string]any{"content": []any{map[string]any{"type": "text", "text": "called " + tool}}}, nil
}

// Probed returns the connections probes were asked to reach, in order.
func (p *Prober) Probed() []*registry.Connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.probed)
}

// Calls returns the tool calls so far, in order.
func (p *Prober) Calls() []ToolCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}
