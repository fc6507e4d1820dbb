package mcpheader_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/tether-dev/tether/internal/mcpheader"
)

func TestEncodeDecode(t *testing.T) {
	for _, tt := range []struct{ value, header string }{
		{"calc_add", "calc_add"},
		{"", ""},
		{"日本語", "=?base64?5pel5pys6Kqe?="},
		{" padded", "=?base64?IHBhZGRlZA==?="},
		{"tab\t", "=?base64?dGFiCQ==?="},
		{"=?base64?abc?=", "=?base64?PT9iYXNlNjQ/YWJjPz0=?="}, // looks encoded: encoded
		{"=?base64?open", "=?base64?open"},                    // only the whole form counts
	} {
		assert.Equal(t, tt.header, mcpheader.Encode(tt.value), "encode %q", tt.value)
		got, ok := mcpheader.Decode(tt.header)
		assert.True(t, ok, "decode %q", tt.header)
		assert.Equal(t, tt.value, got, "decode %q", tt.header)
	}
	got, ok := mcpheader.Decode("=?base64?not base64!?=")
	assert.False(t, ok)
	assert.Equal(t, "=?base64?not base64!?=", got, "an invalid form is left as it is")
}
