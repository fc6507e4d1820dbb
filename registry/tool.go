package registry

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
)

// Tool is one tool a connection's server offers, with the author's
// settings (enabled, input defaults and pins, response field map), which
// survive re-syncs.
type Tool struct {
	ID           string
	ConnectionID string
	TenantID     string
	// Name is the tool's name exactly as the server gives it (tool_path).
	Name         string
	Slug         string
	Title        string
	Description  string
	InputSchema  map[string]any
	OutputSchema map[string]any
	// Annotations are the server's hints (readOnlyHint, ...), as listed.
	Annotations map[string]any

	// DefinitionHash is the fingerprint of the live definition
	// (Definition.Fingerprint).
	DefinitionHash string
	ApprovalStatus ApprovalStatus
	// ApprovedHash is the fingerprint of the approved definition ("" for a
	// tool never approved).
	ApprovedHash string
	// Approved is the approved definition while it differs from the live
	// one (nil when they are the same, or none was approved).
	Approved *Definition
	// RejectedHash is the fingerprint an operator rejected, while the tool
	// is Rejected.
	RejectedHash string
	// Breaking: the live definition removes or retypes an input field the
	// approved one requires.
	Breaking bool
	// TitleOverride and DescriptionOverride replace what agents see of
	// the tool's title and description (nil: the server's).
	TitleOverride       *string
	DescriptionOverride *string

	ResponseFieldMap map[string]any
	InputDefaults    map[string]InputArg
	Enabled          bool
	// Available is false once a sync no longer finds the tool.
	Available bool
	// StaleInputFields are configured input fields the server's current
	// schema no longer has.
	StaleInputFields []string
	Position         int

	LastSeenAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// Removed asks Store.UpdateConnectionTools to delete the tool instead
	// of storing it (a vanished tool dropped to keep a connection within
	// its tool cap). It is never stored.
	Removed bool
	// legacy: stored before tool integrity, its fingerprint computed on
	// reading (AdoptLegacy); its first fingerprint as listed is no change.
	legacy bool

	// Version asks Store.UpdateConnectionTools to record this definition
	// in the tool's history (insert it, or move its last_seen_at and set
	// its approval or rejection). It is never read back.
	Version *ToolVersion
}

// InputArg is an author's value for one input field: a default the caller
// may override, or a pinned value the caller can neither see nor change.
type InputArg struct {
	Value  any
	Pinned bool
}

// inputArgJSON is InputArg's stored and wire form (Feather's InputArgConfig).
type inputArgJSON struct {
	Value any    `json:"value"`
	Type  string `json:"type"`
}

// MarshalJSON writes {"value": ..., "type": "default"|"pinned"}.
func (a InputArg) MarshalJSON() ([]byte, error) {
	t := "default"
	if a.Pinned {
		t = "pinned"
	}
	return json.Marshal(inputArgJSON{Value: a.Value, Type: t})
}

// UnmarshalJSON reads {"value": ..., "type": "default"|"pinned"}.
func (a *InputArg) UnmarshalJSON(b []byte) error {
	var v inputArgJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	a.Value, a.Pinned = v.Value, v.Type == "pinned"
	return nil
}

// Counts returns how many input fields carry a default and how many are pinned.
func (t *Tool) Counts() (defaults, pinned int) {
	for _, a := range t.InputDefaults {
		if a.Pinned {
			pinned++
		} else {
			defaults++
		}
	}
	return defaults, pinned
}

// schemaProperties returns a JSON schema's "properties" object.
func schemaProperties(schema map[string]any) map[string]any {
	props, _ := schema["properties"].(map[string]any)
	return props
}

// MergedInputPreview is the input schema with each author value injected:
// defaults as "default", pins as "const" (and "default").
func (t *Tool) MergedInputPreview() map[string]any {
	out := cloneJSON(t.InputSchema)
	props := schemaProperties(out)
	for name, arg := range t.InputDefaults {
		p, ok := props[name].(map[string]any)
		if !ok {
			continue
		}
		p["default"] = arg.Value
		if arg.Pinned {
			p["const"] = arg.Value
		}
	}
	return out
}

// AdvertisedSchema is the input schema an agent sees: pinned fields
// removed (from properties and required), defaulted fields no longer
// required.
func (t *Tool) AdvertisedSchema() map[string]any {
	out := cloneJSON(t.InputSchema)
	props := schemaProperties(out)
	var required []any
	if r, ok := out["required"].([]any); ok {
		required = r
	}
	for name, arg := range t.InputDefaults {
		if arg.Pinned {
			delete(props, name)
		} else if p, ok := props[name].(map[string]any); ok {
			p["default"] = arg.Value
		}
		required = slices.DeleteFunc(required, func(v any) bool { return v == name })
	}
	if _, ok := out["required"]; ok {
		out["required"] = required
	}
	return out
}

// ApplyInputs merges caller arguments with the author's values: pinned
// values replace the caller's, defaults fill what the caller left out.
func (t *Tool) ApplyInputs(args map[string]any) map[string]any {
	out := make(map[string]any, len(args)+len(t.InputDefaults))
	for k, v := range args {
		out[k] = v
	}
	for name, arg := range t.InputDefaults {
		if _, given := out[name]; arg.Pinned || !given {
			out[name] = arg.Value
		}
	}
	return out
}

// staleInputFields lists configured fields the schema no longer has.
func staleInputFields(defaults map[string]InputArg, schema map[string]any) []string {
	props := schemaProperties(schema)
	stale := []string{}
	for name := range defaults {
		if _, ok := props[name]; !ok {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	return stale
}

// StaleFieldPaths lists field-map paths whose first segment the tool's
// output schema does not have (empty when the server declares no output
// schema: then nothing can be checked).
func (t *Tool) StaleFieldPaths() []string {
	out := []string{}
	props := schemaProperties(t.OutputSchema)
	if props == nil {
		return out
	}
	for _, m := range FieldMappings(t.ResponseFieldMap) {
		first := m.Path
		if i := strings.IndexByte(first, '.'); i >= 0 {
			first = first[:i]
		}
		if _, ok := props[first]; !ok {
			out = append(out, m.Path)
		}
	}
	return out
}

// FieldMapping is one entry of a response field map: a dotted path into
// the result and the name it is exposed as.
type FieldMapping struct {
	Path string
	As   string
}

// FieldMappings reads {"field_mappings": [{"path": "a.b", "as": "b"}]}.
func FieldMappings(m map[string]any) []FieldMapping {
	list, _ := m["field_mappings"].([]any)
	var out []FieldMapping
	for _, item := range list {
		e, _ := item.(map[string]any)
		path, _ := e["path"].(string)
		if path == "" {
			continue
		}
		as, _ := e["as"].(string)
		if as == "" {
			as = path[strings.LastIndexByte(path, '.')+1:]
		}
		out = append(out, FieldMapping{Path: path, As: as})
	}
	return out
}

// cloneJSON deep-copies a JSON object (nil stays an empty object).
func cloneJSON(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return map[string]any{}
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return map[string]any{}
	}
	return out
}
