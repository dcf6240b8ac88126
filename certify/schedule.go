package certify

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"go.uber.org/zap"
)

// Tick does what is due at the engine's clock: campaigns a crash left
// building are finished, each rule whose next campaign has come starts one
// (a rule seen for the first time, or whose schedule changed, is scheduled
// from now), and the sweep escalates and applies defaults.
func (e *Engine) Tick(ctx context.Context) error {
	if err := e.Resume(ctx); err != nil {
		return err
	}
	now := e.now()
	for _, rule := range e.Policy().Certifications {
		var (
			spec string
			at   time.Time
			ok   bool
		)
		if err := e.store.ViewCert(ctx, func(tx Tx) error {
			var err error
			spec, at, ok, err = tx.NextCampaign(rule.Name)
			return err
		}); err != nil {
			return err
		}
		if !ok || spec != rule.Schedule {
			next := rule.Next(now)
			if err := e.store.UpdateCert(ctx, func(tx Tx) error { return tx.SetNextCampaign(rule.Name, rule.Schedule, next) }); err != nil {
				return err
			}
			continue
		}
		if at.After(now) {
			continue
		}
		if c, err := e.Start(ctx, rule, TriggerSchedule); approvals.ErrorCode(err) == EOpen {
			e.log.Warn("certification: the scheduled campaign is skipped, the last one is still open",
				zap.String("rule", rule.Name), zap.String("campaign_id", c.ID))
		} else if err != nil {
			return err
		}
	}
	_, err := e.Sweep(ctx)
	return err
}

// NextWake returns when Tick has something to do next: the earliest next
// campaign or item deadline.
func (e *Engine) NextWake(ctx context.Context) (time.Time, bool, error) {
	next, ok, err := e.NextDeadline(ctx)
	if err != nil {
		return next, ok, err
	}
	for _, rule := range e.Policy().Certifications {
		var (
			at  time.Time
			has bool
		)
		if err := e.store.ViewCert(ctx, func(tx Tx) error {
			var err error
			_, at, has, err = tx.NextCampaign(rule.Name)
			return err
		}); err != nil {
			return next, ok, err
		}
		if has && (!ok || at.Before(next)) {
			next, ok = at, true
		}
	}
	return next, ok, nil
}

// Loop calls Tick at every deadline, and at least every SweepInterval (an
// answer recorded by another process), until ctx ends. Errors are logged
// and retried with a backoff.
func (e *Engine) Loop(ctx context.Context) error {
	backoff := time.Duration(0)
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, time.Second), e.interval)
			e.log.Error("certification scheduler", zap.Error(err), zap.Duration("retry_in", backoff))
		} else {
			backoff = 0
		}
		wait := e.interval
		if backoff > 0 {
			wait = backoff
		} else if next, ok, err := e.NextWake(ctx); err == nil && ok {
			wait = min(wait, max(next.Sub(e.clock.Now()), 0))
		}
		t := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.Chan():
		case <-e.wake:
			t.Stop()
		}
	}
}
