package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
)

func laterUntil(t *testing.T, err error) time.Time {
	t.Helper()
	var d *approvals.DeferError
	if !errors.As(err, &d) {
		t.Fatalf("got %v, want approvals.Later", err)
	}
	return d.Until
}

// A post beyond a channel's pace is put back until the pace allows it, at
// once and without sleeping; other channels do not wait for it.
func TestGate_PaceWithoutSleeping(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	g := newGate(clock, 20, 1)
	if err := g.admit(mPostMessage, "C1"); err != nil {
		t.Fatalf("first post: %v", err)
	}
	start := time.Now()
	until := laterUntil(t, g.admit(mPostMessage, "C1"))
	if want := clock.Now().Add(50 * time.Millisecond); !until.Equal(want) {
		t.Errorf("second post put back until %v, want %v (20 a second)", until, want)
	}
	if d := time.Since(start); d > 20*time.Millisecond {
		t.Errorf("admit took %v: it must not wait", d)
	}
	if err := g.admit(mPostMessage, "C2"); err != nil {
		t.Errorf("another channel: %v, want no wait", err)
	}
	if err := g.admit(mUpdate, "C1"); err != nil {
		t.Errorf("chat.update is not paced per channel: %v", err)
	}
	clock.Advance(50 * time.Millisecond)
	if err := g.admit(mPostMessage, "C1"); err != nil {
		t.Errorf("after the pace's interval: %v", err)
	}
}

// A 429 holds back that channel's posts (chat.postMessage) or that method
// (anything else) for Retry-After; no answer at all closes the gate once
// for the whole outage — however many calls time out together — and every
// call is held, for the prober to release, or to be tried again after
// heldFor by a bot whose prober is not running. An answer opens it.
func TestGate_RateLimitsAndOutages(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	g := newGate(clock, 1000, 100)
	ctx := context.Background()
	now := clock.Now()
	until := laterUntil(t, g.outcome(ctx, ctx, mPostMessage, "C1", &slack.RateLimitedError{RetryAfter: 20 * time.Second}))
	if !until.Equal(now.Add(20 * time.Second)) {
		t.Errorf("429 Retry-After 20: put back until %v, want %v", until, now.Add(20*time.Second))
	}
	laterUntil(t, g.admit(mPostMessage, "C1"))
	if err := g.admit(mPostMessage, "C2"); err != nil {
		t.Errorf("C2 after a 429 on C1: %v", err)
	}
	laterUntil(t, g.outcome(ctx, ctx, mPublish, "", &slack.RateLimitedError{RetryAfter: 5 * time.Second}))
	laterUntil(t, g.admit(mPublish, ""))
	if err := g.admit(mUpdate, "C2"); err != nil {
		t.Errorf("chat.update after a 429 on views.publish: %v", err)
	}

	callCtx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-callCtx.Done()
	for i := range 8 { // the message lane's eight workers time out together
		err := g.outcome(ctx, callCtx, mUpdate, "C2", callCtx.Err())
		var d *approvals.DeferError
		if !errors.As(err, &d) || !d.Until.Equal(clock.Now().Add(heldFor)) || d.Reason != reasonHeld {
			t.Fatalf("timeout %d: %v, want held until %v for %q", i, err, clock.Now().Add(heldFor), reasonHeld)
		}
	}
	if n := len(g.downs); n != 1 {
		t.Errorf("eight timeouts told the prober %d times, want once", n)
	}
	laterUntil(t, g.admit(mUpdate, "C3"))
	if err := g.outcome(ctx, ctx, mUpdate, "C2", slack.SlackErrorResponse{Err: "channel_not_found"}); err == nil || isLater(err) {
		t.Errorf("a refusal must stay an error, got %v", err)
	}
	g.reopen()
	if err := g.admit(mUpdate, "C3"); err != nil {
		t.Errorf("after a probe was answered: %v", err)
	}

	// Without a prober, the gate opens by itself after heldFor.
	laterUntil(t, g.outcome(ctx, callCtx, mUpdate, "C2", callCtx.Err()))
	clock.Advance(heldFor)
	if err := g.admit(mUpdate, "C3"); err != nil {
		t.Errorf("heldFor after the last timeout, with no prober: %v", err)
	}
	if err := g.outcome(ctx, ctx, mUpdate, "C2", nil); err != nil || g.down {
		t.Errorf("an answer: %v, down=%v", err, g.down)
	}
}
