package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// ActionAnchored is the audit action recording that the chain head was
// witnessed: its data holds the seq and hash, and the channel it was posted
// to ("" when it was only recorded).
const ActionAnchored = "audit.anchored"

// DefaultAnchorEvery is how often the running bot posts the chain head.
const DefaultAnchorEvery = 24 * time.Hour

// Poster posts a plain message to a chat channel (Slack).
type Poster interface {
	Post(ctx context.Context, channel, text string) error
}

// Chain is what anchoring needs of the store: the events, the head, and a
// write transaction to record the anchor in.
type Chain interface {
	Source
	Head(ctx context.Context) (Anchor, error)
	Update(ctx context.Context, fn func(tx approvals.Tx) error) error
}

// Anchorer posts the chain head to a channel, an outside witness, and
// records that it did in the chain itself. Run does it at start-up when the
// last posted anchor is older than Every, and then every Every; Anchor is
// the synchronous step (`jitbot audit anchor`).
type Anchorer struct {
	Chain   Chain
	Poster  Poster          // nil or an empty Channel: the anchor is only recorded
	Channel string          // where the head is posted
	Clock   clockwork.Clock // default: the real clock
	Log     *zap.Logger     // default: no-op
	Every   time.Duration   // default DefaultAnchorEvery
	// RetryAfter is how long Run waits after a failed anchor (default 15m).
	RetryAfter time.Duration
}

func (a *Anchorer) clock() clockwork.Clock {
	if a.Clock == nil {
		return clockwork.NewRealClock()
	}
	return a.Clock
}

func (a *Anchorer) every() time.Duration {
	if a.Every <= 0 {
		return DefaultAnchorEvery
	}
	return a.Every
}

func (a *Anchorer) log() *zap.Logger {
	if a.Log == nil {
		return zap.NewNop()
	}
	return a.Log
}

func (a *Anchorer) posting() bool { return a.Channel != "" && a.Poster != nil }

// Anchor posts the current head (when a channel is configured) and then
// appends an audit.anchored event with the seq and hash posted. A post that
// fails records nothing.
func (a *Anchorer) Anchor(ctx context.Context) (Anchor, error) {
	head, err := a.Chain.Head(ctx)
	if err != nil {
		return head, err
	}
	now := a.clock().Now().UTC()
	channel := ""
	if a.posting() {
		channel = a.Channel
		text := fmt.Sprintf("jitbot audit anchor `%s` — %s. To check the log later: `jitbot audit verify --anchor %s`",
			head, now.Format(time.RFC3339), head)
		if err := a.Poster.Post(ctx, channel, text); err != nil {
			return head, fmt.Errorf("post the anchor to %s: %w", channel, err)
		}
	}
	// Once posted, the anchor is recorded even if ctx ends meanwhile (a
	// shutdown): otherwise the next start-up would post it again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = a.Chain.Update(rctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Time: now, Actor: approvals.ActorSystem, Action: ActionAnchored,
			Reason: "chain head witnessed outside the database",
			Data:   map[string]string{"seq": strconv.FormatInt(head.Seq, 10), "hash": head.Hash, "channel": channel}})
	})
	return head, err
}

// LastPosted returns when the newest anchor posted to a channel was
// recorded, looking back one period (Every) from now; false when there is
// none in that window, so that an anchor is due.
func (a *Anchorer) LastPosted(ctx context.Context) (time.Time, bool, error) {
	since := a.clock().Now().Add(-a.every())
	var (
		last  time.Time
		found bool
	)
	err := a.Chain.Events(ctx, since, time.Time{}, func(e *approvals.Event) error {
		if e.Action == ActionAnchored && e.Data["channel"] != "" {
			last, found = e.Time, true
		}
		return nil
	})
	return last, found, err
}

// Run anchors at start-up when no anchor was posted in the last period (a
// bot restarted daily must still anchor), then once a period after the
// last one, until ctx ends. Failures are logged and retried after
// RetryAfter; Run returns nil when ctx ends.
func (a *Anchorer) Run(ctx context.Context) error {
	clock, every := a.clock(), a.every()
	retry := a.RetryAfter
	if retry <= 0 {
		retry = 15 * time.Minute
	}
	var wait time.Duration
	if last, ok, err := a.LastPosted(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		a.log().Warn("audit anchor: cannot read the last anchor; anchoring now", zap.Error(err))
	} else if ok {
		wait = last.Add(every).Sub(clock.Now())
	}
	for {
		if wait > 0 {
			t := clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.Chan():
			}
		}
		head, err := a.Anchor(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, context.Canceled):
			return nil
		case err != nil:
			a.log().Error("audit anchor", zap.Error(err), zap.Duration("retry_in", retry))
			wait = retry
		default:
			a.log().Info("audit anchored", zap.String("head", head.String()), zap.String("channel", a.Channel))
			wait = every
		}
	}
}
