package registry

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
)

// Call is the record of one tool invocation. Arguments and results are not
// kept: they may hold personal data.
type Call struct {
	ID           string
	TenantID     string
	ConnectionID string
	ToolPath     string
	Slug         string
	// Via is how the call came: mcp (tether's /mcp), rest (the invoke API)
	// or test (Feather's test-mcp-call).
	Via        string
	Outcome    string
	DurationMS int
	Error      string
	CreatedAt  time.Time
}

// CallStore keeps call records.
type CallStore interface {
	// InsertCalls stores records and sets each connection's last_used_at to
	// its newest record, keeping at most the newest keep records per
	// connection.
	InsertCalls(ctx context.Context, calls []Call, keep int) error
	ListCalls(ctx context.Context, tenantID, connectionID string, limit int) ([]Call, error)
}

type viaKey struct{}

// WithVia marks ctx as carrying a call made through via ("mcp", "rest").
func WithVia(ctx context.Context, via string) context.Context {
	return context.WithValue(ctx, viaKey{}, via)
}

func viaOf(ctx context.Context, def string) string {
	if v, ok := ctx.Value(viaKey{}).(string); ok && v != "" {
		return v
	}
	return def
}

// keepCalls bounds the records kept per connection.
const keepCalls = 1000

// recorder writes call records in the background, in batches: a tool call
// must not wait for a disk sync, and a record is telemetry, not data a
// client was told is safe.
type recorder struct {
	store CallStore
	in    chan Call
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	onErr func(error)

	mu     sync.RWMutex
	closed bool
}

func newRecorder(st CallStore, onErr func(error)) *recorder {
	r := &recorder{store: st, in: make(chan Call, 4096), stop: make(chan struct{}), done: make(chan struct{}), onErr: onErr}
	go r.loop()
	return r
}

// record queues a call record; when the queue is full the record is
// dropped rather than slowing the call down.
func (r *recorder) record(c Call) {
	// A call finishing during shutdown, after close, is not recorded (and
	// must not panic on a closed channel: the channel is never closed).
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return
	}
	select {
	case r.in <- c:
	default:
		r.onErr(errRecorderFull)
	}
}

func (r *recorder) loop() {
	defer close(r.done)
	var batch []Call
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := r.store.InsertCalls(context.Background(), batch, keepCalls); err != nil {
			r.onErr(err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-r.stop:
			for {
				select {
				case c := <-r.in:
					batch = append(batch, c)
				default:
					flush()
					return
				}
			}
		case c := <-r.in:
			batch = append(batch, c)
			if len(batch) >= 256 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}

// close flushes what is queued and stops.
func (r *recorder) close() {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.stop)
	})
	<-r.done
}

var errRecorderFull = errors.New("call record queue full: records dropped")

// Calls lists a connection's most recent call records, newest first.
func (s *Service) Calls(ctx context.Context, tenantID, connID string, limit int) ([]Call, error) {
	if _, err := s.store.GetConnection(ctx, tenantID, connID); err != nil {
		return nil, err
	}
	if s.calls == nil {
		return nil, nil
	}
	return s.calls.store.ListCalls(ctx, tenantID, connID, limit)
}

// callTool is the one path every tool call takes: it bounds the call by
// the connection's timeout, records it, and counts it.
func (s *Service) callTool(ctx context.Context, c *Connection, t *Tool, args map[string]any, via string) (map[string]any, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutMS)*time.Millisecond)
	defer cancel()
	start := time.Now()
	var result map[string]any
	dial, err := s.withAccessToken(cctx, c)
	if err == nil {
		result, err = s.prober.CallTool(cctx, dial, t.Name, t.ApplyInputs(args))
	}
	outcome := Outcome(result, err)
	s.observe.ObserveToolCall(via, outcome)
	s.recordCall(c, t.Name, t.Slug, via, outcome, time.Since(start), err)
	return result, err
}

// recordCall queues a record of a call (or of one refused before it
// reached the upstream, with outcome "refused" or "unavailable").
func (s *Service) recordCall(c *Connection, toolPath, slug, via, outcome string, d time.Duration, err error) {
	if s.calls == nil {
		return
	}
	rec := Call{
		ID: newUUID(), TenantID: c.TenantID, ConnectionID: c.ID, ToolPath: toolPath, Slug: slug,
		Via: via, Outcome: outcome, DurationMS: int(d.Milliseconds()), CreatedAt: s.Now(),
	}
	if err != nil {
		rec.Error = err.Error()
	}
	s.calls.record(rec)
}

// Narrow applies a response field map to a tool result: each mapping's
// dotted path is read from structuredContent (or, when there is none, from
// the JSON of the first text content) and exposed under its name. With no
// mappings, the result itself is returned.
func Narrow(result map[string]any, fieldMap map[string]any) map[string]any {
	mappings := FieldMappings(fieldMap)
	if len(mappings) == 0 {
		return result
	}
	source, _ := result["structuredContent"].(map[string]any)
	if source == nil {
		if content, _ := result["content"].([]any); len(content) > 0 {
			if first, _ := content[0].(map[string]any); first["type"] == "text" {
				text, _ := first["text"].(string)
				_ = json.Unmarshal([]byte(text), &source)
			}
		}
	}
	out := map[string]any{}
	for _, m := range mappings {
		var cur any = source
		for _, part := range strings.Split(m.Path, ".") {
			obj, _ := cur.(map[string]any)
			cur = obj[part]
		}
		if cur != nil {
			out[m.As] = cur
		}
	}
	return out
}
