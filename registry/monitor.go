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
	// Interval between rounds; 0 turns the periodic rounds off (the
	// start-up round of autoConnect servers still runs).
	Interval time.Duration
	// Concurrency bounds simultaneous probes; 0 means DefaultMonitorConcurrency.
	Concurrency int
}

// StartMonitor runs the health monitor in the background until the
// service closes: it probes the autoConnect servers at start-up, then
// re-probes every enabled active (or failing) server each interval,
// jittered by ±10% so that many tether replicas do not probe in step.
func (s *Service) StartMonitor(opts MonitorOptions) {
	s.life.Go(func(ctx context.Context) { s.runMonitor(ctx, opts) })
}

// ProbeClaimer is implemented by a store that several tether processes
// share (PostgreSQL): a monitor round probes a connection only once it
// has claimed it for lease, so that the fleet probes each connection
// about once per interval rather than once per replica. A claim expires
// by itself: a replica that dies mid-round holds nothing for longer.
type ProbeClaimer interface {
	ClaimProbe(ctx context.Context, connectionID string, lease time.Duration) (bool, error)
}

// claimed narrows keep to the connections this process claimed for lease
// (all of them when the store is not shared or the lease is zero).
func (s *Service) claimed(ctx context.Context, lease time.Duration, keep func(*Connection) bool) func(*Connection) bool {
	claimer, shared := s.store.(ProbeClaimer)
	if !shared || lease <= 0 {
		return keep
	}
	return func(c *Connection) bool {
		if keep != nil && !keep(c) {
			return false
		}
		ok, err := claimer.ClaimProbe(ctx, c.ID, lease)
		if err != nil {
			s.log.WarnContext(ctx, "health monitor: claim", "connection_id", c.ID, "error", err.Error())
			return false
		}
		return ok
	}
}

// runMonitor runs until ctx (the service's background context) ends.
func (s *Service) runMonitor(ctx context.Context, opts MonitorOptions) {
	// A claim lasts a little less than an interval: the rounds are
	// jittered by ±10%, and the next round after it lapses, on whichever
	// replica, probes again.
	lease := opts.Interval * 8 / 10
	s.ProbeAll(ctx, opts.Concurrency, s.claimed(ctx, lease, func(c *Connection) bool { return c.AutoConnect }))
	if opts.Interval <= 0 {
		return
	}
	for {
		wait := opts.Interval + time.Duration((rand.Float64()*0.2-0.1)*float64(opts.Interval))
		due := time.Now().Add(wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		start := time.Now()
		s.ProbeAll(ctx, opts.Concurrency, s.claimed(ctx, lease, nil))
		// Lag: how late the round started, or how far it overran its
		// interval, whichever is worse.
		s.observe.SetMonitorLag(max(start.Sub(due), time.Since(start)-opts.Interval, 0))
	}
}

// ProbeAll probes every probe target that keep accepts (nil: all) with at
// most concurrency probes at a time, and returns how many it probed. Each
// probe is bounded by its connection's timeout, as a manual test is.
func (s *Service) ProbeAll(ctx context.Context, concurrency int, keep func(*Connection) bool) (n int) {
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
			if _, err := s.probeAndRecord(ctx, c); err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "health monitor: probe", "connection_id", c.ID, "error", err.Error())
			}
		}()
	}
	wg.Wait()
	return n
}
