// Package spectest checks HTTP responses against tether's openapi.yaml, for
// the tests of the server package (in process) and of the whole binary.
// Every response a test receives can be held to the contract:
//
//	if err := spectest.CheckResponse(method, path, reqBody, resp.StatusCode, resp.Header, body); err != nil {
//		t.Error(err)
//	}
//
// Send does that for a request it sends, which is how both test suites
// talk to tether:
//
//	resp, body := spectest.Send(t, http.DefaultClient, base, spectest.Request{Method: http.MethodGet, Path: "/healthz"})
package spectest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/tether-dev/tether/gen"
)

// router finds operations in the embedded spec, relabelled 3.0.3 as the
// server's request validator does (kin-openapi's 3.0 validator understands
// the spec's 3.1 idioms).
var router = sync.OnceValues(func() (routers.Router, error) {
	// The OAuth callback answers with a page; its body is a string.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	spec, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("load embedded spec: %w", err)
	}
	spec.OpenAPI = "3.0.3"
	spec.Servers = nil
	return gorillamux.NewRouter(spec)
})

// CheckResponse reports how a response to method path (whose request body
// was reqBody) breaks openapi.yaml: a status the operation does not
// declare, or a body or header that does not match its schema. Requests to
// routes the spec does not have are not checked (they test the 404 itself).
func CheckResponse(method, path string, reqBody []byte, status int, header http.Header, body []byte) error {
	r, err := router()
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, "http://tether"+path, bytes.NewReader(reqBody))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	route, params, err := r.FindRoute(req)
	if err != nil {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s → %d does not match openapi.yaml: %w\nbody: %s", method, path, status, err, body)
	}
	return nil
}
