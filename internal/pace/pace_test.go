package pace

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// answers feeds n clean answers, one every gap, to callers that queued for
// each turn (the rate is their limit).
func answers(l *Limiter, clock *clockwork.FakeClock, n int, gap time.Duration, a Answer) {
	for range n {
		clock.Advance(gap)
		wait, p := l.reserve(clock.Now())
		if wait > 0 {
			clock.Advance(wait)
			_, p = l.reserve(clock.Now())
		}
		p.Done(a)
	}
}

var clean = Answer{Remaining: -1, Limit: -1}

func TestLimiter(t *testing.T) {
	t.Run("SlowStartStopsAtTheCeiling", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Ceiling: 45, Clock: clock})
		if r := l.Rate(); r != DefaultStart {
			t.Fatalf("starts at %.1f, want %v", r, DefaultStart)
		}
		answers(l, clock, 200, time.Millisecond, clean)
		if r := l.Rate(); r != 45 {
			t.Errorf("after 200 clean answers to waiting callers the rate is %.1f, want the ceiling 45", r)
		}
	})
	t.Run("IdleCallersDoNotRaiseIt", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Clock: clock})
		answers(l, clock, 40, time.Second, clean) // one a second: nobody waits
		if r := l.Rate(); r != DefaultStart {
			t.Errorf("clean answers nobody waited for raised the rate to %.1f", r)
		}
	})
	t.Run("Fixed", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Start: 7, Fixed: true, Clock: clock})
		answers(l, clock, 100, time.Millisecond, clean)
		answers(l, clock, 5, time.Millisecond, Answer{Throttled: true, Remaining: -1, Limit: -1})
		if r := l.Rate(); r != 7 {
			t.Errorf("a fixed rate moved to %.1f", r)
		}
		if off := New(Options{Fixed: true}); !math.IsInf(off.Rate(), 1) {
			t.Errorf("Fixed without a rate: %.1f, want no pacing", off.Rate())
		}
	})
	t.Run("ThrottledLowersOncePerFlight", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Clock: clock})
		answers(l, clock, 100, time.Millisecond, clean)
		before := l.Rate()
		// Three requests in flight together, all refused.
		var flight []Permit
		for range 3 {
			clock.Advance(time.Second)
			_, p := l.reserve(clock.Now())
			flight = append(flight, p)
		}
		for _, p := range flight {
			p.Done(Answer{Throttled: true, Remaining: -1, Limit: -1})
		}
		if got := l.Stats().Decreases; got != 1 {
			t.Errorf("three 429s of one flight lowered the rate %d times, want once", got)
		}
		if r := l.Rate(); r >= before {
			t.Errorf("after a 429 the rate is %.1f, was %.1f", r, before)
		}
	})
	t.Run("FailuresSayNothing", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Clock: clock})
		answers(l, clock, 50, time.Millisecond, Answer{Failed: true, Remaining: -1, Limit: -1})
		if r := l.Rate(); r != DefaultStart {
			t.Errorf("timeouts and 5xx moved the rate to %.1f", r)
		}
	})
	t.Run("SmallerLimitScalesAtOnce", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Clock: clock})
		answers(l, clock, 100, time.Millisecond, Answer{Remaining: 99, Limit: 100})
		before := l.Rate()
		answers(l, clock, 1, time.Millisecond, Answer{Remaining: 10, Limit: 20})
		if r := l.Rate(); math.Abs(r-before/5) > 0.01 {
			t.Errorf("the budget fell from 100 to 20: the rate went from %.1f to %.1f, want %.1f", before, r, before/5)
		}
	})
	t.Run("BudgetsOfEndpointsApart", func(t *testing.T) {
		// Jira keeps a budget per endpoint: answers alternating between
		// two of different sizes are no budget shrinking and growing.
		clock := clockwork.NewFakeClock()
		l := New(Options{Clock: clock})
		for i := range 200 {
			a := Answer{Remaining: 340, Limit: 350, Scope: "POST /rest/api/*/group/user"}
			if i%2 == 1 {
				a = Answer{Remaining: 90, Limit: 100, Scope: "GET /rest/api/*/user/search"}
			}
			answers(l, clock, 1, time.Millisecond, a)
		}
		if st := l.Stats(); st.Decreases != 0 || l.Rate() <= DefaultStart {
			t.Errorf("two endpoints' budgets: %d decreases, the rate %.1f; want none, and growth", st.Decreases, l.Rate())
		}
	})
	t.Run("NothingRemainingPausesUntilTheReset", func(t *testing.T) {
		clock := clockwork.NewFakeClock()
		l := New(Options{Clock: clock})
		_, p := l.reserve(clock.Now())
		p.Done(Answer{Remaining: 0, Limit: 100, Wait: 3 * time.Second})
		if d := l.PausedFor(); d != 3*time.Second {
			t.Errorf("with nothing remaining until a reset in 3s, callers wait %v", d)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { _, err := l.Wait(ctx); done <- err }()
		clock.BlockUntilContext(t.Context(), 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Wait during a pause, cancelled: %v", err)
		}
		clock.Advance(3 * time.Second)
		if _, err := l.Wait(context.Background()); err != nil {
			t.Errorf("after the pause: %v", err)
		}
	})
}
