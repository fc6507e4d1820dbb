package server

import (
	"bytes"
	"context"
	"errors"

	tether "github.com/tether-dev/tether"

	"github.com/tether-dev/tether/gen"
)

// GetHealthz answers 200 once the server is serving.
func (s *Server) GetHealthz(ctx context.Context, _ gen.GetHealthzRequestObject) (gen.GetHealthzResponseObject, error) {
	return gen.GetHealthz200JSONResponse{Status: "ok"}, nil
}

// GetReadyz answers 503 while the database or the keyring is not usable.
func (s *Server) GetReadyz(ctx context.Context, _ gen.GetReadyzRequestObject) (gen.GetReadyzResponseObject, error) {
	if s.ready != nil {
		if err := s.ready(ctx); err != nil {
			// Unauthenticated: the detail (row and key ids) goes to the log.
			s.log.WarnContext(ctx, "not ready", "error", err.Error())
			return gen.GetReadyz503JSONResponse{Status: "not ready: " + readinessClass(err)}, nil
		}
	}
	return gen.GetReadyz200JSONResponse{Status: "ok"}, nil
}

// GetOpenAPISpec serves the embedded openapi.yaml.
func (s *Server) GetOpenAPISpec(ctx context.Context, _ gen.GetOpenAPISpecRequestObject) (gen.GetOpenAPISpecResponseObject, error) {
	raw := tether.OpenAPIYAML
	return gen.GetOpenAPISpec200ApplicationyamlResponse{Body: bytes.NewReader(raw), ContentLength: int64(len(raw))}, nil
}

// GetMetrics serves the Prometheus metrics on the main listener, unless
// they have a listener of their own.
func (s *Server) GetMetrics(ctx context.Context, _ gen.GetMetricsRequestObject) (gen.GetMetricsResponseObject, error) {
	if s.metrics == nil || s.metricsElsewhere {
		return gen.GetMetrics404TextResponse("metrics are not served on this listener\n"), nil
	}
	text, err := s.metrics.Text()
	if err != nil {
		return nil, err
	}
	return gen.GetMetrics200TextResponse(text), nil
}

// ErrKeyringNotReady marks a readiness failure of the keyring (a Ready
// func wraps it); any other failure is reported as the database's.
var ErrKeyringNotReady = errors.New("keyring not ready")

// readinessClass names what is not ready without details: the database or
// the keyring.
func readinessClass(err error) string {
	if errors.Is(err, ErrKeyringNotReady) {
		return "the keyring cannot decrypt stored values (see the log)"
	}
	return "the database is unreachable (see the log)"
}
