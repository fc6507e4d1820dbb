package registry

import (
	"errors"
	"time"
)

// Observer records what the registry does, for metrics.
type Observer interface {
	ObserveProbe(transport, outcome string, d time.Duration)
	ObserveToolCall(via, outcome string)
	SetMonitorLag(d time.Duration)
	ObserveTokenRefresh(outcome string)
}

type noObserver struct{}

func (noObserver) ObserveProbe(string, string, time.Duration) {}
func (noObserver) ObserveToolCall(string, string)             {}
func (noObserver) SetMonitorLag(time.Duration)                {}
func (noObserver) ObserveTokenRefresh(string)                 {}

// Outcome names the result of a probe or tool call for metrics and call
// records: ok, tool_error, timeout, refused (by network policy, or before
// reaching the upstream: a disabled tool), or upstream_error (every other
// failure to get an answer).
func Outcome(result map[string]any, err error) string {
	switch {
	case err == nil:
		if isErr, _ := result["isError"].(bool); isErr {
			return "tool_error"
		}
		return "ok"
	case errors.Is(err, ErrUpstreamTimeout):
		return "timeout"
	case errors.Is(err, ErrUpstreamRefused), errors.Is(err, ErrToolUnavailable), errors.Is(err, ErrNotActive), errors.Is(err, ErrInvalidState):
		return "refused"
	}
	return "upstream_error"
}
