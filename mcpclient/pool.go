package mcpclient

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/internal/lifetime"
	"github.com/tether-dev/tether/registry"
)

// Defaults for [PoolOptions].
const (
	DefaultMaxSessions          = 256
	DefaultIdleTimeout          = 5 * time.Minute
	DefaultToolsChangedDebounce = 500 * time.Millisecond
)

// ErrPoolClosed is returned by calls made after [Pool.Close].
var ErrPoolClosed = errors.New("mcpclient: session pool closed")

// PoolOptions configures a [Pool].
type PoolOptions struct {
	// Client opens the sessions; required.
	Client *Client
	// MaxSessions bounds the sessions kept open; the least recently used
	// one is closed to make room. 0 means DefaultMaxSessions.
	MaxSessions int
	// IdleTimeout closes a session unused for this long. 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ToolsChangedDebounce is how long the pool collects an upstream's
	// notifications/tools/list_changed before it looks at the tool list.
	// 0 means DefaultToolsChangedDebounce.
	ToolsChangedDebounce time.Duration
	// Logger receives debug and warning records; nil discards.
	Logger *slog.Logger
}

// PoolStats is a snapshot of a [Pool]'s counters.
type PoolStats struct {
	// Handshakes counts sessions the pool started to open (initialize).
	Handshakes int64
	// Retries counts calls retried on a fresh session after their warm
	// session broke.
	Retries int64
	// Open is the number of sessions open or opening now.
	Open int
}

// Pool keeps one warm MCP session per connection, so that agent calls skip
// the handshake. It implements [registry.Prober]: Probe is always cold (a
// probe must see the server as a new client would), CallTool is warm.
//
// Sessions are keyed by connection id and by the connection's
// [registry.ReachKey] (everything that decides how tether reaches the
// server: transport, endpoint, command, arguments, headers, secrets,
// timeout), so a session opened with old credentials is never reused for an
// edited connection, even before [Pool.HandleChange] hears about the edit.
//
// A Pool is safe for concurrent use. Close it on shutdown.
type Pool struct {
	client   *Client
	max      int
	idle     time.Duration
	debounce time.Duration
	onTools  atomic.Pointer[ToolsChangedFunc]
	log      *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry // by connection id
	lru     list.List         // of *entry, most recently used first

	handshakes atomic.Int64
	retries    atomic.Int64

	// life runs the pool's goroutines: handshakes and tool-list checks
	// run on its context, so a caller giving up does not cancel work
	// others share. Close stops it under mu.
	life *lifetime.Group
}

var _ registry.Prober = (*Pool)(nil)

// entry is one connection's session, open or opening. Fields below ready
// are guarded by Pool.mu.
type entry struct {
	connID, tenantID string
	reach            string               // registry.ReachKey of conn
	conn             *registry.Connection // as the session was opened
	elem             *list.Element

	ready chan struct{} // closed when the handshake has ended
	sess  *Session
	err   error
	// ended is closed once the session's connection has ended (watch).
	ended chan struct{}

	refs     int // calls using the session now
	lastUsed time.Time
	retired  bool // out of the pool; closed once refs reach 0
	closing  bool // close scheduled
	timeouts int  // consecutive calls that timed out

	checkPending bool   // a tool-list check is scheduled
	toolsFP      string // hash of the tool list last seen on this session
}

// NewPool returns a Pool; it starts a goroutine that closes idle sessions.
func NewPool(opts PoolOptions) *Pool {
	if opts.Client == nil {
		panic("mcpclient: PoolOptions.Client is required")
	}
	p := &Pool{
		client:   opts.Client,
		max:      opts.MaxSessions,
		idle:     opts.IdleTimeout,
		debounce: opts.ToolsChangedDebounce,
		log:      opts.Logger,
		entries:  map[string]*entry{},
	}
	if p.max <= 0 {
		p.max = DefaultMaxSessions
	}
	if p.idle <= 0 {
		p.idle = DefaultIdleTimeout
	}
	if p.debounce <= 0 {
		p.debounce = DefaultToolsChangedDebounce
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.life = lifetime.New()
	p.life.Go(p.janitor)
	return p
}

// Probe implements [registry.Prober] with a cold probe: connect, list,
// close. A probe answers "does this server work for a new client?", which a
// warm session cannot.
func (p *Pool) Probe(ctx context.Context, c *registry.Connection) (*registry.ProbeResult, error) {
	return p.client.Probe(ctx, c)
}

// CallTool implements [registry.Prober] over the connection's warm
// session, opening it on first use. If the session turns out to be broken
// (the server forgot it, the connection dropped), it is replaced and the
// call retried once. Errors wrap the registry.ErrUpstream* sentinels; a
// tool that fails is a result with isError, not an error.
func (p *Pool) CallTool(ctx context.Context, c *registry.Connection, tool string, args map[string]any) (res map[string]any, err error) {
	ctx, span := p.client.startSpan(ctx, "tools/call "+tool, "tools/call", c, attrToolName.String(tool))
	defer func() { endSpan(span, res, err) }()
	res, err = p.call(ctx, c, tool, args)
	if err != nil {
		return nil, upstream(err)
	}
	return res, nil
}

func (p *Pool) call(ctx context.Context, c *registry.Connection, tool string, args map[string]any) (map[string]any, error) {
	budget := callBudget(ctx, c)
	for attempt := 0; ; attempt++ {
		e, fresh, err := p.acquire(ctx, c)
		if err != nil {
			return nil, describeTimeout(err, budget)
		}
		noteSession(ctx, e.sess)
		var res map[string]any
		if up := registry.UpstreamCallOf(ctx); up != nil && registry.DeclaresTasks(up.ClientCapabilities) && e.sess.rawCapable() {
			// The agent takes tasks and the server makes them: the SDK
			// would drop a task result (raw.go).
			res, err = e.sess.rawToolCall(ctx, tool, args, up)
		} else {
			res, err = e.sess.CallTool(ctx, tool, args)
		}
		v := judge(ctx, err)
		if v == verdictDrop && refusedAsStreamEnds(e, err) {
			v = verdictRetry
		}
		p.release(e, v)
		if err == nil {
			return res, nil
		}
		// A session that was just opened and fails at once is not stale:
		// the server is failing, and a second handshake would not help.
		if v == verdictRetry && !fresh && attempt == 0 {
			p.retries.Add(1)
			p.log.DebugContext(ctx, "warm session broke; retrying on a new one",
				"connection_id", c.ID, "error", err.Error())
			continue
		}
		return nil, describeTimeout(err, budget)
	}
}

// acquire returns the connection's session, opening it if needed, with a
// reference held; release it. fresh reports that this call waited for the
// handshake.
func (p *Pool) acquire(ctx context.Context, c *registry.Connection) (e *entry, fresh bool, err error) {
	reach := registry.ReachKey(c)
	p.mu.Lock()
	if p.life.Closed() {
		p.mu.Unlock()
		return nil, false, ErrPoolClosed
	}
	e = p.entries[c.ID]
	if e != nil && e.reach != reach {
		// The connection was edited: the old session speaks with old
		// credentials to an old address.
		p.retireLocked(e)
		e = nil
	}
	if e == nil {
		e = &entry{connID: c.ID, tenantID: c.TenantID, reach: reach, conn: c, ready: make(chan struct{}), ended: make(chan struct{})}
		p.entries[c.ID] = e
		e.elem = p.lru.PushFront(e)
		p.trimLocked()
		// The pool is open (Close stops it under mu), so this runs.
		p.life.Go(func(ctx context.Context) { p.handshake(ctx, e) })
	} else {
		p.lru.MoveToFront(e.elem)
	}
	select {
	case <-e.ready:
	default:
		fresh = true
	}
	e.refs++
	p.mu.Unlock()

	select {
	case <-e.ready:
	case <-ctx.Done():
		p.release(e, verdictKeep)
		return nil, fresh, waitError(ctx)
	}
	if e.err != nil {
		p.release(e, verdictKeep)
		return nil, fresh, e.err
	}
	return e, fresh, nil
}

// handshake opens e's session on the pool's lifetime (ctx), so that
// callers waiting for it can each give up on their own without failing the
// others.
func (p *Pool) handshake(ctx context.Context, e *entry) {
	p.handshakes.Add(1)
	sess, err := p.client.connect(ctx, e.conn, connectOptions{
		standaloneSSE:  true,
		onToolsChanged: func() { p.toolsChanged(e) },
	})
	p.mu.Lock()
	e.sess, e.err = sess, err
	e.lastUsed = time.Now()
	if err != nil {
		// Forget it: the next call tries again. There is nothing to close.
		e.closing = true
		p.retireLocked(e)
	}
	close(e.ready)
	if sess != nil && e.retired && e.refs == 0 && !e.closing {
		p.closeLocked(e) // evicted while it was opening
	}
	if sess != nil {
		// Refused once the pool is closing: Close closes the session.
		p.life.Go(func(context.Context) { p.watch(e) })
	}
	p.mu.Unlock()
}

// watch forgets e once its connection ends (the server hung up, the
// process exited), so no call has to find out by failing.
func (p *Pool) watch(e *entry) {
	_ = e.sess.wait()
	close(e.ended)
	p.mu.Lock()
	p.retireLocked(e)
	p.mu.Unlock()
}

// release drops a reference taken by acquire and applies the verdict of
// the call that held it.
func (p *Pool) release(e *entry, v verdict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e.refs--
	e.lastUsed = time.Now()
	switch v {
	case verdictKeep:
		e.timeouts = 0
	case verdictTimeout:
		e.timeouts++
		if e.timeouts >= maxTimeouts {
			p.retireLocked(e)
		}
	case verdictDrop, verdictRetry:
		p.retireLocked(e)
	}
	if e.retired && e.refs == 0 && !e.closing {
		p.closeLocked(e)
	}
}

// retireLocked takes e out of the pool; its session closes when the last
// call using it is done.
func (p *Pool) retireLocked(e *entry) {
	if e.retired {
		return
	}
	e.retired = true
	if p.entries[e.connID] == e {
		delete(p.entries, e.connID)
	}
	p.lru.Remove(e.elem)
	if e.refs == 0 && !e.closing {
		p.closeLocked(e)
	}
}

// closeLocked closes e's session in the background: a polite close may
// take a moment, and callers (registry change listeners among them) must
// not wait for it.
func (p *Pool) closeLocked(e *entry) {
	e.closing = true
	if !p.life.Go(func(context.Context) { closeEntry(e) }) {
		// The pool has closed, and nothing waits for this session any
		// more (a call held it through Close); it must still be closed.
		go closeEntry(e)
	}
}

// closeEntry closes e's session once its handshake has ended.
func closeEntry(e *entry) {
	<-e.ready
	if e.sess != nil {
		e.sess.Close()
	}
}

// trimLocked evicts least recently used sessions beyond the bound.
func (p *Pool) trimLocked() {
	for len(p.entries) > p.max {
		back := p.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*entry)
		p.log.Debug("session pool full; closing the least recently used session", "connection_id", e.connID)
		p.retireLocked(e)
	}
}

// janitor closes sessions that have been idle for too long.
func (p *Pool) janitor(ctx context.Context) {
	tick := time.NewTicker(max(p.idle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.mu.Lock()
			for el := p.lru.Back(); el != nil; {
				e := el.Value.(*entry)
				el = el.Prev()
				if e.refs == 0 && isReady(e) && now.Sub(e.lastUsed) >= p.idle {
					p.retireLocked(e)
				}
			}
			p.mu.Unlock()
		}
	}
}

func isReady(e *entry) bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// ToolsChangedFunc hears an upstream's new tool list; ctx ends when the
// pool closes.
type ToolsChangedFunc func(ctx context.Context, tenantID, connectionID string, tools []registry.ToolSpec)

// OnToolsChanged sets the function called (on its own goroutine) when a
// warm session's server announced a tool list change and the list it now
// answers differs from the last one seen on that session, with that list:
// the registry records it (a re-sync with no new handshake). Set it once
// the registry exists; until then announcements are not looked at.
func (p *Pool) OnToolsChanged(fn ToolsChangedFunc) {
	p.onTools.Store(&fn)
}

// Evict closes the connection's session (once calls using it are done);
// the next call opens a new one.
func (p *Pool) Evict(connectionID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.entries[connectionID]; e != nil {
		p.retireLocked(e)
	}
}

// HandleChange applies a registry change: an edited, disabled or deleted
// connection loses its session. Give it to registry.Service.OnChange; it
// does not block.
func (p *Pool) HandleChange(c registry.Change) {
	switch c.Kind {
	case registry.ConnectionUpdated, registry.ConnectionDeleted:
		p.Evict(c.ConnectionID)
	}
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Handshakes: p.handshakes.Load(), Retries: p.retries.Load(), Open: len(p.entries)}
}

// Close closes every session and stops the pool's goroutines. Calls in
// flight fail; later calls return ErrPoolClosed.
func (p *Pool) Close() {
	p.mu.Lock()
	// Stopped under mu: no session is opened or watched from here on.
	p.life.Stop()
	var open []*entry
	for _, e := range p.entries {
		e.retired = true
		if !e.closing {
			e.closing = true
			open = append(open, e)
		}
	}
	clear(p.entries)
	p.lru.Init()
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range open {
		wg.Go(func() { closeEntry(e) })
	}
	wg.Wait()
	p.life.Close()
}
