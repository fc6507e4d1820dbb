// Package mcpheader encodes and decodes the values of MCP's routing and
// parameter headers (Mcp-Name, Mcp-Param-*) as SEP-2243 (2026-07-28) asks:
// a value a header cannot carry as it is travels as "=?base64?…?=", the
// standard base64 of its UTF-8 bytes, and a server decodes that form
// before comparing the header with the body.
package mcpheader

import (
	"encoding/base64"
	"strings"
)

const (
	prefix = "=?base64?"
	suffix = "?="
)

// Encode is v as a header value: v itself when it is printable ASCII
// without leading or trailing white space and does not look encoded
// already, else its base64 form.
func Encode(v string) string {
	if !needsBase64(v) {
		return v
	}
	return prefix + base64.StdEncoding.EncodeToString([]byte(v)) + suffix
}

// Decode is the value a header carries: the decoded bytes of the base64
// form, or h itself when it is not in that form. ok is false for the
// form with invalid base64 inside.
func Decode(h string) (v string, ok bool) {
	enc, found := strings.CutPrefix(h, prefix)
	if found {
		enc, found = strings.CutSuffix(enc, suffix)
	}
	if !found {
		return h, true
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return h, false
	}
	return string(dec), true
}

// needsBase64 reports a value a header cannot carry as it is: leading or
// trailing white space, a character outside printable ASCII, or one that
// looks like an encoded value already.
func needsBase64(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return true
	}
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			return true
		}
	}
	return strings.HasPrefix(s, prefix) && strings.HasSuffix(s, suffix)
}
