package panics_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/tether-dev/tether/internal/panics"
)

func TestText(t *testing.T) {
	caught := func(f func()) (r any) {
		defer func() { r = recover() }()
		f()
		return nil
	}
	var s []int
	assert.Equal(t, "runtime error: index out of range [3] with length 0", panics.Text(caught(func() { _ = s[3] })))
	assert.Equal(t, "string", panics.Text(caught(func() { panic("token sk-live-123") })))
	assert.Equal(t, "*errors.errorString", panics.Text(caught(func() { panic(errors.New("token sk-live-123")) })))
}
