package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/gowebpki/jcs"
)

// Tool integrity: tether pins what agents see of a tool. Every definition a
// server lists gets a fingerprint; under the approve policy a new or changed
// definition waits for an operator, and agents keep seeing the definition
// last approved (see DESIGN.md, "Wave 2 contracts", and docs in
// openapi.yaml).

// ToolPolicy says how a connection's tool definitions take effect.
type ToolPolicy string

// The tool policies.
const (
	// PolicyAuto: every definition the server lists takes effect at once
	// (and is recorded, approved by "auto").
	PolicyAuto ToolPolicy = "auto"
	// PolicyApprove: new tools and changed definitions wait for approval.
	PolicyApprove ToolPolicy = "approve"
)

// Valid reports whether p is a known policy.
func (p ToolPolicy) Valid() bool { return p == PolicyAuto || p == PolicyApprove }

// ApprovalStatus is where a tool's current definition stands.
type ApprovalStatus string

// The approval states.
const (
	// Approved: the server's definition is the approved one (always under auto).
	Approved ApprovalStatus = "approved"
	// PendingApproval: a tool seen for the first time, never approved:
	// neither listed nor callable.
	PendingApproval ApprovalStatus = "pending_approval"
	// Changed: the definition changed; agents keep the approved one, and
	// calls are checked against its input schema.
	Changed ApprovalStatus = "changed"
	// Held: the change removes or retypes an input field the approved
	// definition requires: not listed, not callable, until a decision.
	Held ApprovalStatus = "held"
	// Rejected: an operator rejected the current definition; the approved
	// one (if any, and if the server can still take its calls) stays
	// served until the server's definition changes again.
	Rejected ApprovalStatus = "rejected"
)

// ApprovedByAuto is the approver recorded for definitions that took effect
// under the auto policy.
const ApprovedByAuto = "auto"

// Definition is what an agent's model sees of a tool, as the server lists
// it: the input of the fingerprint.
type Definition struct {
	Name         string         `json:"name"`
	Title        string         `json:"title,omitempty"`
	Description  string         `json:"description,omitempty"`
	InputSchema  map[string]any `json:"inputSchema,omitempty"`
	OutputSchema map[string]any `json:"outputSchema,omitempty"`
	Annotations  map[string]any `json:"annotations,omitempty"`
}

// Fingerprint is the hex SHA-256 of the RFC 8785 (JCS) canonical JSON of
// {name, title, description, inputSchema, outputSchema, annotations},
// absent fields omitted: the same definition spelled with other key order
// or whitespace has the same fingerprint, and any visible change another.
func (d Definition) Fingerprint() string {
	b, err := json.Marshal(d)
	if err == nil {
		b, err = jcs.Transform(b)
	}
	if err != nil {
		// Decoded JSON always re-encodes; this is a value no server sent
		// (NaN in a Go-built schema). Hash the error so it still differs.
		b = []byte("unencodable definition: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// definition is a listed tool's Definition.
func (spec ToolSpec) definition() Definition { return Definition(spec) }

// Live is the definition the server lists now, as stored.
func (t *Tool) Live() Definition {
	return Definition{
		Name: t.Name, Title: t.Title, Description: t.Description,
		InputSchema: t.InputSchema, OutputSchema: t.OutputSchema, Annotations: t.Annotations,
	}
}

// AdoptLegacy fills the integrity fields of a tool stored before they
// existed: its fingerprint from its stored definition and, as it was
// served then, its approval. The store calls it on such rows. Its next
// sync records the definition as listed (annotations included) without
// reporting a change.
func AdoptLegacy(t *Tool) {
	t.legacy = true
	if t.DefinitionHash == "" {
		t.DefinitionHash = t.Live().Fingerprint()
	}
	if t.ApprovalStatus == "" {
		t.ApprovalStatus = Approved
	}
	if t.ApprovalStatus == Approved && t.ApprovedHash == "" {
		t.ApprovedHash = t.DefinitionHash
	}
}

// ToolVersion is one distinct definition of a tool, in its history.
type ToolVersion struct {
	ToolID       string
	TenantID     string
	ConnectionID string
	Hash         string
	Definition   Definition
	FirstSeenAt  time.Time
	LastSeenAt   time.Time
	ApprovedAt   *time.Time
	// ApprovedBy is the approving API key's id, or "auto".
	ApprovedBy string
	RejectedAt *time.Time
	RejectedBy string
	// Changes is the structural diff from the version first seen before
	// it (filled by ToolHistory).
	Changes []string
}

// MaxToolVersions bounds the history kept per tool: the versions seen
// most recently are kept, the others forgotten.
const MaxToolVersions = 50

// Served is the definition agents see of the tool, overrides applied, and
// whether they see it at all: under approve, the approved definition (the
// live one once approved), none for a tool never approved or held.
func (t *Tool) Served() (Definition, bool) {
	var def Definition
	switch t.ApprovalStatus {
	case Approved, "":
		def = t.Live()
	case Changed:
		if t.Approved == nil {
			return Definition{}, false
		}
		def = *t.Approved
	case Rejected:
		if t.Approved == nil || t.Breaking {
			return Definition{}, false
		}
		def = *t.Approved
	default: // pending_approval, held
		return Definition{}, false
	}
	if t.TitleOverride != nil {
		def.Title = *t.TitleOverride
	}
	if t.DescriptionOverride != nil {
		def.Description = *t.DescriptionOverride
	}
	return def, true
}

// servedView is a copy of t showing the served definition in place of the
// live one (the author's settings as they are), or nil when agents see
// none.
func (t *Tool) servedView() *Tool {
	def, ok := t.Served()
	if !ok {
		return nil
	}
	v := *t
	v.Title, v.Description = def.Title, def.Description
	v.InputSchema, v.OutputSchema, v.Annotations = def.InputSchema, def.OutputSchema, def.Annotations
	if v.InputSchema == nil {
		v.InputSchema = map[string]any{"type": "object"}
	}
	if v.Title == "" {
		// The spec's display order: title, annotations.title, name.
		v.Title, _ = v.Annotations["title"].(string)
	}
	return &v
}

// DisplayTitle is the tool's title, else its annotations' title.
func (t *Tool) DisplayTitle() string {
	if t.Title != "" {
		return t.Title
	}
	s, _ := t.Annotations["title"].(string)
	return s
}

// evaluate sets a tool's approval state after its live definition was
// (re)read, under policy; now is when. It reports whether the tool was
// approved automatically.
func evaluate(t *Tool, policy ToolPolicy, now time.Time) {
	if policy != PolicyApprove {
		if t.ApprovalStatus != Approved || t.ApprovedHash != t.DefinitionHash {
			approve(t, ApprovedByAuto, now)
		}
		return
	}
	switch {
	case t.ApprovedHash != "" && t.ApprovedHash == t.DefinitionHash:
		// Approved, or changed back to the approved definition.
		t.ApprovalStatus, t.Approved, t.Breaking, t.RejectedHash = Approved, nil, false, ""
	case t.ApprovalStatus == Rejected && t.RejectedHash == t.DefinitionHash:
		// Rejected until the server's definition changes again.
		t.Breaking = t.Approved != nil && breaks(*t.Approved, t.Live())
	case t.ApprovedHash == "" || t.Approved == nil:
		t.ApprovalStatus, t.Breaking, t.RejectedHash = PendingApproval, false, ""
	default:
		t.Breaking = breaks(*t.Approved, t.Live())
		t.ApprovalStatus, t.RejectedHash = Changed, ""
		if t.Breaking {
			t.ApprovalStatus = Held
		}
	}
}

// approve makes the tool's live definition the approved one, recording by
// (an API key id or "auto") on its version.
func approve(t *Tool, by string, now time.Time) {
	t.ApprovalStatus, t.ApprovedHash = Approved, t.DefinitionHash
	t.Approved, t.Breaking, t.RejectedHash = nil, false, ""
	t.recordVersion(now)
	t.Version.ApprovedAt, t.Version.ApprovedBy = &now, by
}

// recordVersion asks the store to record the live definition in the
// tool's history (first seen now, or last seen now).
func (t *Tool) recordVersion(now time.Time) {
	if t.Version != nil && t.Version.Hash == t.DefinitionHash {
		return
	}
	seen := t.LastSeenAt
	if seen.IsZero() {
		seen = now
	}
	t.Version = &ToolVersion{
		ToolID: t.ID, TenantID: t.TenantID, ConnectionID: t.ConnectionID,
		Hash: t.DefinitionHash, Definition: t.Live(), FirstSeenAt: seen, LastSeenAt: seen,
	}
}

// breaks reports whether live removes or retypes an input field that the
// approved definition requires: calls made to the approved schema would
// then fail, so the tool is held.
func breaks(approved, live Definition) bool {
	oldProps, newProps := schemaProperties(approved.InputSchema), schemaProperties(live.InputSchema)
	for _, name := range requiredFields(approved.InputSchema) {
		was, _ := oldProps[name].(map[string]any)
		now, ok := newProps[name].(map[string]any)
		if !ok {
			if _, present := newProps[name]; !present {
				return true // removed
			}
			continue
		}
		if !reflect.DeepEqual(was["type"], now["type"]) {
			return true // retyped
		}
	}
	return false
}

// requiredFields lists a schema's "required" names.
func requiredFields(schema map[string]any) []string {
	list, _ := schema["required"].([]any)
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// stateMessage words why agents cannot use a tool in state s.
func stateMessage(slug string, s ApprovalStatus) string {
	switch s {
	case PendingApproval:
		return fmt.Sprintf("tool %q is pending_approval: its definition has not been approved yet", slug)
	case Held:
		return fmt.Sprintf("tool %q is held: its server changed the input fields the approved definition requires; an operator must approve or reject the change", slug)
	case Rejected:
		return fmt.Sprintf("tool %q is rejected: an operator rejected its current definition", slug)
	}
	return fmt.Sprintf("tool %q is %s", slug, s)
}

// sameDefinition reports whether two definitions are the same JSON, and so
// have the same fingerprint. It errs towards false: values of types
// decoded JSON does not hold compare unequal, and so do a nil and an
// empty object.
func sameDefinition(a, b Definition) bool {
	return a.Name == b.Name && a.Title == b.Title && a.Description == b.Description &&
		sameObject(a.InputSchema, b.InputSchema) && sameObject(a.OutputSchema, b.OutputSchema) &&
		sameObject(a.Annotations, b.Annotations)
}

func sameObject(a, b map[string]any) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}

// sameValue reports whether a and b are the same decoded JSON value.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		// By bits: 0 and -0 differ (as their encodings do).
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && sameObject(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}
