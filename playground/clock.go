package playground

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Clock is the playground's simulated time: one clockwork fake clock that
// the engine, the review scheduler, the store and the local Slack all
// read. It runs at real speed while running, and Skip jumps it ahead: the
// timers every loop set on it (the expiry sweep, the lanes' next job, the
// review scheduler, reminders and timeouts) fire when it passes them, as
// they would in a test that advances the clock.
type Clock struct {
	fake *clockwork.FakeClock

	mu      sync.Mutex
	running bool
	wall    time.Time // the wall time the clock last caught up with
	changed chan struct{}
}

// tick is how often a running clock catches up with the wall clock.
const tick = 100 * time.Millisecond

// NewClock returns a running clock that starts at start.
func NewClock(start time.Time) *Clock {
	return &Clock{fake: clockwork.NewFakeClockAt(start), running: true, wall: time.Now(), changed: make(chan struct{})}
}

// Fake is the clock to inject into everything the playground runs.
func (c *Clock) Fake() *clockwork.FakeClock { return c.fake }

// Now is the simulated time.
func (c *Clock) Now() time.Time { return c.fake.Now() }

// Running reports whether the clock follows the wall clock.
func (c *Clock) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// SetRunning starts or stops the clock following the wall clock. Stopped,
// it moves only by Skip.
func (c *Clock) SetRunning(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.catchUpLocked()
	c.running = on
	c.notifyLocked()
}

// Skip moves the clock d ahead at once. What fell due meanwhile happens
// now, once: a daily review skipped over for a week runs once, not seven
// times.
func (c *Clock) Skip(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.catchUpLocked()
	c.fake.Advance(d)
	c.notifyLocked()
}

// Changed returns a channel closed at the next Skip or SetRunning.
func (c *Clock) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// Run keeps a running clock in step with the wall clock until ctx ends.
func (c *Clock) Run(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.mu.Lock()
			c.catchUpLocked()
			c.mu.Unlock()
		}
	}
}

// catchUpLocked advances a running clock by the wall time since it last
// did.
func (c *Clock) catchUpLocked() {
	now := time.Now()
	if d := now.Sub(c.wall); c.running && d > 0 {
		c.fake.Advance(d)
	}
	c.wall = now
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
