package lifetime

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloseCancelsAndWaits(t *testing.T) {
	g := New()
	started := make(chan struct{})
	var finished atomic.Bool
	require.True(t, g.Go(func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		finished.Store(true)
	}))
	<-started
	g.Close()
	assert.True(t, finished.Load(), "Close returns only after the work ended")
	assert.True(t, g.Closed())
	assert.Error(t, g.Context().Err())
}

func TestGoAfterCloseDoesNotRun(t *testing.T) {
	g := New()
	g.Close()
	ran := false
	assert.False(t, g.Go(func(context.Context) { ran = true }))
	g.Close() // twice is fine
	assert.False(t, ran)
}

func TestStopRefusesWithoutWaiting(t *testing.T) {
	g := New()
	release := make(chan struct{})
	var finished atomic.Bool
	require.True(t, g.Go(func(context.Context) { <-release; finished.Store(true) }))
	g.Stop() // returns although the work has not ended
	assert.True(t, g.Closed())
	assert.Error(t, g.Context().Err())
	assert.False(t, g.Go(func(context.Context) {}), "no work after Stop")
	assert.False(t, finished.Load())
	close(release)
	g.Close()
	assert.True(t, finished.Load(), "Close after Stop still waits")
}

// TestGoRacingClose: under the race detector, starting work while another
// goroutine closes is safe, and every goroutine that was started is waited
// for.
func TestGoRacingClose(t *testing.T) {
	for range 50 {
		g := New()
		var running, started atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if g.Go(func(ctx context.Context) { running.Add(1); <-ctx.Done(); running.Add(-1) }) {
					started.Add(1)
				}
			}()
		}
		g.Close()
		wg.Wait()
		// Work started after Close returned would be left running.
		g.Close()
		assert.Zero(t, running.Load())
	}
}
