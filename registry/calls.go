package registry

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
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
	// its newest record, then cuts each connection in prune down to its
	// newest keep records (others are left as they are).
	InsertCalls(ctx context.Context, calls []Call, prune []string, keep int) error
	// ListCalls returns at most limit records, newest first.
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

// keepCalls bounds the records kept per connection: reads return at most
// the newest keepCalls. Pruning walks keepCalls index entries, so a
// connection is pruned only once it has gained pruneEvery records since
// its last prune (and when this process first writes for it, so a restart
// never leaves more): between prunes it stores fewer than
// keepCalls+pruneEvery records (per replica writing for it).
const (
	keepCalls  = 1000
	pruneEvery = 100
	// maxTracked bounds the per-connection counts; past it they are
	// forgotten, and every connection is pruned again when next written.
	maxTracked = 100_000
)

// Recorder tuning. A batch is written at the latest flushInterval after
// its first record, or at once when it holds batchSize: a write's
// transaction costs about as much as 50 records in it (measured on
// SQLite, whose commit writes the WAL), so under load batches should not
// be small, and a record appearing a quarter second after its call costs
// nobody anything. One write takes at
// most maxWrite records (one transaction each), so a burst does not hold
// the database's one writer for long. Past maxPending records waiting, a
// call waits for the writer rather than drop its record.
const (
	flushInterval = 250 * time.Millisecond
	batchSize     = 256
	maxWrite      = 1024
	maxPending    = 64 << 10
)

// recorder writes call records in the background, in batches: a tool call
// must not wait for a disk sync. A call only appends its record to the
// pending batch; none is dropped, since the client was told the call
// happened (a write the store refuses is reported and lost).
type recorder struct {
	store CallStore
	onErr func(error)
	// sincePrune counts, per connection, the records written since its
	// last prune; only the writer goroutine touches it.
	sincePrune map[string]int
	full       chan struct{} // a batch is ready (cap 1)
	stop       chan struct{}
	done       chan struct{}
	once       sync.Once

	mu      sync.Mutex
	room    sync.Cond // signalled when the writer takes the pending records
	pending []Call
	closed  bool
}

func newRecorder(st CallStore, onErr func(error)) *recorder {
	r := &recorder{store: st, onErr: onErr, sincePrune: map[string]int{}, full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	r.room.L = &r.mu
	go r.loop()
	return r
}

// record queues a call record. It waits only when maxPending records are
// already waiting for the writer.
func (r *recorder) record(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.pending) >= maxPending && !r.closed {
		r.room.Wait()
	}
	if r.closed {
		// A call finishing during shutdown, after close, is not recorded.
		return
	}
	r.pending = append(r.pending, c)
	if len(r.pending) == batchSize {
		select {
		case r.full <- struct{}{}:
		default:
		}
	}
}

// take returns the pending records and makes room for more.
func (r *recorder) take(spare []Call) []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	batch := r.pending
	r.pending = spare[:0]
	r.room.Broadcast()
	return batch
}

func (r *recorder) loop() {
	defer close(r.done)
	tick := time.NewTicker(flushInterval)
	defer tick.Stop()
	var spare []Call
	flush := func() {
		batch := r.take(spare)
		for rest := batch; len(rest) > 0; {
			n := min(len(rest), maxWrite)
			r.write(rest[:n])
			rest = rest[n:]
		}
		// Reused next time, unless a burst made it large.
		clear(batch)
		if cap(batch) <= maxWrite {
			spare = batch[:0]
		} else {
			spare = nil
		}
	}
	for {
		select {
		case <-r.stop:
			flush()
			return
		case <-r.full:
		case <-tick.C:
		}
		flush()
	}
}

// write stores one batch, pruning the connections that have gained
// pruneEvery records since their last prune or that this process has not
// pruned yet.
func (r *recorder) write(batch []Call) {
	added := map[string]int{}
	for _, c := range batch {
		added[c.ConnectionID]++
	}
	if len(r.sincePrune)+len(added) > maxTracked {
		clear(r.sincePrune)
	}
	var prune []string
	for id, n := range added {
		if since, seen := r.sincePrune[id]; !seen || since+n >= pruneEvery {
			prune = append(prune, id)
		}
	}
	if err := r.store.InsertCalls(context.Background(), batch, prune, keepCalls); err != nil {
		// Nothing was written (one transaction): the counts stand.
		r.onErr(err)
		return
	}
	for id, n := range added {
		r.sincePrune[id] += n
	}
	for _, id := range prune {
		r.sincePrune[id] = 0
	}
}

// close writes what is queued and stops; later records are not kept.
func (r *recorder) close() {
	r.once.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.room.Broadcast()
		r.mu.Unlock()
		close(r.stop)
	})
	<-r.done
}

// Calls lists a connection's most recent call records, newest first.
func (s *Service) Calls(ctx context.Context, tenantID, connID string, limit int) ([]Call, error) {
	if _, err := s.store.GetConnection(ctx, tenantID, connID); err != nil {
		return nil, err
	}
	if s.calls == nil {
		return nil, nil
	}
	// Up to keepCalls+pruneEvery may be stored; only keepCalls are kept.
	return s.calls.store.ListCalls(ctx, tenantID, connID, min(limit, keepCalls))
}

// callTool is the one path every tool call takes: it bounds the call by
// the connection's timeout, records it, and counts it.
func (s *Service) callTool(ctx context.Context, c *Connection, t *Tool, args map[string]any, via string) (map[string]any, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutMS)*time.Millisecond)
	defer cancel()
	start := time.Now()
	var result map[string]any
	input := t.ApplyInputs(args)
	if err := checkApprovedArgs(t, input); err != nil {
		s.observe.ObserveToolCall(via, "refused")
		s.recordCall(c, t.Name, t.Slug, via, "refused", 0, err)
		return nil, err
	}
	dial, err := s.withAccessToken(cctx, c)
	if err == nil {
		up := UpstreamCallOf(cctx)
		if up == nil {
			up = &UpstreamCall{}
			cctx = WithUpstreamCall(cctx, up)
		}
		up.InputSchema = t.InputSchema
		result, err = s.prober.CallTool(cctx, dial, t.Name, input)
		err = s.stepUp(ctx, c, err)
	}
	outcome := Outcome(result, err)
	s.observe.ObserveToolCall(via, outcome)
	s.recordCall(c, t.Name, t.Slug, via, outcome, time.Since(start), err)
	return result, err
}

// newCallID names a call record: a UUIDv7, whose leading timestamp makes
// the records' unique index grow at its end instead of at random places
// (about a quarter off each record's write on SQLite, measured); a call's
// record shows its time anyway.
func newCallID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return newUUID() // only if the system's randomness fails
	}
	return id.String()
}

// recordCall queues a record of a call (or of one refused before it
// reached the upstream, with outcome "refused" or "unavailable").
func (s *Service) recordCall(c *Connection, toolPath, slug, via, outcome string, d time.Duration, err error) {
	if s.calls == nil {
		return
	}
	rec := Call{
		ID: newCallID(), TenantID: c.TenantID, ConnectionID: c.ID, ToolPath: toolPath, Slug: slug,
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
