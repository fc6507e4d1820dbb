// Package logctx ties log lines to the request they belong to: the request
// id travels in the context, and a wrapped slog handler adds it, with the
// trace and span ids of the context's span, to every record logged with
// that context (the ...Context and LogAttrs methods of slog.Logger).
//
//	log := logctx.Wrap(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
//	ctx = logctx.WithRequestID(ctx, "req-1")
//	log.InfoContext(ctx, "hello") // ... "request_id":"req-1","trace_id":"…","span_id":"…"
//
// A record logged without a context (Info, Warn) carries neither: pass the
// request's context on the request path. Under a WithGroup the ids land in
// the group, as any attribute of the record would.
package logctx

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// maxRequestIDLen bounds a request id as logged and echoed: a client may
// supply its own (X-Request-Id), and a log line is no place for a novel.
const maxRequestIDLen = 128

// WithRequestID returns ctx carrying the request id id ("": none, even
// if ctx carried one).
func WithRequestID(ctx context.Context, id string) context.Context {
	if len(id) > maxRequestIDLen {
		id = id[:maxRequestIDLen]
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Wrap returns l with a handler that adds request_id, trace_id and span_id
// from the context of each record. Wrapping a wrapped logger returns it as
// it is, so every package may wrap what it is given.
func Wrap(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	if _, ok := l.Handler().(handler); ok {
		return l
	}
	return slog.New(handler{l.Handler()})
}

// handler adds the context's ids to each record.
type handler struct{ next slog.Handler }

func (h handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler { return handler{h.next.WithAttrs(attrs)} }

func (h handler) WithGroup(name string) slog.Handler { return handler{h.next.WithGroup(name)} }
