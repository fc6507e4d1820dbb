package oauth

import (
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// StepUpScopes reads the WWW-Authenticate header values of a 403 (or 401)
// answer from an MCP server. When a Bearer challenge says
// error="insufficient_scope" (RFC 6750 §3.1; the MCP specification's
// "Step-Up Authorization Flow"), it returns that challenge's scope (split
// on spaces; possibly empty) and true. Anything else, a malformed header
// included, is false.
func StepUpScopes(headers ...string) ([]string, bool) {
	cs, err := oauthex.ParseWWWAuthenticate(headers)
	if err != nil {
		return nil, false
	}
	for _, c := range cs {
		if c.Scheme == "bearer" && c.Params["error"] == "insufficient_scope" {
			if scopes := strings.Fields(c.Params["scope"]); len(scopes) > 0 {
				return scopes, true
			}
			return nil, true
		}
	}
	return nil, false
}

// AccumulateScopes is the union of scope lists in order of first
// appearance, without duplicates: what a step-up authorization requests
// (SEP-2350), so that a wider grant never loses what the narrower one
// allowed. Nil when every list is empty.
func AccumulateScopes(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if s != "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
