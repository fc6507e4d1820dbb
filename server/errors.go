package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// HTTP-level failures that are not the registry's, so that they go through
// the same table as domain errors.
var (
	errRouteNotFound    = errors.New("route not found")
	errMethodNotAllowed = errors.New("method not allowed")
	errTooLarge         = errors.New("request body too large")
	errMediaType        = errors.New("unsupported media type")
	errMalformed        = errors.New("malformed request")
	errRateLimited      = errors.New("rate limited")
	errOriginForbidden  = errors.New("origin not allowed")
)

// errorClass is one row of the table that maps a kind of failure to each
// dialect's status and code.
type errorClass struct {
	kind          error
	ferniStatus   int
	ferniCode     string
	featherStatus int
	featherError  string
}

// errorTable is the one place where failures become statuses and codes.
// Feather schema violations (422 detail lists) are rendered separately.
var errorTable = []errorClass{
	{registry.ErrNotFound, http.StatusNotFound, "NOT_FOUND", http.StatusNotFound, "not_found"},
	{registry.ErrNameExists, http.StatusConflict, "MCP_NAME_EXISTS", http.StatusConflict, "conflict"},
	{registry.ErrInvalidEndpoint, http.StatusBadRequest, "MCP_INVALID_ENDPOINT", http.StatusBadRequest, "invalid_url"},
	{registry.ErrValidation, http.StatusBadRequest, "VALIDATION_ERROR", http.StatusBadRequest, "bad_request"},
	{registry.ErrUnsupported, http.StatusBadRequest, "VALIDATION_ERROR", http.StatusBadRequest, "bad_request"},
	{registry.ErrUnauthorized, http.StatusUnauthorized, "UNAUTHORIZED", http.StatusUnauthorized, "unauthorized"},
	{registry.ErrForbidden, http.StatusForbidden, "FORBIDDEN", http.StatusForbidden, "forbidden"},
	{registry.ErrLimitExceeded, http.StatusConflict, "LIMIT_EXCEEDED", http.StatusConflict, "limit_exceeded"},
	{registry.ErrNotActive, http.StatusBadRequest, "MCP_SERVER_DISABLED", http.StatusUnprocessableEntity, "not_active"},
	{registry.ErrToolUnavailable, http.StatusBadRequest, "VALIDATION_ERROR", http.StatusBadRequest, "tool_unavailable"},
	{registry.ErrInvalidArguments, http.StatusBadRequest, "VALIDATION_ERROR", http.StatusBadRequest, "invalid_arguments"},
	{registry.ErrInvalidState, http.StatusBadRequest, "VALIDATION_ERROR", http.StatusBadRequest, "invalid_request_state"},
	{registry.ErrStaleDefinition, http.StatusConflict, "STALE_DEFINITION", http.StatusConflict, "stale_definition"},
	{registry.ErrUpstreamTimeout, http.StatusGatewayTimeout, "MCP_TIMEOUT", http.StatusGatewayTimeout, "upstream_timeout"},
	{registry.ErrUpstreamConnection, http.StatusBadGateway, "MCP_CONNECTION_FAILED", http.StatusBadGateway, "upstream_error"},
	{registry.ErrUpstreamInvalid, http.StatusBadGateway, "MCP_INVALID_RESPONSE", http.StatusBadGateway, "upstream_error"},
	{registry.ErrUpstreamRefused, http.StatusBadGateway, "MCP_INVALID_ENDPOINT", http.StatusBadGateway, "upstream_error"},
	{registry.ErrUpstreamAuth, http.StatusBadGateway, "MCP_AUTH_FAILED", http.StatusBadGateway, "upstream_error"},
	{registry.ErrUpstreamError, http.StatusBadGateway, "MCP_SERVER_ERROR", http.StatusBadGateway, "upstream_error"},
	{errRouteNotFound, http.StatusNotFound, "NOT_FOUND", http.StatusNotFound, "not_found"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", http.StatusMethodNotAllowed, "method_not_allowed"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", http.StatusRequestEntityTooLarge, "payload_too_large"},
	{errMediaType, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", http.StatusUnsupportedMediaType, "unsupported_media_type"},
	{errMalformed, http.StatusBadRequest, "VALIDATION_ERROR", http.StatusBadRequest, "bad_request"},
	{errRateLimited, http.StatusTooManyRequests, "RATE_LIMITED", http.StatusTooManyRequests, "rate_limited"},
	{errOriginForbidden, http.StatusForbidden, "FORBIDDEN", http.StatusForbidden, "forbidden"},
}

var internalClass = errorClass{nil, http.StatusInternalServerError, "INTERNAL_ERROR", http.StatusInternalServerError, "internal_error"}

// classify finds err's row; ok is false for unexpected (internal) errors.
func classify(err error) (errorClass, bool) {
	for _, c := range errorTable {
		if errors.Is(err, c.kind) {
			return c, true
		}
	}
	return internalClass, false
}

// userMessage is the message shown for err: the text of an httpFailure or
// a registry error, an upstream failure's own description (mcpclient words
// them for users and keeps secrets out), or a generic one for internal
// errors, whose details go to the log only.
func userMessage(err error) string {
	var hf *httpFailure
	if errors.As(err, &hf) {
		return hf.msg
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return re.Message
	}
	if _, known := classify(err); known {
		return err.Error()
	}
	return "internal error"
}

// httpFailure is an HTTP-level failure with its message.
type httpFailure struct {
	kind error
	msg  string
}

func (f *httpFailure) Error() string { return f.msg }
func (f *httpFailure) Unwrap() error { return f.kind }

func failure(kind error, format string, args ...any) error {
	return &httpFailure{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// dialect says which API a request belongs to, by path.
type dialect int

const (
	feather dialect = iota // also the shape for paths of neither dialect
	ferni
)

const (
	ferniPrefix   = "/api/v2/developers/"
	featherPrefix = "/v1/integrations"
)

func dialectOf(path string) dialect {
	if strings.HasPrefix(path, ferniPrefix) || path == strings.TrimSuffix(ferniPrefix, "/") {
		return ferni
	}
	return feather
}

func ferniBody(c errorClass, msg string) gen.FerniErrorResponse {
	return gen.FerniErrorResponse{Success: false, Error: gen.FerniErrorBody{Code: c.ferniCode, Message: msg}}
}

func featherBody(c errorClass, msg string) gen.ErrorResponse {
	return gen.ErrorResponse{Error: c.featherError, Message: msg}
}

// ferniDefault is the shape of every generated Ferni "default" response.
type ferniDefault = struct {
	Body       gen.FerniErrorResponse
	StatusCode int
}

// featherDefault is the shape of every generated Feather "default" response.
type featherDefault = struct {
	Body       gen.ErrorResponse
	StatusCode int
}

// ferniFail turns a domain error into an operation's typed default
// response; unexpected errors are returned as errors, for the error handler
// to log and answer with a 500.
func ferniFail[T ~ferniDefault](err error) (T, error) {
	c, ok := classify(err)
	if !ok {
		var zero T
		return zero, err
	}
	return T{Body: ferniBody(c, userMessage(err)), StatusCode: c.ferniStatus}, nil
}

// featherFail is ferniFail for the Feather dialect.
func featherFail[T ~featherDefault](err error) (T, error) {
	c, ok := classify(err)
	if _, isValidation := validationIssues(err); !ok || isValidation {
		var zero T
		return zero, err
	}
	return T{Body: featherBody(c, userMessage(err)), StatusCode: c.featherStatus}, nil
}

// handleError is echo's HTTPErrorHandler: every error that escapes a
// handler or middleware is answered here, in the dialect of the path.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	d := dialectOf(c.Request().URL.Path)
	err = bindFailure(err)
	if issues, ok := validationIssues(err); ok {
		s.writeValidation(c, d, issues)
		return
	}
	err = normalizeHTTPError(err)
	class, known := classify(err)
	msg := userMessage(err)
	if !known {
		level := slog.LevelError
		if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
			level = slog.LevelDebug // the client went away; nothing is wrong here
		}
		s.log.Log(c.Request().Context(), level, "request failed",
			"error", err.Error(), "route", c.Path(), "method", c.Request().Method)
	}
	var werr error
	if d == ferni {
		werr = c.JSON(class.ferniStatus, ferniBody(class, msg))
	} else {
		werr = c.JSON(class.featherStatus, featherBody(class, msg))
	}
	if werr != nil {
		s.log.DebugContext(c.Request().Context(), "write error response", "error", werr.Error())
	}
}

// normalizeHTTPError turns echo's and the validator's HTTP errors into our
// failures with messages a user can act on.
func normalizeHTTPError(err error) error {
	if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
		return failure(errTooLarge, "request body is larger than the %s limit", humanBytes(maxBodyBytes))
	}
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	switch he.Code {
	case http.StatusNotFound:
		return failure(errRouteNotFound, "no such route")
	case http.StatusMethodNotAllowed:
		return failure(errMethodNotAllowed, "method not allowed on this route")
	case http.StatusRequestEntityTooLarge:
		return failure(errTooLarge, "request body is larger than the %s limit", humanBytes(maxBodyBytes))
	case http.StatusUnsupportedMediaType:
		return failure(errMediaType, "send the request body as application/json")
	case http.StatusUnauthorized:
		return failure(registry.ErrUnauthorized, "missing or invalid API key")
	case http.StatusBadRequest:
		return failure(errMalformed, "%v", he.Message)
	}
	return err
}

func humanBytes(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// bindFailure turns a body the validator accepted but Go cannot decode
// (a number like 1e400 in a free-form field) into a validation issue
// located at the field, instead of the decoder's own words.
func bindFailure(err error) error {
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) {
		return err
	}
	loc := []any{"body"}
	if ute.Field != "" {
		for _, part := range strings.Split(ute.Field, ".") {
			loc = append(loc, part)
		}
	}
	msg := "Input should be a valid " + ute.Type.String()
	if strings.HasPrefix(ute.Value, "number") {
		msg = "Input should be a number that fits in a 64-bit float"
	}
	return &validationError{issues: []issue{{loc: loc, msg: msg, typ: "value_error"}}}
}
