package registry

import (
	"bytes"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateHeaders(t *testing.T) {
	secrets := Sensitive{"K": "v", "api_key": "x"}
	cases := []struct {
		name    string
		headers Sensitive
		ok      bool
	}{
		{"template", Sensitive{"X-API-Key": "{{secrets.K}}"}, true},
		{"spaced template", Sensitive{"Authorization": "Bearer {{ secrets.api_key }}"}, true},
		{"two templates", Sensitive{"X": "{{secrets.K}}:{{secrets.api_key}}"}, true},
		{"literal", Sensitive{"X-Trace": "abc"}, true},
		{"missing secret", Sensitive{"X": "{{secrets.NOPE}}"}, false},
		{"malformed template", Sensitive{"X": "{{secrets.K}"}, false},
		{"wrong namespace", Sensitive{"X": "{{env.HOME}}"}, false},
		{"bad name", Sensitive{"X Y": "v"}, false},
		{"managed", Sensitive{"content-length": "5"}, false},
		{"session header", Sensitive{"Mcp-Session-Id": "s"}, false},
		{"crlf", Sensitive{"X": "a\nb"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := validateHeaders(tc.headers, secrets)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrValidation)
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	s := Sensitive{"K": "secret-1", "T": "tok"}
	assert.Equal(t, "Bearer tok", Interpolate("Bearer {{secrets.T}}", s))
	assert.Equal(t, "secret-1/tok", Interpolate("{{ secrets.K }}/{{secrets.T}}", s))
	assert.Equal(t, "plain", Interpolate("plain", s))
}

func TestDisplayHeadersMasksLiteralCredentials(t *testing.T) {
	c := &Connection{Headers: Sensitive{
		"Authorization": "Bearer {{secrets.T}}",
		"X-Api-Key":     "literal",
		"Cookie":        "a=b",
		"X-Auth-User":   "bob",
		"X-Trace":       "visible",
	}}
	assert.Equal(t, map[string]string{
		"Authorization": "Bearer {{secrets.T}}",
		"X-Api-Key":     Masked,
		"Cookie":        Masked,
		"X-Auth-User":   Masked,
		"X-Trace":       "visible",
	}, c.DisplayHeaders())
}

func TestSensitiveRedacts(t *testing.T) {
	s := Sensitive{"K": "super-secret-value"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secrets", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), buf.String()} {
		assert.NotContains(t, out, "super-secret-value")
		assert.Contains(t, out, "K")
	}
}

func TestDisplayHeadersMasksLiteralsNextToTemplates(t *testing.T) {
	c := &Connection{Headers: Sensitive{
		"X-Api-Key":     "{{secrets.a}}sk-literal-value",
		"Authorization": "Bearer {{secrets.t}}",
		"X-Token":       "Token {{secrets.t}}",
	}}
	d := c.DisplayHeaders()
	assert.Equal(t, Masked, d["X-Api-Key"])
	assert.Equal(t, "Bearer {{secrets.t}}", d["Authorization"])
	assert.Equal(t, "Token {{secrets.t}}", d["X-Token"])
}
