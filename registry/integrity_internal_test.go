package registry

import (
	"encoding/json"
	"testing"
)

// TestSameDefinition: definitions sameDefinition finds the same have the
// same fingerprint (mergeTools then reuses the stored one), and it finds
// different every pair that differs in any value, type or key, however
// deep.
func TestSameDefinition(t *testing.T) {
	decode := func(s string) map[string]any {
		t.Helper()
		if s == "" {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	const schema = `{"type":"object","properties":{"a":{"type":"number","minimum":-1.5},"b":{"enum":["x",null,true,2]}},"required":["a"]}`
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"equal", schema, schema, true},
		{"keys in another order", schema, `{"required":["a"],"properties":{"b":{"enum":["x",null,true,2]},"a":{"minimum":-1.5,"type":"number"}},"type":"object"}`, true},
		{"a number spelled otherwise", `{"maximum":1}`, `{"maximum":1.0e0}`, true},
		{"a number changed", `{"maximum":1}`, `{"maximum":2}`, false},
		{"zero and minus zero", `{"maximum":0}`, `{"maximum":-0.0}`, false},
		{"a number and a string", `{"maximum":1}`, `{"maximum":"1"}`, false},
		{"true and 1", `{"x":true}`, `{"x":1}`, false},
		{"null and absent", `{"x":null}`, `{}`, false},
		{"null and false", `{"x":null}`, `{"x":false}`, false},
		{"nil and empty", ``, `{}`, false},
		{"an array reordered", `{"required":["a","b"]}`, `{"required":["b","a"]}`, false},
		{"an array longer", `{"required":["a"]}`, `{"required":["a","a"]}`, false},
		{"an empty array and null", `{"required":[]}`, `{"required":null}`, false},
		{"deep change", schema, `{"type":"object","properties":{"a":{"type":"number","minimum":-1.5},"b":{"enum":["x",null,false,2]}},"required":["a"]}`, false},
		{"a key renamed", `{"a":1}`, `{"b":1}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, field := range []string{"input", "output", "annotations"} {
				a, b := Definition{Name: "t"}, Definition{Name: "t"}
				switch field {
				case "input":
					a.InputSchema, b.InputSchema = decode(tc.a), decode(tc.b)
				case "output":
					a.OutputSchema, b.OutputSchema = decode(tc.a), decode(tc.b)
				default:
					a.Annotations, b.Annotations = decode(tc.a), decode(tc.b)
				}
				if got := sameDefinition(a, b); got != tc.same {
					t.Errorf("%s: sameDefinition = %v, want %v", field, got, tc.same)
				}
				if sameDefinition(b, a) != tc.same {
					t.Errorf("%s: not symmetric", field)
				}
				if tc.same && a.Fingerprint() != b.Fingerprint() {
					t.Errorf("%s: the same definition, fingerprints differ", field)
				}
				if !tc.same && a.Fingerprint() == b.Fingerprint() && tc.name != "zero and minus zero" && tc.name != "nil and empty" {
					t.Errorf("%s: different definitions, one fingerprint", field)
				}
			}
		})
	}
	base := Definition{Name: "t", Title: "T", Description: "d"}
	for _, other := range []Definition{{Name: "u", Title: "T", Description: "d"}, {Name: "t", Title: "U", Description: "d"}, {Name: "t", Title: "T", Description: "e"}} {
		if sameDefinition(base, other) {
			t.Errorf("%+v and %+v found the same", base, other)
		}
	}
}
