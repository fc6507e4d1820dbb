package mcpclient

import (
	"encoding/json"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A tool result read raw (rawcall.go) must be the JSON object go-sdk's
// path makes of it: go-sdk decodes a CallToolResult (its known fields, each
// content block by its type, base64 data as bytes) and resultObject
// encodes that again. projectResult does the same to the decoded object,
// in place: it drops what go-sdk drops, fills what it fills, and keeps the
// rest. Whatever it is not sure go-sdk reads the same way (a field of an
// unexpected type, a key that differs only in case, input requests,
// sampling content, base64 that is not canonical, a result that go-sdk
// would refuse) is left to go-sdk: toolResult then decodes the bytes with
// go-sdk's own types, which is exactly its path, at its cost.

// toolResult returns the result object of a tools/call answer.
func toolResult(raw json.RawMessage) (map[string]any, error) {
	var m map[string]any
	if json.Unmarshal(raw, &m) == nil && m != nil && projectResult(m) {
		return m, nil
	}
	res := new(mcp.CallToolResult)
	if err := res.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return resultObject(res)
}

// Keys go-sdk decodes; any other is dropped, unless it differs from one of
// these only in case (a JSON decoder may match it to the field).
var (
	resultKeys      = []string{"_meta", "content", "structuredContent", "isError", "inputRequests", "requestState", "resultType"}
	contentKeys     = []string{"type", "text", "mimeType", "data", "resource", "uri", "name", "title", "description", "size", "_meta", "annotations", "icons", "id", "input", "toolUseId", "content", "structuredContent", "isError"}
	resourceKeys    = []string{"uri", "mimeType", "text", "blob", "_meta"}
	annotationsKeys = []string{"audience", "lastModified", "priority"}
)

// foldedKey reports whether k is not one of keys but equals one ignoring
// case.
func foldedKey(k string, keys []string) bool {
	for _, known := range keys {
		if k != known && strings.EqualFold(k, known) {
			return true
		}
	}
	return false
}

// projectResult rewrites m as go-sdk's CallToolResult encodes it, and
// reports false if it cannot be sure to (m is then partly rewritten and
// must be decoded again).
func projectResult(m map[string]any) bool {
	content := []any{} // go-sdk always has content, [] when none came
	for k, v := range m {
		switch k {
		case "_meta":
			if !projectMeta(m, k, v) {
				return false
			}
		case "content":
			switch x := v.(type) {
			case nil:
			case []any:
				for _, c := range x {
					if !projectContent(c) {
						return false
					}
				}
				content = x
			default:
				return false
			}
		case "structuredContent":
			if v == nil {
				delete(m, k)
			}
		case "isError":
			switch b := v.(type) {
			case bool:
				if !b {
					delete(m, k)
				}
			case nil:
				delete(m, k)
			default:
				return false
			}
		case "requestState", "resultType":
			if !projectString(m, k, v, true) {
				return false
			}
		case "inputRequests":
			// go-sdk reads each request by its method: left to it.
			return false
		default:
			if foldedKey(k, resultKeys) {
				return false
			}
			delete(m, k)
		}
	}
	m["content"] = content
	return true
}

// projectMeta keeps a _meta object with keys; go-sdk omits an empty one.
func projectMeta(m map[string]any, k string, v any) bool {
	switch x := v.(type) {
	case nil:
		delete(m, k)
	case map[string]any:
		if len(x) == 0 {
			delete(m, k)
		}
	default:
		return false
	}
	return true
}

// projectString checks a string field; omitEmpty drops "" (and null).
func projectString(m map[string]any, k string, v any, omitEmpty bool) bool {
	switch x := v.(type) {
	case string:
		if x == "" && omitEmpty {
			delete(m, k)
		}
	case nil:
		if omitEmpty {
			delete(m, k)
		} else {
			m[k] = ""
		}
	default:
		return false
	}
	return true
}

// contentFields are the keys each content type keeps (go-sdk's encoding of
// it); the other content keys would be decoded and dropped, so they are
// left to go-sdk, which may also refuse them.
var contentFields = map[string][]string{
	"text":          {"type", "text", "_meta", "annotations"},
	"image":         {"type", "mimeType", "data", "_meta", "annotations"},
	"audio":         {"type", "mimeType", "data", "_meta", "annotations"},
	"resource_link": {"type", "uri", "name", "title", "description", "mimeType", "size", "_meta", "annotations"},
	"resource":      {"type", "resource", "_meta", "annotations"},
}

// projectContent rewrites one content block as go-sdk encodes it.
func projectContent(v any) bool {
	c, ok := v.(map[string]any)
	if !ok {
		return false
	}
	typ, _ := c["type"].(string)
	fields, ok := contentFields[typ]
	if !ok {
		// tool_use and tool_result (sampling content), or a type go-sdk
		// refuses.
		return false
	}
	for k, v := range c {
		switch {
		case k == "type":
		case !has(fields, k):
			if has(contentKeys, k) || foldedKey(k, contentKeys) {
				return false
			}
			delete(c, k)
		case k == "_meta":
			if !projectMeta(c, k, v) {
				return false
			}
		case k == "annotations":
			if !projectAnnotations(c, v) {
				return false
			}
		case k == "data":
			// go-sdk holds the bytes and encodes them again.
			s, ok := v.(string)
			if v != nil && (!ok || !canonicalBase64(s)) {
				return false
			}
		case k == "size":
			if !projectSize(c, v) {
				return false
			}
		case k == "resource":
			if !projectResource(c, v) {
				return false
			}
		default: // text, mimeType, uri, name, title, description
			if !projectString(c, k, v, typ == "resource_link") {
				return false
			}
		}
	}
	switch typ {
	case "text":
		if _, ok := c["text"]; !ok {
			c["text"] = ""
		}
	case "image", "audio":
		if _, ok := c["mimeType"]; !ok {
			c["mimeType"] = ""
		}
		if d, ok := c["data"]; !ok || d == nil {
			c["data"] = ""
		}
	}
	return true
}

func has(keys []string, k string) bool {
	for _, known := range keys {
		if k == known {
			return true
		}
	}
	return false
}

// projectSize checks a resource link's size: go-sdk decodes it as an
// int64, which "1e3" or "5.0" are not, and the decoded number no longer
// tells; any size but null is left to go-sdk.
func projectSize(c map[string]any, v any) bool {
	if v == nil {
		delete(c, "size")
		return true
	}
	return false
}

// projectAnnotations rewrites a content block's annotations: go-sdk keeps
// an object ({} stays), its audience, lastModified and priority when set.
func projectAnnotations(c map[string]any, v any) bool {
	a, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			delete(c, "annotations")
			return true
		}
		return false
	}
	for k, v := range a {
		switch k {
		case "audience":
			switch x := v.(type) {
			case nil:
				delete(a, k)
			case []any:
				for _, r := range x {
					if _, ok := r.(string); !ok {
						return false
					}
				}
				if len(x) == 0 {
					delete(a, k)
				}
			default:
				return false
			}
		case "lastModified":
			if !projectString(a, k, v, true) {
				return false
			}
		case "priority":
			switch x := v.(type) {
			case nil:
				delete(a, k)
			case float64:
				if x == 0 {
					delete(a, k)
				}
			default:
				return false
			}
		default:
			if foldedKey(k, annotationsKeys) {
				return false
			}
			delete(a, k)
		}
	}
	return true
}

// projectResource rewrites an embedded resource's contents.
func projectResource(c map[string]any, v any) bool {
	r, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			delete(c, "resource")
			return true
		}
		return false
	}
	for k, v := range r {
		switch k {
		case "uri":
			if !projectString(r, k, v, false) {
				return false
			}
		case "mimeType", "text":
			if !projectString(r, k, v, true) {
				return false
			}
		case "blob":
			s, ok := v.(string)
			switch {
			case v == nil:
				delete(r, k)
			case !ok || s == "" || !canonicalBase64(s):
				// An empty blob may decode as no bytes or as none.
				return false
			}
		case "_meta":
			if !projectMeta(r, k, v) {
				return false
			}
		default:
			if foldedKey(k, resourceKeys) {
				return false
			}
			delete(r, k)
		}
	}
	if _, ok := r["uri"]; !ok {
		r["uri"] = ""
	}
	return true
}

// canonicalBase64 reports whether s is standard, padded base64 that
// encodes its bytes again as s: go-sdk decodes it to bytes and encodes
// those. It allocates nothing (images can be large).
func canonicalBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	if strings.HasSuffix(s, "==") {
		pad = 2
	} else if strings.HasSuffix(s, "=") {
		pad = 1
	}
	body := s[:len(s)-pad]
	for i := 0; i < len(body); i++ {
		if b64Value(body[i]) < 0 {
			return false
		}
	}
	if pad == 0 || len(body) == 0 {
		return true
	}
	// The bits after the last byte must be zero, or encoding the bytes
	// again would not give s.
	last := b64Value(body[len(body)-1])
	if pad == 2 {
		return last&0x0f == 0
	}
	return last&0x03 == 0
}

func b64Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
