package mcpclient

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readEvents finds the answer as go-sdk's scanEvents would: after
// notifications, at a blank line or at the stream's end, with white space
// around field values ignored; named events other than "message" are not
// answers.
func TestReadEventsAsGoSDK(t *testing.T) {
	answer := `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`
	note := `{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`
	tests := []struct {
		name   string
		stream string
		found  bool
		lastID string
	}{
		{"blank line", "data: " + answer + "\n\n", true, ""},
		{"after a notification", "id: 1\ndata: " + note + "\n\nid: 2\ndata: " + answer + "\n\n", true, "2"},
		{"ends without a blank line", "data: " + answer + "\n", true, ""},
		{"ends without a newline", "data: " + answer, true, ""},
		{"padded event name and id", "event: message \nid:  9 \ndata: " + answer + "\n\n", true, "9"},
		{"another event's name", "event: other\ndata: " + answer + "\n\n", false, ""},
		{"another id", "data: " + strings.Replace(answer, `"id":7`, `"id":8`, 1) + "\n\n", false, ""},
		{"only a notification", "id: 3\ndata: " + note + "\n\n", false, "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, end, err := readEvents(strings.NewReader(tt.stream), 7)
			if !tt.found {
				assert.ErrorIs(t, err, errNoAnswer)
				assert.Nil(t, a)
			} else {
				require.NoError(t, err)
				require.NotNil(t, a)
				assert.JSONEq(t, `{"content":[]}`, string(a.Result))
			}
			assert.Equal(t, tt.lastID, end.lastID)
		})
	}
}
