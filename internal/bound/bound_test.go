package bound_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/tether-dev/tether/internal/bound"
)

func TestRead(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n, want int
	}{
		{"zero is the default", 0, 7},
		{"negative is no bound", -1, 0},
		{"very negative is no bound", -100, 0},
		{"positive is itself", 3, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, bound.Read(tt.n, 7))
		})
	}
	assert.Equal(t, time.Minute, bound.Read(0, time.Minute), "durations read the same way")
	assert.Equal(t, time.Duration(0), bound.Read(-time.Second, time.Minute))
}

func TestFromFlag(t *testing.T) {
	assert.Equal(t, bound.None, bound.FromFlag(0), "a flag's 0 is no bound")
	assert.Equal(t, 0, bound.Read(bound.FromFlag(0), 7), "and is read as no bound")
	assert.Equal(t, 5, bound.FromFlag(5))
}
