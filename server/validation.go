package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/oapi-codegen/echo-middleware"
	"github.com/tether-dev/tether/gen"
	"github.com/tether-dev/tether/registry"
)

// issue is one schema violation, in FastAPI's terms (Feather's 422 items).
type issue struct {
	loc   []any
	msg   string
	typ   string
	input any
}

// validationError carries the issues the request validator found.
type validationError struct{ issues []issue }

func (e *validationError) Error() string {
	parts := make([]string, len(e.issues))
	for i, is := range e.issues {
		parts[i] = is.String()
	}
	return strings.Join(parts, "; ")
}

// String renders an issue for the Ferni dialect: "timeout: Input should be
// greater than or equal to 1000". The "body" prefix is implied there.
func (is issue) String() string {
	loc := is.loc
	if len(loc) > 1 && loc[0] == "body" {
		loc = loc[1:]
	}
	parts := make([]string, len(loc))
	for i, l := range loc {
		parts[i] = fmt.Sprint(l)
	}
	return strings.Join(parts, ".") + ": " + is.msg
}

var defineFormatsOnce sync.Once

// newValidator returns echo middleware that validates requests against the
// embedded spec. kin-openapi's OpenAPI 3.1 path compiles JSON Schema on
// every request (~15× the cost of its 3.0 validator), so it validates
// against a copy relabelled 3.0.3: our 3.1 idioms (type: [T, "null"] and
// anyOf [T, null]) are understood by the 3.0 validator too.
func newValidator() (echo.MiddlewareFunc, error) {
	defineFormatsOnce.Do(func() {
		// RFC 9562 accepts every UUID version, so v7 ids would pass too.
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
	})
	spec, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	spec.OpenAPI = "3.0.3"
	spec.Servers = nil
	return echomiddleware.OapiRequestValidatorWithOptions(spec, &echomiddleware.Options{
		Options: openapi3filter.Options{
			MultiError:          true,
			AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc, // our auth middleware runs first
			SkipSettingDefaults: true,                                  // defaults are applied in the handlers
			// The handlers bind the value the validator decoded instead of
			// decoding the body a second time.
			KeepValidatedValue: true,
		},
		SilenceServersWarning: true,
		MultiErrorHandler: func(me openapi3.MultiError) *echo.HTTPError {
			return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Internal: &validationError{issues: issuesOf(me)}}
		},
		ErrorHandler: func(c echo.Context, he *echo.HTTPError) error {
			var re *openapi3filter.RequestError
			if errors.As(he.Internal, &re) {
				return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Internal: &validationError{issues: issuesOf(re)}}
			}
			return he
		},
		// /mcp speaks the MCP transport, validated by the gateway.
		Skipper: func(c echo.Context) bool { return isOpsPath(c.Request().URL.Path) || c.Request().URL.Path == mcpPath },
	}), nil
}

// validationIssues extracts the validator's issues from an error.
func validationIssues(err error) ([]issue, bool) {
	var ve *validationError
	if errors.As(err, &ve) {
		return ve.issues, true
	}
	var ide *registry.InputDefaultError
	if errors.As(err, &ide) {
		var out []issue
		for _, name := range sortedKeys(ide.Fields) {
			out = append(out, issue{loc: []any{"body", "input_defaults", name}, msg: ide.Fields[name], typ: "value_error"})
		}
		return out, true
	}
	return nil, false
}

// writeValidation answers schema violations: Feather's 422 detail list, or
// Ferni's 400 VALIDATION_ERROR. A body that is not JSON or has the wrong
// media type gets 415 in Ferni and FastAPI's json_invalid in Feather.
func (s *Server) writeValidation(c echo.Context, d dialect, issues []issue) {
	if slices.ContainsFunc(issues, func(is issue) bool { return is.typ == "content_type" }) {
		s.handleError(failure(errMediaType, "send the request body as application/json"), c)
		return
	}
	if d == ferni {
		msgs := make([]string, 0, len(issues))
		for _, is := range issues {
			msgs = append(msgs, is.String())
		}
		_ = c.JSON(http.StatusBadRequest, ferniBody(errorClass{ferniCode: "VALIDATION_ERROR"}, strings.Join(msgs, "; ")))
		return
	}
	detail := make([]gen.ValidationError, 0, len(issues))
	for _, is := range issues {
		ve := gen.ValidationError{Msg: is.msg, Type: is.typ, Input: is.input}
		for _, l := range is.loc {
			var item gen.ValidationError_Loc_Item
			switch v := l.(type) {
			case int:
				_ = item.FromValidationErrorLoc1(v)
			default:
				_ = item.FromValidationErrorLoc0(fmt.Sprint(v))
			}
			ve.Loc = append(ve.Loc, item)
		}
		detail = append(detail, ve)
	}
	_ = c.JSON(http.StatusUnprocessableEntity, gen.HTTPValidationError{Detail: detail})
}

// secretFields are request fields whose values must never be echoed back,
// not even in a validation error's input.
var secretFields = map[string]bool{"token": true, "api_key": true, "oauth_client_secret": true, "oauth_private_key": true, "headers": true, "secrets": true}

// redactSecrets drops the input of issues located in a secret field.
func redactSecrets(issues []issue) []issue {
	for i := range issues {
		for _, l := range issues[i].loc {
			if s, ok := l.(string); ok && secretFields[s] {
				issues[i].input = nil
				break
			}
		}
	}
	return issues
}

// issuesOf flattens kin-openapi's errors into FastAPI-style issues.
func issuesOf(err error) []issue {
	return redactSecrets(rawIssuesOf(err))
}

func rawIssuesOf(err error) []issue {
	var out []issue
	var walk func(err error, base []any)
	walk = func(err error, base []any) {
		// Type switches, not errors.As: a RequestError wraps the schema
		// errors, and its Parameter or RequestBody gives them their base.
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner, base)
			}
		case *openapi3filter.RequestError:
			switch {
			case e.Parameter != nil:
				base = []any{e.Parameter.In, e.Parameter.Name}
			case e.RequestBody != nil:
				base = []any{"body"}
			}
			var pe *openapi3filter.ParseError
			switch {
			case e.Err == nil:
				out = append(out, requestIssue(e, base))
			case errors.Is(e.Err, openapi3filter.ErrInvalidRequired):
				out = append(out, issue{loc: base, msg: "Field required", typ: "missing"})
			case errors.As(e.Err, &pe):
				out = append(out, parseIssue(e, pe, base))
			default:
				walk(e.Err, base)
			}
		case *openapi3.SchemaError:
			out = append(out, schemaIssues(e, base)...)
		default:
			out = append(out, issue{loc: base, msg: err.Error(), typ: "value_error"})
		}
	}
	walk(err, nil)
	return out
}

func requestIssue(re *openapi3filter.RequestError, base []any) issue {
	if strings.Contains(re.Reason, "Content-Type") {
		return issue{loc: base, msg: re.Reason, typ: "content_type"}
	}
	return issue{loc: base, msg: re.Reason, typ: "value_error"}
}

func parseIssue(re *openapi3filter.RequestError, pe *openapi3filter.ParseError, base []any) issue {
	if re.RequestBody != nil {
		return issue{loc: base, msg: "JSON decode error", typ: "json_invalid"}
	}
	typ, msg := "value_error", pe.Reason
	if re.Parameter != nil && re.Parameter.Schema != nil && re.Parameter.Schema.Value != nil {
		switch {
		case re.Parameter.Schema.Value.Type.Is("integer"):
			typ, msg = "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
		case re.Parameter.Schema.Value.Type.Is("boolean"):
			typ, msg = "bool_parsing", "Input should be a valid boolean, unable to interpret input"
		}
	}
	return issue{loc: base, msg: msg, typ: typ, input: pe.Value}
}

// schemaIssues maps one kin-openapi SchemaError to FastAPI's vocabulary.
func schemaIssues(se *openapi3.SchemaError, base []any) []issue {
	loc := slices.Clone(base)
	for _, p := range se.JSONPointer() {
		loc = append(loc, p)
	}
	sch := se.Schema
	if sch == nil {
		sch = &openapi3.Schema{}
	}
	if se.SchemaField == "anyOf" || se.SchemaField == "oneOf" {
		// A value that is not null failed the one non-null branch of a
		// nullable field: report what is wrong inside it, where it is,
		// as pydantic does, not just that the whole field has the wrong type.
		if out := branchIssues(sch, se.Value, loc); len(out) > 0 {
			return out
		}
	}
	switch se.SchemaField {
	case "required":
		return []issue{{loc: loc, msg: "Field required", typ: "missing"}}
	case "properties", "additionalProperties":
		obj, _ := se.Value.(map[string]any)
		var out []issue
		for _, k := range sortedKeys(obj) {
			if _, known := sch.Properties[k]; !known {
				out = append(out, issue{loc: append(slices.Clone(loc), k), msg: "Extra inputs are not permitted", typ: "extra_forbidden", input: obj[k]})
			}
		}
		if len(out) > 0 {
			return out
		}
	case "type", "nullable", "anyOf", "oneOf":
		typ, msg := typeIssue(sch)
		return []issue{{loc: loc, msg: msg, typ: typ, input: se.Value}}
	case "enum":
		opts := make([]string, len(sch.Enum))
		for i, v := range sch.Enum {
			opts[i] = fmt.Sprintf("'%v'", v)
		}
		return []issue{{loc: loc, msg: "Input should be " + joinOr(opts), typ: "enum", input: se.Value}}
	case "minLength":
		return []issue{{loc: loc, msg: fmt.Sprintf("String should have at least %d character%s", sch.MinLength, plural(sch.MinLength)), typ: "string_too_short", input: se.Value}}
	case "maxLength":
		return []issue{{loc: loc, msg: fmt.Sprintf("String should have at most %d character%s", derefU(sch.MaxLength), plural(derefU(sch.MaxLength))), typ: "string_too_long", input: se.Value}}
	case "minimum":
		return []issue{{loc: loc, msg: fmt.Sprintf("Input should be greater than or equal to %v", derefF(sch.Min)), typ: "greater_than_equal", input: se.Value}}
	case "maximum":
		return []issue{{loc: loc, msg: fmt.Sprintf("Input should be less than or equal to %v", derefF(sch.Max)), typ: "less_than_equal", input: se.Value}}
	case "maxItems", "maxProperties":
		return []issue{{loc: loc, msg: "Input has too many items", typ: "too_long"}}
	case "format":
		if sch.Format == "uuid" {
			return []issue{{loc: loc, msg: "Input should be a valid UUID", typ: "uuid_parsing", input: se.Value}}
		}
		if sch.Format == "date-time" {
			return []issue{{loc: loc, msg: "Input should be a valid datetime", typ: "datetime_parsing", input: se.Value}}
		}
	}
	return []issue{{loc: loc, msg: se.Reason, typ: "value_error", input: se.Value}}
}

// branchIssues validates a non-null value against the only non-null
// branch of a nullable anyOf/oneOf, and returns its issues under loc; nil
// when the schema has no such single branch or the value is null.
func branchIssues(sch *openapi3.Schema, value any, loc []any) []issue {
	if value == nil {
		return nil
	}
	var branch *openapi3.Schema
	for _, alt := range append(slices.Clone(sch.AnyOf), sch.OneOf...) {
		if alt.Value == nil || (alt.Value.Type != nil && alt.Value.Type.Is("null")) {
			continue
		}
		if branch != nil {
			return nil // more than one way to be right: no single place to point at
		}
		branch = alt.Value
	}
	if branch == nil {
		return nil
	}
	var out []issue
	var walk func(err error)
	walk = func(err error) {
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner)
			}
		case *openapi3.SchemaError:
			out = append(out, schemaIssues(e, loc)...)
		}
	}
	if err := branch.VisitJSON(value, openapi3.MultiErrors()); err != nil {
		walk(err)
	}
	return out
}

// typeIssue names the expected type of a schema (for nullable anyOf, the
// non-null branch) the way pydantic does.
func typeIssue(sch *openapi3.Schema) (string, string) {
	t := sch.Type
	for _, alt := range append(sch.AnyOf, sch.OneOf...) {
		if alt.Value != nil && alt.Value.Type != nil && !alt.Value.Type.Is("null") {
			t = alt.Value.Type
			break
		}
	}
	switch {
	case t.Includes("string"):
		return "string_type", "Input should be a valid string"
	case t.Includes("integer"):
		return "int_type", "Input should be a valid integer"
	case t.Includes("number"):
		return "float_type", "Input should be a valid number"
	case t.Includes("boolean"):
		return "bool_type", "Input should be a valid boolean"
	case t.Includes("array"):
		return "list_type", "Input should be a valid list"
	case t.Includes("object"):
		return "dict_type", "Input should be a valid dictionary"
	}
	return "value_error", "Input has the wrong type"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func joinOr(opts []string) string {
	if len(opts) <= 1 {
		return strings.Join(opts, "")
	}
	return strings.Join(opts[:len(opts)-1], ", ") + " or " + opts[len(opts)-1]
}

func plural[N int | uint64](n N) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func derefU(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

func derefF(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
