package mcpclient

import (
	"github.com/tether-dev/tether/internal/mcpheader"
	"math"
	"strconv"
)

// Parameter headers (SEP-2243). A 2026-07-28 tool may mark arguments of
// its input schema with "x-mcp-header": "Name"; a tools/call then carries
// each such argument's value in an Mcp-Param-Name header, so that proxies
// and load balancers can route on it, and the server refuses a call whose
// headers disagree with its body. go-sdk's client adds them only for tools
// in its own listing cache; the raw call computes them from the tool's
// schema as the server listed it and from the arguments actually sent
// (pins and defaults applied), with go-sdk's rules: only string, boolean
// and safe-integer values, nested properties by path, null and absent
// arguments skipped, and values that are not plain printable ASCII
// base64-wrapped.

// paramHeaderPrefix begins every parameter header's name.
const paramHeaderPrefix = "Mcp-Param-"

// paramHeaders returns the headers of args under schema (nil when the
// schema marks none).
func paramHeaders(schema, args map[string]any) map[string]string {
	if schema == nil || args == nil {
		return nil
	}
	var out map[string]string
	var walk func(props map[string]any, at map[string]any)
	walk = func(props map[string]any, at map[string]any) {
		for name, p := range props {
			prop, _ := p.(map[string]any)
			if prop == nil {
				continue
			}
			value, present := at[name]
			if header, _ := prop["x-mcp-header"].(string); header != "" && present && value != nil {
				if v, ok := headerValueOf(value); ok {
					if out == nil {
						out = map[string]string{}
					}
					out[paramHeaderPrefix+header] = v
				}
			}
			if nested, _ := prop["properties"].(map[string]any); nested != nil {
				if inner, _ := value.(map[string]any); inner != nil {
					walk(nested, inner)
				}
			}
		}
	}
	props, _ := schema["properties"].(map[string]any)
	walk(props, args)
	return out
}

// maxSafeInteger bounds the integers a JSON number carries exactly.
const maxSafeInteger = 1<<53 - 1

// headerValueOf is a parameter header's value for an argument: a string,
// a boolean or an integer within the safe range; ok is false otherwise.
func headerValueOf(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x != math.Trunc(x) || math.Abs(x) > maxSafeInteger {
			return "", false
		}
		s = strconv.FormatInt(int64(x), 10)
	case int:
		if x > maxSafeInteger || x < -maxSafeInteger {
			return "", false
		}
		s = strconv.Itoa(x)
	case int64:
		if x > maxSafeInteger || x < -maxSafeInteger {
			return "", false
		}
		s = strconv.FormatInt(x, 10)
	default:
		return "", false
	}
	return mcpheader.Encode(s), true
}
