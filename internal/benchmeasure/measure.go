// Package benchmeasure adds what a busy machine hides to a benchmark's
// ns/op: the process's CPU time per op and the median of the ops' wall
// times. ns/op counts time spent waiting for a CPU; these do not (CPU) or
// are not pulled by a few stalls (the median).
package benchmeasure

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// Measure times a benchmark's ops. Start it just before the loop.
type Measure struct {
	cpu0  time.Duration
	walls []time.Duration
}

// Start begins measuring from the process's CPU time so far.
func Start() *Measure { return &Measure{cpu0: CPUTime()} }

// Time runs op and keeps its wall time.
func (m *Measure) Time(op func()) {
	start := time.Now()
	op()
	m.walls = append(m.walls, time.Since(start))
}

// Ops is how many ops were timed.
func (m *Measure) Ops() int { return len(m.walls) }

// CPUSince is the process's CPU time since Start.
func (m *Measure) CPUSince() time.Duration { return CPUTime() - m.cpu0 }

// Report adds cpu-ns/op (every goroutine's CPU time, the garbage
// collector's included, per timed op) and p50-ns to b's results.
func (m *Measure) Report(b *testing.B) {
	if len(m.walls) == 0 {
		return
	}
	b.ReportMetric(float64(m.CPUSince())/float64(len(m.walls)), "cpu-ns/op")
	slices.Sort(m.walls)
	b.ReportMetric(float64(m.walls[len(m.walls)/2]), "p50-ns")
}

// CPUTime is the user and system CPU time of the process so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
