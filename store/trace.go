package store

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// DefaultSlowTx is the write transaction time from which a transaction
// gets a span. Most take a millisecond or two; a span for each would bury
// the trace, while one that waited for the writer or a slow disk explains
// a slow request.
const DefaultSlowTx = 100 * time.Millisecond

// slowTx records slow write transactions as spans, after the fact: the
// span is started with the transaction's start time once its duration is
// known, so fast transactions cost no span at all.
type slowTx struct {
	tracer    trace.Tracer // nil: off
	threshold time.Duration
	system    string // db.system.name
}

func newSlowTx(tp trace.TracerProvider, threshold time.Duration, system string) slowTx {
	if tp == nil {
		return slowTx{}
	}
	if threshold <= 0 {
		threshold = DefaultSlowTx
	}
	return slowTx{tracer: tp.Tracer("github.com/tether-dev/tether/store"), threshold: threshold, system: system}
}

func (s slowTx) on() bool { return s.tracer != nil }

// record adds a span for a transaction that began at start and took d,
// under ctx's span, when d reaches the threshold.
func (s slowTx) record(ctx context.Context, start time.Time, d time.Duration) {
	if s.tracer == nil || d < s.threshold {
		return
	}
	_, span := s.tracer.Start(ctx, s.system+" write transaction", trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("db.system.name", s.system)))
	span.End(trace.WithTimestamp(start.Add(d)))
}
