package spectest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Request is one request a test sends to tether.
type Request struct {
	Method, Path string
	Body         any    // marshalled as JSON unless Raw is set
	Raw          []byte // sent as is
	ContentType  string // default application/json when there is a body
	Header       http.Header
}

// Send sends r to the server at base with client and reads the whole
// response. A response that breaks openapi.yaml fails t (the test goes
// on); a request that cannot be sent stops it.
func Send(t testing.TB, client *http.Client, base string, r Request) (*http.Response, []byte) {
	t.Helper()
	payload := r.Raw
	if payload == nil && r.Body != nil {
		var err error
		if payload, err = json.Marshal(r.Body); err != nil {
			t.Fatalf("encode the body of %s %s: %v", r.Method, r.Path, err)
		}
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	if payload != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	for k, vs := range r.Header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the response: %v", r.Method, r.Path, err)
	}
	if err := CheckResponse(r.Method, r.Path, payload, resp.StatusCode, resp.Header, got); err != nil {
		t.Error(err)
	}
	return resp, got
}
