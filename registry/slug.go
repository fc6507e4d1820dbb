package registry

import (
	"regexp"
	"strings"
)

// MaxSlugLen bounds a connection slug (and so a Ferni name).
const MaxSlugLen = 64

var kebabName = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// SlugFromName turns a Ferni kebab-case name into the canonical slug
// ("my-crm-tools" → "my_crm_tools"). It refuses anything not kebab-case.
func SlugFromName(name string) (string, error) {
	if len(name) > MaxSlugLen || !kebabName.MatchString(name) {
		return "", errorf(ErrValidation,
			"name %q must be kebab-case: lowercase letters and digits separated by single hyphens, at most %d characters (e.g. my-crm-tools)",
			name, MaxSlugLen)
	}
	return strings.ReplaceAll(name, "-", "_"), nil
}

// NameFromSlug is the Ferni spelling of a slug ("my_crm_tools" → "my-crm-tools").
func NameFromSlug(slug string) string { return strings.ReplaceAll(slug, "_", "-") }

// SlugFromNickname applies Feather's slug rule: lowercase, every run of
// characters other than ASCII letters and digits collapsed to one
// underscore, no leading or trailing underscore ("My Slack Workspace" →
// "my_slack_workspace"). A nickname with no letters or digits becomes "mcp".
// The result leaves room for a "_NNN" suffix within MaxSlugLen.
func SlugFromNickname(nickname string) string {
	s := slugPart(nickname)
	if s == "" {
		s = "mcp"
	}
	const room = MaxSlugLen - 8 // "_" plus up to 7 digits of suffix
	if len(s) > room {
		s = strings.TrimRight(s[:room], "_")
	}
	return s
}

// ToolSlug is Feather's tool slug: {nickname_slug}_{tool}, the tool name put
// through the same slug rule ("get-sum" → "get_sum").
func ToolSlug(connectionSlug, toolName string) string {
	return connectionSlug + "_" + slugPart(toolName)
}

func slugPart(s string) string {
	var b strings.Builder
	pendingSep := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if pendingSep && b.Len() > 0 {
				b.WriteByte('_')
			}
			pendingSep = false
			b.WriteRune(r)
			continue
		}
		pendingSep = true
	}
	return b.String()
}
