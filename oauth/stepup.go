package oauth

import (
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Bounds on the scopes a server can make tether ask for: a challenge
// comes from the MCP server, which chooses it freely (the HTTP client lets
// through 1 MiB of headers), and what it names is stored, shown in the
// connection's status and sent in the next authorization request.
const (
	// MaxScopes bounds how many scopes one challenge, and the accumulated
	// list, may name.
	MaxScopes = 64
	// MaxScopeBytes bounds the accumulated list joined with spaces.
	MaxScopeBytes = 2048
)

// StepUpScopes reads the WWW-Authenticate header values of a 403 (or 401)
// answer from an MCP server. When a Bearer challenge says
// error="insufficient_scope" (RFC 6750 §3.1; the MCP specification's
// "Step-Up Authorization Flow"), it returns that challenge's scope (split
// on spaces; possibly empty) and true. Anything else, a malformed header
// included, is false; so is a scope list over [MaxScopes] or
// [MaxScopeBytes], or one with a scope token RFC 6749 §3.3 does not allow
// (printable ASCII without '"' and '\'): such a challenge is not honoured.
func StepUpScopes(headers ...string) ([]string, bool) {
	cs, err := oauthex.ParseWWWAuthenticate(headers)
	if err != nil {
		return nil, false
	}
	for _, c := range cs {
		if c.Scheme == "bearer" && c.Params["error"] == "insufficient_scope" {
			raw := c.Params["scope"]
			if len(raw) > MaxScopeBytes {
				return nil, false
			}
			scopes := strings.Fields(raw)
			if len(scopes) > MaxScopes || !allScopeTokens(scopes) {
				return nil, false
			}
			if len(scopes) > 0 {
				return scopes, true
			}
			return nil, true
		}
	}
	return nil, false
}

func allScopeTokens(scopes []string) bool {
	for _, s := range scopes {
		if !isScopeToken(s) {
			return false
		}
	}
	return true
}

// isScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// ScopesWithinBounds reports whether a scope list is one tether will store
// and request: at most [MaxScopes] scopes, [MaxScopeBytes] joined.
func ScopesWithinBounds(scopes []string) bool {
	return len(scopes) <= MaxScopes && len(strings.Join(scopes, " ")) <= MaxScopeBytes
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
