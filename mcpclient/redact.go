package mcpclient

import (
	"strings"

	"github.com/tether-dev/tether/registry"
)

// Everything a server sends back passes through the connection's redactor
// before this package hands it out: server info, tool definitions, tool
// results, errors. A server that echoes its request headers (a debugging
// endpoint, a misconfigured proxy, a hostile server) would otherwise put the
// connection's credentials into what tether stores (metadata.server_info,
// the tools table) and returns (Ferni /tools, agents' tool lists and call
// results), where nobody who can read them was ever shown the secret:
// secrets are write-only in both APIs.

// active reports whether r has anything to redact.
func (r *redactor) active() bool { return r != nil && len(r.values) > 0 }

// holds reports whether s contains a value r redacts.
func (r *redactor) holds(s string) bool {
	for _, v := range r.values {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// value redacts a decoded JSON value: every string, and every object key,
// as written and as it decodes (see scrub).
// It reports whether anything changed; when nothing did, it returns v
// itself, so a clean value costs a walk and no copy.
func (r *redactor) value(v any) (any, bool) {
	if !r.active() {
		return v, false
	}
	switch x := v.(type) {
	case string:
		return r.scrub(x)
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			re, changed := r.value(e)
			rk, keyChanged := r.scrub(k)
			changed = changed || keyChanged
			if changed && out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			if out != nil {
				if rk != k {
					delete(out, k)
				}
				out[rk] = re
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range x {
			re, changed := r.value(e)
			if changed && out == nil {
				out = append([]any(nil), x...)
			}
			if out != nil {
				out[i] = re
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	return v, false
}

// object redacts a JSON object (a schema, annotations, a tool result as
// [Session.CallTool] returns it: its content of every kind, its structured
// content and its _meta).
func (r *redactor) object(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out, _ := r.value(m)
	return out.(map[string]any)
}

// tool redacts a tool as listed: its names, description, schemas and
// annotations.
func (r *redactor) tool(t registry.ToolSpec) registry.ToolSpec {
	if !r.active() {
		return t
	}
	t.Name = r.redact(t.Name)
	t.Title = r.redact(t.Title)
	t.Description = r.redact(t.Description)
	t.InputSchema = r.object(t.InputSchema)
	t.OutputSchema = r.object(t.OutputSchema)
	t.Annotations = r.object(t.Annotations)
	return t
}
