package registry

import (
	"errors"
	"fmt"
)

// The kinds of failure the registry reports. Every error the Service returns
// for a caller's mistake is an *Error whose Kind is one of these, so the
// server can map it to each dialect's status and code in one table.
var (
	// ErrNotFound: no such row for this tenant (another tenant's id included).
	ErrNotFound = errors.New("not found")
	// ErrNameExists: the connection name (slug) is already taken in the tenant.
	ErrNameExists = errors.New("name already exists")
	// ErrInvalidEndpoint: the endpoint URL is malformed or refused by policy.
	ErrInvalidEndpoint = errors.New("invalid endpoint")
	// ErrValidation: the request breaks one of the registry's rules.
	ErrValidation = errors.New("validation failed")
	// ErrUnsupported: a valid request for something this build does not do yet.
	ErrUnsupported = errors.New("unsupported")
	// ErrUnauthorized: a missing, unknown or revoked API key.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrLimitExceeded: the request would take a tenant past one of the
	// bounds on what tether holds for it (connections per tenant).
	ErrLimitExceeded = errors.New("limit exceeded")
)

// Error is a failure with a message meant for the API user. Kind is one of
// the sentinels above; errors.Is(err, ErrNotFound) works through it.
type Error struct {
	Kind    error
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap exposes Kind to errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Failures talking to a customer's MCP server. mcpclient's errors wrap
// these so the server can map them without knowing the client.
var (
	// ErrUpstreamTimeout: the server did not answer within the connection's timeout.
	ErrUpstreamTimeout = errors.New("MCP server timed out")
	// ErrUpstreamConnection: tether could not connect, or the connection broke.
	ErrUpstreamConnection = errors.New("could not connect to the MCP server")
	// ErrUpstreamInvalid: the server answered, but not with valid MCP.
	ErrUpstreamInvalid = errors.New("invalid MCP response")
	// ErrUpstreamRefused: tether's network policy refused the connection.
	ErrUpstreamRefused = errors.New("refused by network policy")
	// ErrUpstreamAuth: the server rejected tether's credentials.
	ErrUpstreamAuth = errors.New("MCP server rejected the credentials")
	// ErrToolUnavailable: no enabled tool with that slug on the connection.
	ErrToolUnavailable = errors.New("tool unavailable")
	// ErrNotActive: the connection is not in a state that allows the operation.
	ErrNotActive = errors.New("connection not active")
)

// ErrUpstreamError: the server answered a request with a JSON-RPC error.
var ErrUpstreamError = errors.New("the MCP server answered with an error")
