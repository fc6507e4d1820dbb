package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tether-dev/tether/registry"
)

// Prober adapts a Client to registry.Prober: it converts results to the
// registry's types and makes every error also wrap the matching
// registry.ErrUpstream* sentinel, so the API layer maps it without knowing
// this package.
type Prober struct{ Client *Client }

var _ registry.Prober = Prober{}

// Probe implements registry.Prober.
func (p Prober) Probe(ctx context.Context, c *registry.Connection) (*registry.ProbeResult, error) {
	r, err := p.Client.Probe(ctx, c)
	if err != nil {
		return nil, upstream(err)
	}
	out := &registry.ProbeResult{
		Transport:       r.Transport,
		ServerInfo:      registry.ServerInfo{Name: r.ServerInfo.Name, Version: r.ServerInfo.Version, Title: r.ServerInfo.Title},
		ProtocolVersion: r.ProtocolVersion,
		Latency:         r.Latency,
		Tools:           ToolSpecs(r.Tools),
	}
	return out, nil
}

// ToolSpecs converts tools as listed to the registry's ToolSpecs.
func ToolSpecs(tools []Tool) []registry.ToolSpec {
	out := make([]registry.ToolSpec, len(tools))
	for i, t := range tools {
		out[i] = registry.ToolSpec{Name: t.Name, Title: t.Title, Description: t.Description, InputSchema: t.InputSchema, OutputSchema: t.OutputSchema}
	}
	return out
}

// CallTool implements registry.Prober: the result is the MCP CallToolResult
// as a JSON object.
func (p Prober) CallTool(ctx context.Context, c *registry.Connection, tool string, args map[string]any) (map[string]any, error) {
	res, err := p.Client.Call(ctx, c, tool, args)
	if err != nil {
		return nil, upstream(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode tool result: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode tool result: %w", err)
	}
	return out, nil
}

// kinds maps this package's sentinels to the registry's.
var kinds = []struct{ ours, theirs error }{
	{ErrTimeout, registry.ErrUpstreamTimeout},
	{ErrRefused, registry.ErrUpstreamRefused},
	{ErrAuthRejected, registry.ErrUpstreamAuth},
	{ErrInvalidResponse, registry.ErrUpstreamInvalid},
	{ErrServerError, registry.ErrUpstreamError},
	{ErrConnectionFailed, registry.ErrUpstreamConnection},
}

// upstreamError keeps the client's message and adds the registry kind.
type upstreamError struct {
	err  error
	kind error
}

func (e *upstreamError) Error() string   { return e.err.Error() }
func (e *upstreamError) Unwrap() []error { return []error{e.kind, e.err} }

func upstream(err error) error {
	for _, k := range kinds {
		if errors.Is(err, k.ours) {
			return &upstreamError{err: err, kind: k.theirs}
		}
	}
	return &upstreamError{err: err, kind: registry.ErrUpstreamConnection}
}
