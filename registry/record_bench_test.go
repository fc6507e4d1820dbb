package registry_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tether-dev/tether/internal/benchmeasure"
	"github.com/tether-dev/tether/internal/registrytest"
	"github.com/tether-dev/tether/registry"
)

// fixedProber answers every probe with the same result, at once and
// without recording anything: what is measured is tether's own work.
type fixedProber struct{ res registry.ProbeResult }

func (p *fixedProber) Probe(context.Context, *registry.Connection) (*registry.ProbeResult, error) {
	r := p.res
	return &r, nil
}

func (p *fixedProber) CallTool(context.Context, *registry.Connection, string, map[string]any) (map[string]any, error) {
	return nil, nil
}

// benchTools are the five tools of the bench upstreams of `make bench`
// (cmd/tether-bench: add, echo and -extra-tools 3), as go-sdk lists them.
func benchTools() []registry.ToolSpec {
	num := map[string]any{"type": "number"}
	specs := []registry.ToolSpec{
		{Name: "add", Description: "Add two numbers",
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{"a": num, "b": num},
				"required": []any{"a", "b"}, "additionalProperties": false},
			OutputSchema: map[string]any{"type": "object", "properties": map[string]any{"sum": num},
				"required": []any{"sum"}, "additionalProperties": false}},
		{Name: "echo", Description: "Echo text",
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{"text": map[string]any{"type": "string"}},
				"required": []any{"text"}, "additionalProperties": false}},
	}
	for j := range 3 {
		specs = append(specs, registry.ToolSpec{Name: fmt.Sprintf("tool-%d", j), Description: "a tool",
			InputSchema: map[string]any{"type": "object", "additionalProperties": false}})
	}
	return specs
}

// BenchmarkTestRoutine measures tether's own work in a connection test
// (Service.Test) of a server found as recorded, a routine refresh (five
// tools, a real SQLite file): the row read before the probe and the
// recording of the outcome. The probe itself answers at once. The row
// has no credentials (as in make bench), or a header built from a secret
// (decrypted with each read of the row).
func BenchmarkTestRoutine(b *testing.B) {
	for _, bc := range []struct {
		name             string
		headers, secrets registry.Sensitive
	}{
		{"no credentials", nil, nil},
		{"a secret header", registry.Sensitive{"Authorization": "Bearer {{secrets.TOKEN}}"}, registry.Sensitive{"TOKEN": "t0ken-0123456789abcdef"}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchTestRoutine(b, bc.headers, bc.secrets) })
	}
}

func benchTestRoutine(b *testing.B, headers, secrets registry.Sensitive) {
	ctx := context.Background()
	st := registrytest.OpenStore(b)
	prober := &fixedProber{res: registry.ProbeResult{
		Transport:       registry.TransportStreamableHTTP,
		ServerInfo:      registry.ServerInfo{Name: "bench-upstream-0", Version: "1"},
		ProtocolVersion: "2025-11-25",
		Tools:           benchTools(),
	}}
	svc := registry.NewService(registry.Options{Store: st, Prober: prober})
	b.Cleanup(svc.Close)
	ten, err := st.EnsureTenant(ctx, &registry.Tenant{ID: "t-bench", Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	c, err := svc.Create(ctx, ten.ID, registry.NewConnection{Name: "bench", Transport: registry.TransportStreamableHTTP,
		Endpoint: "https://mcp.example.com/mcp", Enabled: true, Headers: headers, Secrets: secrets})
	if err != nil {
		b.Fatal(err)
	}
	test := func() {
		out, err := svc.Test(ctx, ten.ID, c.ID)
		if err != nil || !out.Connected {
			b.Fatalf("test: %v %+v", err, out)
		}
	}
	test() // the first sync records the tools: not routine
	m := benchmeasure.Start()
	for b.Loop() {
		m.Time(test)
	}
	m.Report(b)
	_, tools, err := svc.Tools(ctx, ten.ID, c.ID)
	if err != nil || len(tools) != 5 {
		b.Fatalf("tools: %v, %d", err, len(tools))
	}
}
