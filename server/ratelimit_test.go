package server

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRate(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Rate
		bad  bool
	}{
		{name: "off", in: "", want: Rate{}},
		{name: "off word", in: "off", want: Rate{}},
		{name: "per minute", in: "600/m", want: Rate{N: 600, Per: time.Minute}},
		{name: "per second", in: "10/s", want: Rate{N: 10, Per: time.Second}},
		{name: "per hour", in: "1000/hour", want: Rate{N: 1000, Per: time.Hour}},
		{name: "duration", in: "50/30s", want: Rate{N: 50, Per: 30 * time.Second}},
		{name: "spaces", in: " 5 / m ", want: Rate{N: 5, Per: time.Minute}},
		{name: "zero", in: "0/m", bad: true},
		{name: "negative", in: "-1/m", bad: true},
		{name: "no unit", in: "600", bad: true},
		{name: "bad unit", in: "600/fortnight", bad: true},
		{name: "not a number", in: "many/m", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestLimiterFixedWindow(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	l := newLimiter(Rate{N: 2, Per: time.Minute}, nil, "requests", nil)
	l.now = func() time.Time { return now }

	ok, remaining, reset := l.take(t.Context(), "k", 1)
	assert.True(t, ok)
	assert.Equal(t, 1, remaining)
	assert.Equal(t, time.Minute, reset)
	now = now.Add(10 * time.Second)
	ok, remaining, _ = l.take(t.Context(), "k", 1)
	assert.True(t, ok)
	assert.Equal(t, 0, remaining)
	ok, _, reset = l.take(t.Context(), "k", 1)
	assert.False(t, ok, "over the budget")
	assert.Equal(t, 50*time.Second, reset)
	ok, _, _ = l.take(t.Context(), "other", 1)
	assert.True(t, ok, "budgets are per key")

	now = now.Add(50 * time.Second) // the window ends
	ok, remaining, _ = l.take(t.Context(), "k", 1)
	assert.True(t, ok)
	assert.Equal(t, 1, remaining)
	assert.Nil(t, newLimiter(Rate{}, nil, "requests", nil), "no rate, no limiter")
	assert.Equal(t, 1, ceilSeconds(time.Millisecond))
	assert.Equal(t, 50, ceilSeconds(49*time.Second+time.Millisecond))
}
