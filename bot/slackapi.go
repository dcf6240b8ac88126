package bot

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Slack Web API methods the gate knows by name.
const (
	mPostMessage   = "chat.postMessage"
	mUpdate        = "chat.update"
	mPublish       = "views.publish"
	mOpen          = "conversations.open"
	mUsersInfo     = "users.info"
	mLookupByEmail = "users.lookupByEmail"
	mGroups        = "usergroups.list"
	mGroupUsers    = "usergroups.users.list"
	mUsersList     = "users.list"
	mAuthTest      = "auth.test"
	// The file upload ("V2"): an upload URL, the bytes, the share.
	mGetUploadURL   = "files.getUploadURLExternal"
	mUploadBytes    = "files.upload_url" // the POST to the URL Slack handed out
	mCompleteUpload = "files.completeUploadExternal"
)

// gate keeps the bot within what Slack allows without ever sleeping: it
// knows each channel's pace for chat.postMessage, the Retry-After of every
// 429 (per channel for chat.postMessage, per method otherwise), and whether
// Slack is answering at all. A call it may not make yet fails at once with
// approvals.Later, so the job is put back until then and the worker moves on.
//
// When Slack stops answering (a timeout, a refused connection, a 5xx), the
// gate closes once for the whole outage: every call is held, without being
// tried, and one cheap call probes Slack every few seconds (probe). The
// moment a probe is answered the gate opens and the held jobs are made due
// at once (approvals.Service.Resume), so messages flow within seconds of
// Slack's return rather than when a backoff runs out.
type gate struct {
	clock clockwork.Clock
	rate  rate.Limit
	burst int

	mu       sync.Mutex
	pace     map[string]*rate.Limiter // channel → chat.postMessage pace
	channels map[string]time.Time     // channel → no chat.postMessage before
	methods  map[string]time.Time     // method → no call before
	// Slack not answering: calls are held until a probe is answered, or
	// until downUntil (a bot whose prober is not running opens again by
	// itself then).
	down      bool
	downUntil time.Time
	downs     chan struct{} // a word to the prober: the gate closed
}

func newGate(clock clockwork.Clock, r rate.Limit, burst int) *gate {
	return &gate{clock: clock, rate: r, burst: burst, pace: map[string]*rate.Limiter{},
		channels: map[string]time.Time{}, methods: map[string]time.Time{}, downs: make(chan struct{}, 1)}
}

// While Slack does not answer: a held call is put back for heldFor (the
// probe's answer makes it due sooner); a probe waits probeTimeout for its
// answer, and one that failed at once waits probeEvery before the next.
const (
	heldFor      = 30 * time.Second
	probeEvery   = 2 * time.Second
	probeTimeout = 2 * time.Second
)

// reasonHeld is why a call held by an outage was put back: the jobs put
// back for it are the ones Resume makes due when Slack answers again.
const reasonHeld = "Slack is not answering; held until it does"

// admit reports whether a call of method (to channel, for chat.postMessage)
// may go now; if not, the error says until when.
func (g *gate) admit(method, channel string) error {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down && now.Before(g.downUntil) {
		return approvals.Later(g.downUntil, reasonHeld)
	}
	var until time.Time
	if t := g.methods[method]; t.After(until) {
		until = t
	}
	if method == mPostMessage {
		if t := g.channels[channel]; t.After(until) {
			until = t
		}
	}
	if until.After(now) {
		return approvals.Later(until, "Slack asked to wait ("+method+")")
	}
	if method == mPostMessage && g.rate != rate.Inf {
		l, ok := g.pace[channel]
		if !ok {
			l = rate.NewLimiter(g.rate, g.burst)
			g.pace[channel] = l
		}
		r := l.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			return approvals.Later(now.Add(d), "channel pace")
		}
	}
	return nil
}

// outcome learns from a call's result and turns what Slack said into what
// the job should do: nil, approvals.Later, or the error itself.
func (g *gate) outcome(ctx, callCtx context.Context, method, channel string, err error) error {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		g.down = false // an answer, even one sent before the outage
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		wait := max(rl.RetryAfter, time.Second)
		until := now.Add(wait)
		if method == mPostMessage {
			g.channels[channel] = until
		} else {
			g.methods[method] = until
		}
		return approvals.Later(until, "Slack answered 429 to "+method)
	}
	if unreachable(callCtx, err) {
		// Once per outage, however many calls time out together.
		g.closeLocked(now)
		return approvals.Later(g.downUntil, reasonHeld)
	}
	return err
}

// closeLocked holds every call from now on, until a probe is answered.
func (g *gate) closeLocked(now time.Time) {
	g.downUntil = now.Add(heldFor)
	if g.down {
		return
	}
	g.down = true
	select {
	case g.downs <- struct{}{}:
	default:
	}
}

// reopen lets calls through again after a probe was answered.
func (g *gate) reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}

// stillDown reports whether calls are held for an outage, extending the hold
// while the prober keeps trying.
func (g *gate) stillDown() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		g.downUntil = g.clock.Now().Add(heldFor)
	}
	return g.down
}

// probe runs while the bot runs: each time the gate closes, it calls
// auth.test (cheap, no side effect) until Slack answers, then opens the
// gate and makes the held jobs due at once.
func (b *Bot) probe(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.gate.downs:
		}
		for {
			if !b.gate.stillDown() {
				// A call was answered meanwhile and opened the gate.
				b.resume(ctx)
				break
			}
			start := b.clock.Now()
			callCtx, cancel := context.WithTimeout(ctx, probeTimeout)
			_, err := b.api.AuthTestContext(callCtx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if obs := b.cfg.Observer; obs != nil {
				outcome := CallOK
				if err != nil {
					outcome = CallUnreachable
				}
				obs.SlackCall(mAuthTest, outcome, b.clock.Since(start))
			}
			if err == nil || !unreachable(callCtx, err) { // an answer, even a refusal
				b.gate.reopen()
				b.resume(ctx)
				break
			}
			if callCtx.Err() != nil {
				continue // it hung for probeTimeout: try again at once
			}
			t := b.clock.NewTimer(probeEvery - b.clock.Since(start))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.Chan():
			}
		}
	}
}

// resume sends what an outage held: the held jobs are due at once.
func (b *Bot) resume(ctx context.Context) {
	b.log.Info("Slack answers again; sending what was held")
	if err := b.svc.Resume(ctx, approvals.LaneMessage, reasonHeld); err != nil && ctx.Err() == nil {
		b.log.Warn("held messages wait for their next try", zap.Error(err))
	}
}

// unreachable reports whether err says Slack did not answer: a timeout, a
// refused or dropped connection, a 5xx.
func unreachable(callCtx context.Context, err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || callCtx.Err() != nil {
		return true
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) && sc.Code >= 500 {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// call makes one Web API call through the gate, with the call timeout.
func (b *Bot) call(ctx context.Context, method, channel string, fn func(ctx context.Context) error) error {
	return b.callFor(ctx, method, channel, b.cfg.CallTimeout, fn)
}

// callFor makes one Web API call through the gate, bounded by timeout.
func (b *Bot) callFor(ctx context.Context, method, channel string, timeout time.Duration, fn func(ctx context.Context) error) error {
	obs := b.cfg.Observer
	if err := b.gate.admit(method, channel); err != nil {
		if obs != nil {
			obs.SlackCall(method, CallHeld, 0)
		}
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := fn(callCtx)
	if obs != nil {
		outcome := CallOK
		var rl *slack.RateLimitedError
		switch {
		case err == nil:
		case errors.As(err, &rl):
			outcome = CallRateLimited
		case unreachable(callCtx, err):
			outcome = CallUnreachable
		default:
			outcome = CallError
		}
		obs.SlackCall(method, outcome, time.Since(start))
	}
	return b.gate.outcome(ctx, callCtx, method, channel, err)
}

// isLater reports whether err asks for the job to be put back.
func isLater(err error) bool {
	var d *approvals.DeferError
	return errors.As(err, &d)
}

// soonest returns the first real error of errs, or else the Later that is
// due first, or nil: a notification that did part of its work is put back
// until the earliest moment the rest may go.
func soonest(errs ...error) error {
	var first *approvals.DeferError
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d *approvals.DeferError
		if !errors.As(err, &d) {
			return err
		}
		if first == nil || d.Until.Before(first.Until) {
			first = d
		}
	}
	if first == nil {
		return nil
	}
	return first
}
