package registry

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// DefinitionChanges is the structural diff between two definitions of a tool, in
// short phrases an operator reads in a tool's history: "description
// changed", `input field "x" added`, `input field "x" removed`, `input
// field "x" retyped`, `input field "x" changed` (another of its keywords),
// `input field "x" now required` / `no longer required`, "input schema
// changed" (anything else about it), "output schema changed",
// "annotations changed", "title changed", "name changed".
func DefinitionChanges(older, newer Definition) []string {
	out := []string{}
	if older.Name != newer.Name {
		out = append(out, "name changed")
	}
	if older.Title != newer.Title {
		out = append(out, "title changed")
	}
	if older.Description != newer.Description {
		out = append(out, "description changed")
	}
	out = append(out, inputChanges(older.InputSchema, newer.InputSchema)...)
	if !sameJSON(older.OutputSchema, newer.OutputSchema) {
		out = append(out, "output schema changed")
	}
	if !sameJSON(older.Annotations, newer.Annotations) {
		out = append(out, "annotations changed")
	}
	return out
}

// inputChanges lists the field-level differences of two input schemas.
func inputChanges(older, newer map[string]any) []string {
	var out []string
	oldProps, newProps := schemaProperties(older), schemaProperties(newer)
	names := slices.Sorted(maps.Keys(oldProps))
	for name := range newProps {
		if _, ok := oldProps[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	wasRequired, isRequired := set(requiredFields(older)), set(requiredFields(newer))
	for _, name := range names {
		was, inOld := oldProps[name]
		now, inNew := newProps[name]
		switch {
		case !inOld:
			out = append(out, fmt.Sprintf("input field %q added", name))
			if isRequired[name] {
				out = append(out, fmt.Sprintf("input field %q now required", name))
			}
			continue
		case !inNew:
			out = append(out, fmt.Sprintf("input field %q removed", name))
			continue
		}
		wm, _ := was.(map[string]any)
		nm, _ := now.(map[string]any)
		switch {
		case !reflect.DeepEqual(wm["type"], nm["type"]):
			out = append(out, fmt.Sprintf("input field %q retyped", name))
		case !sameJSON(wm, nm):
			out = append(out, fmt.Sprintf("input field %q changed", name))
		}
		switch {
		case isRequired[name] && !wasRequired[name]:
			out = append(out, fmt.Sprintf("input field %q now required", name))
		case wasRequired[name] && !isRequired[name]:
			out = append(out, fmt.Sprintf("input field %q no longer required", name))
		}
	}
	if len(out) == 0 && !sameJSON(older, newer) {
		out = append(out, "input schema changed")
	}
	return out
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// sameJSON compares two decoded JSON objects, nil equal to empty.
func sameJSON(a, b map[string]any) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}
