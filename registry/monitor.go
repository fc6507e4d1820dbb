package registry

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultMonitorConcurrency bounds how many probes the health monitor runs at once.
const DefaultMonitorConcurrency = 16

// MonitorOptions configures the health monitor.
type MonitorOptions struct {
	// Interval is how long after its last refresh a connection is
	// re-probed when its server gives no hint; 0 turns the periodic
	// rounds off (the start-up round of autoConnect servers still runs,
	// and hints are ignored).
	Interval time.Duration
	// MinInterval and MaxInterval bound how far a server's tool-list
	// cache hint (ttlMs) moves its connection's re-sync interval away
	// from Interval. 0 means Interval/10 and 12 × Interval: a floor that
	// scales with the interval the operator chose, so that no server can
	// make tether probe it more than ten times as often as the operator
	// asked, nor go unchecked for more than twelve intervals.
	MinInterval, MaxInterval time.Duration
	// Concurrency bounds simultaneous probes; 0 means DefaultMonitorConcurrency.
	Concurrency int
}

// ResyncInterval is how long after its last refresh the monitor re-syncs
// a connection whose server's tool list carries the hint ttl (0: none):
// ttl within [MinInterval, MaxInterval], or Interval without a hint.
func (o MonitorOptions) ResyncInterval(ttl time.Duration) time.Duration {
	return newSchedule(o).forTTL(ttl)
}

// schedule says when the health monitor re-syncs each connection.
type schedule struct {
	interval, min, max time.Duration
}

func newSchedule(o MonitorOptions) schedule {
	p := schedule{interval: max(o.Interval, 0), min: o.MinInterval, max: o.MaxInterval}
	if p.min <= 0 {
		p.min = p.interval / 10
	}
	if p.max <= 0 {
		p.max = 12 * p.interval
	}
	p.min, p.max = min(p.min, p.interval), max(p.max, p.interval)
	return p
}

// resync is c's re-sync interval: how long after its last refresh it
// falls due.
func (p schedule) resync(c *Connection) time.Duration { return p.forTTL(c.ToolsTTL) }

// forTTL is the re-sync interval for a tool-list hint: the hint within
// [min, max], or the interval when there is none.
func (p schedule) forTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return p.interval
	}
	return min(max(ttl, p.min), p.max)
}

// dueAt is when c falls due; a connection never refreshed is due now.
func (p schedule) dueAt(c *Connection, now time.Time) time.Time {
	if c.LastRefreshedAt == nil {
		return now
	}
	return c.LastRefreshedAt.Add(p.resync(c))
}

// due reports whether a round at now probes c: once nine tenths of its
// re-sync interval have passed. The tenth is the band the monitor's
// wake-ups are jittered by, so that one woken a little early still
// serves c, and connections falling due close together share a round.
func (p schedule) due(c *Connection, now time.Time) bool {
	return c.LastRefreshedAt == nil || !now.Before(c.LastRefreshedAt.Add(p.resync(c)*9/10))
}

// lease is how long a claim on c lasts: a little less than its re-sync
// interval, so that it has lapsed once c is due again, and a replica
// that dies mid-round holds nothing for longer.
func (p schedule) lease(c *Connection) time.Duration { return p.resync(c) * 8 / 10 }

// jitter spreads d by ±10%, so that many tether replicas do not wake in
// step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// StartMonitor runs the health monitor in the background until the
// service closes: it probes the autoConnect servers at start-up, then
// re-probes every enabled active (or failing) server once it falls due:
// an interval after its last refresh (a probe, a test, a re-sync after
// list_changed), shortened or lengthened, within the operator's bounds,
// by the cache hint (ttlMs) of its last tool list. The monitor sleeps
// until the next connection falls due (at least MinInterval, at most
// Interval), jittered by ±10% so that many tether replicas do not probe
// in step.
func (s *Service) StartMonitor(opts MonitorOptions) {
	s.life.Go(func(ctx context.Context) { s.runMonitor(ctx, opts) })
}

// ProbeClaimer is implemented by a store that several tether processes
// share (PostgreSQL): a monitor round probes a connection only once it
// has claimed it for lease, so that the fleet probes each connection
// about once per re-sync interval rather than once per replica. A claim
// expires by itself: a replica that dies mid-round holds nothing for
// longer.
type ProbeClaimer interface {
	ClaimProbe(ctx context.Context, connectionID string, lease time.Duration) (bool, error)
}

// claim reports whether this process may probe c now: always when the
// store is not shared or the lease is zero, else when it claimed c.
func (s *Service) claim(ctx context.Context, c *Connection, lease time.Duration) bool {
	claimer, shared := s.store.(ProbeClaimer)
	if !shared || lease <= 0 {
		return true
	}
	ok, err := claimer.ClaimProbe(ctx, c.ID, lease)
	if err != nil {
		s.log.WarnContext(ctx, "health monitor: claim", "connection_id", c.ID, "error", err.Error())
		return false
	}
	return ok
}

// nudgeMonitor wakes the health monitor for a round now: a connection's
// re-sync interval changed, and the monitor may be asleep until long
// after it falls due.
func (s *Service) nudgeMonitor() {
	select {
	case s.monitorNudge <- struct{}{}:
	default: // one is pending already
	}
}

// runMonitor runs until ctx (the service's background context) ends.
func (s *Service) runMonitor(ctx context.Context, opts MonitorOptions) {
	p := newSchedule(opts)
	s.monitorRound(ctx, opts.Concurrency, p, func(c *Connection) bool { return c.AutoConnect })
	if p.interval <= 0 {
		return
	}
	wait := jitter(p.interval)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		planned := time.Now().Add(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.monitorNudge:
		}
		select {
		case <-s.monitorNudge: // the round reads every change so far
		default:
		}
		start := time.Now()
		next := s.monitorRound(ctx, opts.Concurrency, p, nil)
		// Lag: how late the round started, or how far it overran the
		// interval, whichever is worse (a nudged round starts early).
		s.observe.SetMonitorLag(max(start.Sub(planned), time.Since(start)-p.interval, 0))
		// The next round starts when the next connection falls due, but
		// no sooner than the floor after this one started (no busy loop
		// over many connections falling due one after another) and no
		// later than the interval after it (new connections, and hints
		// learnt by other replicas, are seen within one).
		elapsed := time.Since(start)
		wait = p.interval - elapsed
		if !next.IsZero() {
			wait = min(wait, next.Sub(s.Now()))
		}
		wait = jitter(max(wait, p.min-elapsed, 0))
		timer.Reset(wait)
	}
}

// monitorRound probes the connections that are due (or, with keep, the
// ones keep accepts: the start-up round) and that this process claimed,
// and returns when the next one falls due (zero: no connection).
func (s *Service) monitorRound(ctx context.Context, concurrency int, p schedule, keep func(*Connection) bool) time.Time {
	now := s.Now()
	if keep == nil {
		keep = func(c *Connection) bool { return p.due(c, now) }
	}
	var (
		mu   sync.Mutex
		next time.Time
	)
	earliest := func(t time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	s.probeRound(ctx, concurrency, func(c *Connection) bool {
		switch {
		case !keep(c):
			earliest(p.dueAt(c, now))
			return false
		case !s.claim(ctx, c, p.lease(c)):
			// Another replica holds it: it will be refreshed about now.
			earliest(now.Add(p.resync(c)))
			return false
		}
		return true
	}, func(c *Connection, out *TestOutcome) {
		var ttl time.Duration
		if out.Result != nil {
			ttl = out.Result.ToolsTTL
		}
		earliest(out.TestedAt.Add(p.forTTL(ttl)))
	})
	return next
}

// ProbeAll probes every probe target that keep accepts (nil: all) with at
// most concurrency probes at a time, and returns how many it probed. Each
// probe is bounded by its connection's timeout, as a manual test is.
func (s *Service) ProbeAll(ctx context.Context, concurrency int, keep func(*Connection) bool) int {
	return s.probeRound(ctx, concurrency, keep, nil)
}

// probeRound is ProbeAll, calling done (when not nil) with each probe's
// outcome. keep runs on the caller's goroutine, one target after another,
// right before its probe starts; done runs on the probe's.
func (s *Service) probeRound(ctx context.Context, concurrency int, keep func(*Connection) bool, done func(*Connection, *TestOutcome)) (n int) {
	ctx, span := s.tracer.Start(ctx, "monitor round")
	defer func() {
		span.SetAttributes(attrProbes.Int(n))
		span.End()
	}()
	if concurrency <= 0 {
		concurrency = DefaultMonitorConcurrency
	}
	targets, err := s.store.ListProbeTargets(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "health monitor: list connections", "error", err.Error())
		return 0
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, c := range targets {
		if keep != nil && !keep(c) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return n
		}
		n++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := s.probeAndRecord(ctx, c)
			if err != nil {
				if ctx.Err() == nil {
					s.log.WarnContext(ctx, "health monitor: probe", "connection_id", c.ID, "error", err.Error())
				}
				return
			}
			if done != nil {
				done(c, out)
			}
		}()
	}
	wg.Wait()
	return n
}
