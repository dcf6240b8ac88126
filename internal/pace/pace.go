// Package pace paces the requests jitbot sends to one upstream API at a
// rate it learns from the API's own answers, so that a new installation
// uses what the API allows without anybody guessing a number.
//
// Atlassian publishes no rate for the endpoints jitbot uses; the identity
// providers publish theirs per tenant and change them. A fixed guess is
// either too slow (a burst of approvals queues behind it) or too fast (the
// API answers 429 and the whole client waits). A Limiter finds the rate the
// way TCP finds a path's capacity:
//
//   - slow start: from Start, the rate doubles every round (250 ms) in which
//     callers queued for it and nothing said "slow down";
//   - then additive increase: back towards the rate where the API last
//     pushed back, and past it in small steps that grow while the API keeps
//     answering cleanly (so a limit that rose is found again in seconds);
//   - multiplicative decrease on a signal: a 429 (a "hard" one, whose
//     pause everybody waits out), or, before any 429, an answer saying the
//     budget is nearly spent (X-RateLimit-NearLimit: true, or
//     X-RateLimit-Remaining under a fifth of X-RateLimit-Limit). One
//     decrease per flight: answers to requests sent before the last
//     decrease were sent at the old rate and say nothing new;
//   - never above what the answers say is left: Remaining 0 with a reset
//     time pauses every caller until then, and never above Ceiling.
//
// What X-RateLimit-Limit and -Remaining say is read per scope (an endpoint
// and its method: Jira keeps a budget for each), so that answers of two
// endpoints are never taken for one budget shrinking and growing.
//
// One Limiter serves every caller of one API, and Rate is its learnt rate,
// exported as a metric.
package pace

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"golang.org/x/time/rate"
)

// Defaults of Options.
const (
	DefaultStart = 10.0 // requests per second before anything is learnt
	DefaultFloor = 0.5  // the rate never falls below this
)

// The controller's constants. They were tuned in pace_sim_test.go against
// token-bucket servers of 10 to 2,000 requests a second, with Jira's
// headers and with 429s alone; see there for what each one trades.
const (
	round = 250 * time.Millisecond
	// slowRound is slow start's round: from 10 requests a second to 2,000
	// in under a second. The first signal ends slow start with the budget's
	// own estimate (or half the rate), so a fast start overshoots for one
	// flight at most.
	slowRound = 100 * time.Millisecond
	// After a decrease the rate follows CUBIC's curve (RFC 9438): it climbs
	// back quickly towards a plateau, the best guess of the limit, stays
	// near it for several seconds, then probes beyond, slowly at first.
	// The plateau is what keeps 429s to a few a minute; a token-bucket API
	// stores what it leaves unused, so it costs next to no throughput.
	cubicC = 0.0003
	// Decreases: after a 429; after a 429 that came soon after the last
	// decrease (that one was not enough: the limit moved); after a
	// "nearly spent" answer; and when slow start ends (the rate doubled
	// each clean round, so the limit lies between half the rate and it).
	betaHard      = 0.85
	betaAgain     = 0.5
	againWithin   = time.Second
	betaSoft      = 0.9
	betaSlowStart = 0.5
	// Without an estimate the plateau lies a little below the rate that
	// met the 429: a token bucket answers 429 only once its burst is
	// spent, by when the rate has been above the limit for a while.
	plateauHard = 0.95
	// Estimates of the limit, when one can be had: the decrease goes to
	// belowEstimate of it, and the plateau is the estimate.
	//   - Between two 429s a token bucket went from empty to empty: what
	//     it accepted in between, over the time, is its rate (measured
	//     over at least hardSpanMin, at most hardSpanMax ago).
	//   - With X-RateLimit-Remaining, the budget's change plus what was
	//     spent, over the time, is its rate (over at least softSpanMin).
	belowEstimate   = 0.95
	hardSpanMin     = 2 * time.Second
	hardSpanMax     = 30 * time.Second
	softSpanMin     = 300 * time.Millisecond
	softSpanAnswers = 20 // X-RateLimit-Remaining is whole requests: ±1 in 20
	budgetEvery     = 100 * time.Millisecond
	budgetSamples   = 20
	maxScopes       = 64 // budgets kept, one per scope
	// Probing past this multiple of the plateau without a word means the
	// limit rose: slow start finds it again.
	restartAbove = 1.5
	// The pace's own burst, in time: see burstOf.
	slack = 50 * time.Millisecond
	// Without X-RateLimit-Remaining, a "nearly spent" answer lowers the
	// rate at most this often.
	softEvery = time.Second
)

// Options configure a Limiter.
type Options struct {
	// Start is the first rate (default DefaultStart), Ceiling the highest
	// it may learn (0: none). A Start above Ceiling starts at Ceiling.
	Start, Ceiling float64
	// Floor is the lowest rate a decrease may reach (default DefaultFloor).
	Floor float64
	// Fixed turns learning off: the rate stays Start (Ceiling when Start
	// is 0). Pauses the API asks for are still kept.
	Fixed bool
	// Clock paces and pauses (default the real clock).
	Clock clockwork.Clock
}

// Limiter paces one API's callers. It is safe for concurrent use.
type Limiter struct {
	clock clockwork.Clock
	fixed bool
	floor float64
	ceil  float64

	mu         sync.Mutex
	bucket     *rate.Limiter
	rate       float64
	slowStart  bool
	plateau    float64   // where the curve levels off
	k          float64   // seconds from the decrease to the plateau
	grown      int       // rounds of growth since the last decrease
	epoch      uint64    // bumped by every decrease
	decreased  time.Time // the last decrease
	pauseUntil time.Time // nobody sends before it
	accepted   int64     // answers the API accepted, in all
	// The last 429 that lowered the rate, and what had been accepted then.
	hard sample
	// What each endpoint's answers say of its budget (Answer.Scope): APIs
	// such as Jira's keep one per endpoint and method.
	budgets    map[string]*budget
	lastBudget *budget // the budget sampled last
	// The last "nearly spent" decrease.
	soft sample
	// The current round: whether a caller queued for a token, and how
	// many clean answers came.
	roundStart time.Time
	queued     bool
	answers    int

	stats Stats
}

// Stats counts what a Limiter saw.
type Stats struct {
	Permits   int64 // requests let through
	Throttled int64 // answers 429
	Near      int64 // answers saying the budget is nearly spent
	Decreases int64 // times the rate was lowered
}

// New returns a Limiter.
func New(o Options) *Limiter {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Floor <= 0 {
		o.Floor = DefaultFloor
	}
	if o.Ceiling <= 0 {
		o.Ceiling = math.Inf(1)
	}
	start := o.Start
	if start <= 0 {
		start = DefaultStart
		if o.Fixed {
			start = o.Ceiling
		}
	}
	start = math.Min(start, o.Ceiling)
	l := &Limiter{clock: o.Clock, fixed: o.Fixed, floor: math.Min(o.Floor, start), ceil: o.Ceiling,
		rate: start, slowStart: !o.Fixed, roundStart: o.Clock.Now(), budgets: map[string]*budget{}}
	l.bucket = rate.NewLimiter(limitOf(start), burstOf(start))
	return l
}

func limitOf(r float64) rate.Limit {
	if math.IsInf(r, 1) {
		return rate.Inf
	}
	return rate.Limit(r)
}

// Rate returns the rate the Limiter paces at now, in requests a second.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate
}

// Stats returns what the Limiter has seen so far.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Permit is one request's turn. Report what the API answered with Done.
type Permit struct {
	l     *Limiter
	epoch uint64
}

// Answer is what the API said to one request, as far as pacing goes.
type Answer struct {
	// Throttled: the API refused the request for its rate (429).
	Throttled bool
	// Wait: the API asked every caller to wait this long (Retry-After, or
	// the time to X-RateLimit-Reset on a 429 or with nothing remaining).
	Wait time.Duration
	// Near: the API said its budget is nearly spent.
	Near bool
	// Remaining and Limit are X-RateLimit-Remaining and -Limit, -1 when
	// the answer did not carry them.
	Remaining, Limit int
	// Scope names the budget Remaining and Limit describe: the endpoint
	// and method, as Jira keeps one budget for each. Answers of one scope
	// are compared with each other only.
	Scope string
	// Failed: no answer (a network error or timeout) or a server error,
	// which says nothing about the rate.
	Failed bool
}

// Wait blocks until the caller may send, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) (Permit, error) {
	for {
		d, p := l.reserve(l.clock.Now())
		if d <= 0 {
			return p, ctx.Err()
		}
		t := l.clock.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return Permit{}, ctx.Err()
		case <-t.Chan():
		}
	}
}

// reserve returns how long to wait before asking again (0: go now, with the
// permit).
func (l *Limiter) reserve(now time.Time) (time.Duration, Permit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.pauseUntil.Sub(now); d > 0 {
		return d, Permit{}
	}
	r := l.bucket.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		// Waiting for a token: the rate, not the callers, is the limit.
		r.CancelAt(now)
		l.queued = true
		return d, Permit{}
	}
	l.stats.Permits++
	return 0, Permit{l: l, epoch: l.epoch}
}

// Done reports the API's answer to the request the permit let through.
func (p Permit) Done(a Answer) {
	if p.l != nil {
		p.l.observe(p.l.clock.Now(), p.epoch, a)
	}
}

// Pause stops every caller from sending for d.
func (l *Limiter) Pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pauseLocked(l.clock.Now(), d)
}

func (l *Limiter) pauseLocked(now time.Time, d time.Duration) {
	if until := now.Add(d); d > 0 && until.After(l.pauseUntil) {
		l.pauseUntil = until
		l.noSlackLocked(until)
	}
}

// noSlackLocked spends the pace's slack at t: what was saved before the API
// pushed back must not go out in one burst after it.
func (l *Limiter) noSlackLocked(t time.Time) {
	if b := l.bucket.Burst(); b > 1 && !math.IsInf(l.rate, 1) {
		l.bucket.ReserveN(t, b-1)
	}
}

// PausedFor returns how long callers still wait for a pause.
func (l *Limiter) PausedFor() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.pauseUntil.Sub(l.clock.Now()), 0)
}

// sample is what the Limiter knew at one instant.
type sample struct {
	at        time.Time
	accepted  int64
	remaining int // X-RateLimit-Remaining (-1: not known)
}

func (l *Limiter) observe(now time.Time, epoch uint64, a Answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	near := a.Near || (a.Limit > 0 && a.Remaining >= 0 && a.Remaining*5 < a.Limit)
	switch {
	case a.Throttled:
		l.stats.Throttled++
		l.pauseLocked(now, a.Wait)
	case a.Remaining == 0 && a.Wait > 0:
		l.pauseLocked(now, a.Wait) // nothing left until the reset: wait for it
	}
	if a.Failed {
		return
	}
	b := l.budgetOf(a.Scope)
	if a.Limit > 0 && !l.fixed {
		l.limitLocked(now, b, a.Limit)
	}
	if a.Throttled {
		if !l.fixed && epoch == l.epoch { // the first word of this flight
			l.hardLocked(now)
		}
		return
	}
	l.accepted++
	// Budget samples: only below the budget's top (at the top, what
	// refills it is thrown away, and the samples so far say nothing).
	switch {
	case a.Remaining < 0:
	case a.Limit > 0 && a.Remaining >= a.Limit-1:
		b.samples = b.samples[:0]
	case len(b.samples) == 0 || now.Sub(b.samples[len(b.samples)-1].at) >= budgetEvery:
		l.lastBudget = b
		if len(b.samples) == budgetSamples {
			b.samples = append(b.samples[:0], b.samples[1:]...)
		}
		b.samples = append(b.samples, sample{at: now, accepted: l.accepted, remaining: a.Remaining})
	}
	if near {
		l.stats.Near++
	}
	if l.fixed {
		return
	}
	if near {
		if epoch == l.epoch {
			l.softLocked(now, b, a.Remaining)
		}
		return
	}
	l.answers++
	if now.Sub(l.roundStart) >= round || (l.slowStart && now.Sub(l.roundStart) >= slowRound) {
		l.endRoundLocked(now)
	}
}

// budget is what one scope's answers say of its rate-limit budget.
//
// Its samples pair the budget's Remaining with every answer this Limiter
// had accepted then, whatever their scope: where an API keeps one budget
// for all its endpoints (the local fakes), every accepted request spent
// from it and the estimate is the budget's rate; where it keeps one per
// endpoint, the estimate is the total rate the pace can keep while this
// endpoint's budget holds, which is what one pace for the API needs.
type budget struct {
	limit   int      // X-RateLimit-Limit as last seen (0: never)
	samples []sample // X-RateLimit-Remaining every budgetEvery since it was last at its top, oldest first
}

// budgetOf returns scope's budget. Scopes are few (an API's endpoints); a
// client that makes them many (ids in paths) starts afresh.
func (l *Limiter) budgetOf(scope string) *budget {
	b := l.budgets[scope]
	if b == nil {
		if len(l.budgets) >= maxScopes {
			clear(l.budgets)
		}
		b = &budget{}
		l.budgets[scope] = b
	}
	return b
}

// limitLocked follows X-RateLimit-Limit: when a budget shrinks, the rate
// shrinks with it at once; when it grows, slow start finds the new rate.
func (l *Limiter) limitLocked(now time.Time, b *budget, limit int) {
	was := b.limit
	b.limit = limit
	switch {
	case was == 0 || limit == was:
	case limit < was:
		scale := float64(limit) / float64(was)
		b.samples = b.samples[:0] // samples of the old budget
		l.decreaseLocked(now, l.rate*scale, l.plateau*scale)
	default:
		l.restartLocked()
	}
}

// restartLocked starts slow start again: the limit rose, and what was
// measured under the old one says nothing of the new.
func (l *Limiter) restartLocked() {
	l.slowStart = true
	l.hard = sample{}
}

// hardLocked lowers the rate after a 429.
func (l *Limiter) hardLocked(now time.Time) {
	beta, plateau := betaHard, l.rate*plateauHard
	if !l.decreased.IsZero() && now.Sub(l.decreased) < againWithin && !l.slowStart {
		beta, plateau = betaAgain, l.rate
	}
	next := l.rate * beta
	if span := now.Sub(l.hard.at); !l.hard.at.IsZero() && span >= hardSpanMin && span <= hardSpanMax {
		if est := float64(l.accepted-l.hard.accepted) / span.Seconds(); est < l.rate {
			plateau, next = est, est*belowEstimate
		}
	}
	l.hard = sample{at: now, accepted: l.accepted}
	l.decreaseLocked(now, next, plateau)
}

// softLocked lowers the rate after an answer said the budget is nearly
// spent: once, then again only while the budget keeps falling (it refills
// slowly after a decrease, and every answer meanwhile says "near").
func (l *Limiter) softLocked(now time.Time, b *budget, remaining int) {
	if !l.soft.at.IsZero() {
		if now.Sub(l.soft.at) < round || (remaining < 0 && now.Sub(l.soft.at) < softEvery) {
			return
		}
		if remaining >= 0 && l.soft.remaining >= 0 && remaining >= l.soft.remaining {
			return
		}
	}
	next, plateau := l.rate*betaSoft, l.rate
	if est, ok := b.rate(); ok && est < l.rate {
		plateau, next = est, est*belowEstimate
	}
	l.soft = sample{at: now, remaining: remaining}
	l.decreaseLocked(now, next, plateau)
}

// rate estimates the budget's refill from its samples: what it refilled
// (the change plus what was spent) over the time.
func (b *budget) rate() (float64, bool) {
	if len(b.samples) < 2 {
		return 0, false
	}
	// Over every sample kept (up to budgetSamples × budgetEvery): answers
	// reach the Limiter some milliseconds after the API counted them, more
	// under load, and only a long span averages that out. It must hold at
	// least softSpanMin and softSpanAnswers (Remaining is whole requests).
	from, to := b.samples[0], b.samples[len(b.samples)-1]
	span := to.at.Sub(from.at)
	if span < softSpanMin || to.accepted-from.accepted < softSpanAnswers {
		return 0, false
	}
	est := float64(to.remaining-from.remaining+int(to.accepted-from.accepted)) / span.Seconds()
	return est, est > 0
}

// decreaseLocked lowers the rate to next; the curve levels off at plateau.
func (l *Limiter) decreaseLocked(now time.Time, next, plateau float64) {
	l.stats.Decreases++
	l.epoch++
	if l.slowStart {
		l.slowStart = false
		next = math.Min(next, l.rate*betaSlowStart)
		plateau = math.Min(plateau, l.rate)
	}
	next = math.Max(next, l.floor)
	l.plateau, l.grown, l.decreased = math.Max(plateau, next), 0, now
	l.k = math.Cbrt((1 - next/l.plateau) / cubicC)
	l.roundStart, l.queued, l.answers = now, false, 0
	l.setLocked(now, next)
	l.noSlackLocked(now)
}

// endRoundLocked closes a round of clean answers: the rate grows if callers
// queued for it.
func (l *Limiter) endRoundLocked(now time.Time) {
	grow := l.queued && l.answers > 0
	l.roundStart, l.queued, l.answers = now, false, 0
	l.soft.at = time.Time{} // the budget recovered
	if !grow || l.rate >= l.ceil {
		return
	}
	r := 2 * l.rate
	if !l.slowStart {
		// The budget says the limit is higher than the plateau (a low
		// estimate, or a limit that rose): the curve starts again from
		// there.
		if b := l.lastBudget; b != nil {
			if est, ok := b.rate(); ok && est*belowEstimate > l.rate {
				l.plateau, l.grown = est, 0
				l.k = math.Cbrt((1 - belowEstimate) / cubicC)
				l.setLocked(now, math.Min(est*belowEstimate, l.ceil))
				return
			}
		}
		// CUBIC: W(t) = plateau (1 + C (t-K)^3), t the time grown since
		// the decrease.
		l.grown++
		t := (time.Duration(l.grown) * round).Seconds()
		r = math.Max(l.plateau*(1+cubicC*math.Pow(t-l.k, 3)), l.rate)
		if r > restartAbove*l.plateau {
			l.restartLocked()
		}
	}
	l.setLocked(now, math.Min(r, l.ceil))
}

func (l *Limiter) setLocked(now time.Time, r float64) {
	l.rate = r
	l.bucket.SetLimitAt(now, limitOf(r))
	l.bucket.SetBurstAt(now, burstOf(r))
}

// burstOf is the slack a rate gets: what it sends in slack (at least one
// request), so that a caller the scheduler woke late catches up instead of
// losing its turn. An API's own burst is larger (a second's worth, as a
// rule).
func burstOf(r float64) int {
	if math.IsInf(r, 1) {
		return 1
	}
	return max(1, int(r*slack.Seconds()))
}
