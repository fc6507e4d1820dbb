package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlugFromNickname(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"spaces", "My Slack Workspace", "my_slack_workspace"},
		{"runs of punctuation", "CRM -- (prod)!", "crm_prod"},
		{"leading and trailing", "  __hello__  ", "hello"},
		{"digits", "Server 42", "server_42"},
		{"non-ascii letters are separators", "Café Über", "caf_ber"},
		{"nothing usable", "???", "mcp"},
		{"long", strings.Repeat("ab ", 40), strings.TrimRight(strings.Repeat("ab_", 40)[:MaxSlugLen-8], "_")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := SlugFromNickname(tc.in)
			assert.Equal(t, tc.want, got)
			assert.LessOrEqual(t, len(got), MaxSlugLen-8)
		})
	}
}

func TestSlugFromName(t *testing.T) {
	good := map[string]string{"my-crm-tools": "my_crm_tools", "a": "a", "x1-2y": "x1_2y"}
	for in, want := range good {
		got, err := SlugFromName(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
		assert.Equal(t, in, NameFromSlug(got), "round trip")
	}
	for _, bad := range []string{"", "My-Tools", "my_tools", "-a", "a-", "a--b", "a b", strings.Repeat("a", 65)} {
		_, err := SlugFromName(bad)
		assert.ErrorIs(t, err, ErrValidation, bad)
	}
}

func TestToolSlug(t *testing.T) {
	assert.Equal(t, "my_crm_get_sum", ToolSlug("my_crm", "get-sum"))
	assert.Equal(t, "my_crm_lookup_customer", ToolSlug("my_crm", "lookupCustomer"[:6]+"_customer"))
}

func TestMergeToolsKeepsSlugsUnique(t *testing.T) {
	c := &Connection{ID: "c", TenantID: "t", Slug: "calc"}
	tools, _ := mergeTools(c, nil, []ToolSpec{{Name: "get-sum"}, {Name: "get_sum"}, {Name: "GET SUM"}, {Name: "other"}}, time.Now())
	var slugs []string
	for _, tl := range tools {
		slugs = append(slugs, tl.Slug)
	}
	assert.Equal(t, []string{"calc_get_sum", "calc_get_sum_2", "calc_get_sum_3", "calc_other"}, slugs)
}
