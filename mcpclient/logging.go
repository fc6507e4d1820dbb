package mcpclient

import (
	"context"
	"log/slog"
)

// redactingHandler is the go-sdk's logger: the SDK logs errors that may
// quote a request URL, and an endpoint's query string can hold a token.
// Messages and string attributes pass through the connection's redactor.
type redactingHandler struct {
	next slog.Handler
	red  *redactor
}

// sdkLogger returns the logger handed to the go-sdk for one connection.
func sdkLogger(base *slog.Logger, red *redactor) *slog.Logger {
	return slog.New(&redactingHandler{next: base.Handler(), red: red}).With("component", "go-sdk")
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.red.redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.red.redact(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]any, 0, len(attrs))
		for _, g := range attrs {
			out = append(out, h.redactAttr(g))
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.red.redact(err.Error()))
		}
		// Format it here, where it can still be redacted.
		return slog.String(a.Key, h.red.redact(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.redactAttr(a)
	}
	return &redactingHandler{next: h.next.WithAttrs(red), red: h.red}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{next: h.next.WithGroup(name), red: h.red}
}
