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

// runMonitor runs until ctx (the service's background context) ends.
func (s *Service) runMonitor(ctx context.Context, opts MonitorOptions) {
	s.ProbeAll(ctx, opts.Concurrency, func(c *Connection) bool { return c.AutoConnect })
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
		s.ProbeAll(ctx, opts.Concurrency, nil)
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
