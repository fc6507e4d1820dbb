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
	// ErrForbidden: the API key is valid but its scope does not allow the
	// request (an agent key on a management route).
	ErrForbidden = errors.New("forbidden")
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

// The registry's refusals of an agent's or a test's call.
var (
	// ErrToolUnavailable: no enabled tool with that slug on the connection.
	ErrToolUnavailable = errors.New("tool unavailable")
	// ErrNotActive: the connection is not in a state that allows the operation.
	ErrNotActive = errors.New("connection not active")
	// ErrInvalidArguments: a call's arguments do not fit the approved
	// input schema of a tool whose definition changed since.
	ErrInvalidArguments = errors.New("invalid arguments")
	// ErrInvalidState: a sealed request state or task handle that tether
	// did not issue, that has expired, or that belongs to another tenant,
	// API key, connection or tool.
	ErrInvalidState = errors.New("invalid request state")
	// ErrStaleDefinition: an approval or rejection names a fingerprint
	// that is not the tool's current one (it changed since the caller
	// looked).
	ErrStaleDefinition = errors.New("stale definition")
)

// Failures talking to a customer's MCP server: the one taxonomy of them.
// mcpclient's errors carry one of these as their Kind, and their messages
// begin with its text ("timeout: no answer within 2000ms"); the server maps
// them to each dialect's codes, the gateway words them for agents.
var (
	// ErrUpstreamTimeout: the server did not answer within the
	// connection's timeout.
	ErrUpstreamTimeout = errors.New("timeout")
	// ErrUpstreamConnection: tether could not reach the server or lost it:
	// a refused or reset TCP connection, a TLS failure, an HTTP 5xx, a
	// stdio command that exited.
	ErrUpstreamConnection = errors.New("connection failed")
	// ErrUpstreamInvalid: the server answered, but not with valid MCP: a
	// body that is not JSON-RPC, an HTTP 404 on the MCP path, a message
	// over the size cap, more tools than a connection may keep.
	ErrUpstreamInvalid = errors.New("invalid MCP response")
	// ErrUpstreamRefused: tether's own policy refused the connection before
	// it was made ("refused by network policy: …", which also wraps
	// netguard.ErrRefused, or "refused by policy: …" for stdio).
	ErrUpstreamRefused = errors.New("refused")
	// ErrUpstreamAuth: the server rejected tether's credentials (HTTP 401
	// or 403), or the connection has no usable OAuth grant.
	ErrUpstreamAuth = errors.New("authentication rejected")
	// ErrUpstreamError: the server answered a request with a JSON-RPC
	// error (an unknown tool, invalid arguments, a failed handshake). A
	// tool that fails is not this: its result comes back with isError.
	ErrUpstreamError = errors.New("server error")
)

// upstreamKinds are the ErrUpstream* sentinels, most specific first.
var upstreamKinds = []error{
	ErrUpstreamTimeout, ErrUpstreamRefused, ErrUpstreamAuth,
	ErrUpstreamInvalid, ErrUpstreamError, ErrUpstreamConnection,
}

// UpstreamKind returns the ErrUpstream* sentinel err wraps, or nil when err
// is not a failure of a customer's server.
func UpstreamKind(err error) error {
	for _, k := range upstreamKinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
