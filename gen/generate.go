// Package gen holds the code oapi-codegen generates from ../openapi.yaml:
// the models, the echo strict server and the embedded spec. Never edit the
// *.gen.go files by hand; change openapi.yaml and run `make generate`.
package gen

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../openapi.yaml
