// Package tether holds the API contract, openapi.yaml, embedded so the
// server can serve it byte for byte at GET /openapi.yaml. The code lives in
// the subpackages; see README.md.
package tether

import _ "embed"

// OpenAPIYAML is openapi.yaml as written.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte
