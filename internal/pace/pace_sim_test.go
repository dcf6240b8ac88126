package pace

import (
	"container/heap"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// The simulation runs a Limiter against a token-bucket server in virtual
// time: deterministic, and minutes of traffic in milliseconds. It is where
// the controller's constants were tuned; the tests against the local Jira
// and Admin API (pace_test.go in provisioner/atlassian) check the same on
// real sockets.

// simServer is a token bucket of rate R and capacity B, as Atlassian's
// burst limits and the local fakes are.
type simServer struct {
	rate, burst float64
	tokens      float64
	last        time.Time
	headers     bool // Jira: Limit, Remaining and NearLimit on every answer
	wholeSecond bool // Jira: Retry-After in whole seconds, rounded up
}

func (s *simServer) serve(now time.Time) Answer {
	s.tokens = math.Min(s.burst, s.tokens+now.Sub(s.last).Seconds()*s.rate)
	s.last = now
	a := Answer{Remaining: -1, Limit: -1}
	if s.tokens < 1 {
		a.Throttled = true
		a.Wait = time.Duration((1 - s.tokens) / s.rate * float64(time.Second))
		if s.wholeSecond {
			a.Wait = time.Duration(math.Ceil(a.Wait.Seconds())) * time.Second
		}
		if s.headers {
			a.Remaining, a.Limit = 0, int(s.burst)
		}
		return a
	}
	s.tokens--
	if s.headers {
		a.Limit, a.Remaining = int(s.burst), int(s.tokens)
		a.Near = s.tokens < 0.2*s.burst
	}
	return a
}

type simEvent struct {
	at     time.Time
	worker int
	send   bool // false: the answer arrives
	answer Answer
	permit Permit
}

type simQueue []simEvent

func (q simQueue) Len() int           { return len(q) }
func (q simQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q simQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)        { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any          { old := *q; e := old[len(old)-1]; *q = old[:len(old)-1]; return e }

// simResult is one run: successes per second, and when each 429 came.
type simResult struct {
	perSecond []int
	throttled []time.Duration
	rates     []float64 // the learnt rate at the end of each second
}

// converged returns the first second from which every window of three
// seconds delivered at least share of want (len(perSecond) when never): at
// 10 requests a second, one second is too few requests to judge.
func (r simResult) converged(share float64, want []float64) int {
	at := len(r.perSecond)
	for i := len(r.perSecond) - 3; i >= 0; i-- {
		got, need := 0.0, 0.0
		for j := i; j < i+3; j++ {
			got += float64(r.perSecond[j])
			need += share * want[j]
		}
		if got < need {
			break
		}
		at = i
	}
	return at
}

func (r simResult) throttledBetween(from, to time.Duration) int {
	n := 0
	for _, t := range r.throttled {
		if t >= from && t < to {
			n++
		}
	}
	return n
}

// simulate runs workers callers, each sending one request at a time with a
// round trip of rtt, against srv for d; limit(t) changes the server's rate
// over time (nil: fixed).
func simulate(l *Limiter, clock *clockwork.FakeClock, srv *simServer, workers int, rtt, d time.Duration, limit func(time.Duration) float64) simResult {
	start := clock.Now()
	srv.last, srv.tokens = start, srv.burst
	res := simResult{perSecond: make([]int, int(d/time.Second)), rates: make([]float64, int(d/time.Second))}
	q := &simQueue{}
	for w := range workers {
		heap.Push(q, simEvent{at: start, worker: w, send: true})
	}
	second := 0
	for q.Len() > 0 {
		e := heap.Pop(q).(simEvent)
		if e.at.Sub(start) >= d {
			break
		}
		for e.at.Sub(start) >= time.Duration(second+1)*time.Second {
			res.rates[second] = l.Rate()
			second++
		}
		clock.Advance(e.at.Sub(clock.Now()))
		if limit != nil {
			if r := limit(e.at.Sub(start)); r != srv.rate {
				srv.tokens = math.Min(srv.tokens, r)
				srv.rate, srv.burst = r, math.Ceil(r)
			}
		}
		if e.send {
			wait, p := l.reserve(e.at)
			if wait > 0 {
				heap.Push(q, simEvent{at: e.at.Add(wait), worker: e.worker, send: true})
				continue
			}
			a := srv.serve(e.at.Add(rtt / 2))
			heap.Push(q, simEvent{at: e.at.Add(rtt), worker: e.worker, answer: a, permit: p})
			continue
		}
		e.permit.Done(e.answer)
		if e.answer.Throttled {
			res.throttled = append(res.throttled, e.at.Sub(start))
		} else if i := int(e.at.Sub(start) / time.Second); i < len(res.perSecond) {
			res.perSecond[i]++
		}
		heap.Push(q, simEvent{at: e.at, worker: e.worker, send: true})
	}
	for ; second < len(res.rates); second++ {
		res.rates[second] = l.Rate()
	}
	return res
}

func simLimiter() (*Limiter, *clockwork.FakeClock) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC))
	return New(Options{Clock: clock}), clock
}

// With the defaults, against limits from 10 to 2,000 requests a second,
// with Jira's headers and with 429s alone (the Admin API), many callers or
// one: the learnt pace reaches 0.9 of the limit within a few seconds and
// then stays there with at most a few 429s a minute.
func TestLimiter_ConvergesToTheLimit(t *testing.T) {
	const d = 90 * time.Second
	for _, rate := range []float64{10, 50, 100, 200, 2000} {
		for _, api := range []struct {
			name    string
			headers bool
		}{{"jira", true}, {"admin", false}} {
			for _, workers := range []int{1, 8} {
				t.Run(fmt.Sprintf("%s/R=%v/workers=%d", api.name, rate, workers), func(t *testing.T) {
					rtt := 2 * time.Millisecond
					if workers == 1 && rate > 200 {
						t.Skip("one caller with a 2 ms round trip cannot send 2,000 a second")
					}
					l, clock := simLimiter()
					srv := &simServer{rate: rate, burst: math.Ceil(rate), headers: api.headers, wholeSecond: api.headers}
					res := simulate(l, clock, srv, workers, rtt, d, nil)
					want := make([]float64, len(res.perSecond))
					for i := range want {
						want[i] = rate
					}
					at := res.converged(0.9, want)
					steady := res.throttledBetween(30*time.Second, d)
					total := 0
					for _, n := range res.perSecond[10:] {
						total += n
					}
					share := float64(total) / (rate * float64(len(res.perSecond)-10))
					t.Logf("0.9 of R from second %d; seconds 10-90 at %.3f of R; 429s: %d in all, %d in the last minute; rate %.1f",
						at, share, len(res.throttled), steady, l.Rate())
					if at > 5 {
						t.Errorf("reached 0.9 of R (and stayed) from second %d, want within 5 s; per second: %v", at, res.perSecond)
					}
					if share < 0.95 {
						t.Errorf("seconds 10-90 delivered %.3f of R, want at least 0.95", share)
					}
					if steady > 6 {
						t.Errorf("%d answers 429 in the last minute, want a few (at most 6)", steady)
					}
				})
			}
		}
	}
}

// When the API's limit drops mid-run, the pace follows at once: a second
// later it is within a quarter of the new limit, after a handful of 429s at
// most. When the limit rises again, the pace finds it within half a minute:
// above the plateau it probes slowly for several seconds first, the price
// of few 429s.
func TestLimiter_FollowsTheLimit(t *testing.T) {
	for _, api := range []struct {
		name    string
		headers bool
	}{{"jira", true}, {"admin", false}} {
		t.Run(api.name, func(t *testing.T) {
			l, clock := simLimiter()
			limit := func(t time.Duration) float64 {
				switch {
				case t < 20*time.Second:
					return 100
				case t < 40*time.Second:
					return 20
				default:
					return 100
				}
			}
			srv := &simServer{rate: 100, burst: 100, headers: api.headers, wholeSecond: api.headers}
			res := simulate(l, clock, srv, 8, 2*time.Millisecond, 90*time.Second, limit)
			want := make([]float64, len(res.perSecond))
			for i := range want {
				want[i] = limit(time.Duration(i) * time.Second)
			}
			t.Logf("per second: %v", res.perSecond)
			after := res.throttledBetween(20*time.Second, 40*time.Second)
			t.Logf("429s after the drop: %d (%d in its first second)", after, res.throttledBetween(20*time.Second, 21*time.Second))
			if r := res.rates[21]; r > 20*1.25 {
				t.Errorf("one second after the limit fell to 20/s the pace is %.1f/s", r)
			}
			if after > 8 {
				t.Errorf("%d answers 429 in the 20 s after the limit fell, want few", after)
			}
			up := 40
			for up < 90 && float64(res.perSecond[up]) < 90 {
				up++
			}
			if up-40 > 30 {
				t.Errorf("after the limit rose back to 100/s the pace reached 90/s after %d s, want within 30", up-40)
			}
		})
	}
}
