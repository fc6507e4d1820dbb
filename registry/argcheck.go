package registry

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/google/jsonschema-go/jsonschema"
)

// While a tool's definition has changed but not been approved, agents see
// the approved definition, so a call must fit the approved input schema:
// arguments the new definition takes but the approved one does not (a
// field that could carry data away) are refused before they reach the
// server. Schemas are compiled once per approved fingerprint.

// maxCompiledSchemas bounds the compiled schemas kept; past it the cache
// starts over.
const maxCompiledSchemas = 1024

var compiled = struct {
	sync.Mutex
	byHash map[string]*jsonschema.Resolved
}{byHash: map[string]*jsonschema.Resolved{}}

// validatorDrafts are the "$schema" values jsonschema-go validates (no
// "$schema" means 2020-12); a schema of another draft gets checkShallow.
var validatorDrafts = map[string]bool{
	"http://json-schema.org/draft-07/schema#":      true,
	"https://json-schema.org/draft-07/schema#":     true,
	"https://json-schema.org/draft/2020-12/schema": true,
}

// checkApprovedArgs refuses args (the caller's, defaults and pins
// applied) that the approved input schema of t does not allow, when t is
// served from its approved definition. A tool whose live definition is
// the approved one is left to its server.
func checkApprovedArgs(t *Tool, args map[string]any) error {
	if t.Approved == nil || (t.ApprovalStatus != Changed && t.ApprovalStatus != Rejected) {
		return nil
	}
	rs, err := approvedSchema(t.ApprovedHash, t.Approved.InputSchema)
	if err != nil {
		// A schema the validator cannot compile: check what it can say
		// simply (required fields, no unknown fields when closed).
		return checkShallow(t, args)
	}
	if args == nil {
		args = map[string]any{}
	}
	if err := rs.Validate(args); err != nil {
		return errorf(ErrInvalidArguments, "arguments do not fit the approved definition of tool %q: %v", t.Slug, err)
	}
	return nil
}

// approvedSchema compiles schema (the approved input schema of the
// definition with fingerprint hash), once.
func approvedSchema(hash string, schema map[string]any) (*jsonschema.Resolved, error) {
	compiled.Lock()
	rs, ok := compiled.byHash[hash]
	compiled.Unlock()
	if ok {
		return rs, nil
	}
	if v, ok := schema["$schema"].(string); ok && !validatorDrafts[v] {
		return nil, fmt.Errorf("approved schema is of draft %q, which the validator does not check", v)
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return nil, err
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read approved schema: %w", err)
	}
	if rs, err = s.Resolve(nil); err != nil {
		return nil, fmt.Errorf("compile approved schema: %w", err)
	}
	compiled.Lock()
	if len(compiled.byHash) >= maxCompiledSchemas {
		clear(compiled.byHash)
	}
	compiled.byHash[hash] = rs
	compiled.Unlock()
	return rs, nil
}

// checkShallow is the check for a schema that could not be compiled.
func checkShallow(t *Tool, args map[string]any) error {
	schema := t.Approved.InputSchema
	for _, name := range requiredFields(schema) {
		if _, ok := args[name]; !ok {
			return errorf(ErrInvalidArguments, "arguments do not fit the approved definition of tool %q: %q is required", t.Slug, name)
		}
	}
	if open, isBool := schema["additionalProperties"].(bool); isBool && !open {
		props := schemaProperties(schema)
		for name := range args {
			if _, ok := props[name]; !ok {
				return errorf(ErrInvalidArguments, "arguments do not fit the approved definition of tool %q: %q is not an input field", t.Slug, name)
			}
		}
	}
	return nil
}
