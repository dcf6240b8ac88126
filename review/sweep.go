package review

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// sweepBatch is how many due items one transaction moves.
const sweepBatch = 500

// SweepResult counts what one sweep did.
type SweepResult struct {
	Defaulted int // pending items whose answer_within ran out
	Suspended int // warned items whose warn_before ran out (now suspending)
}

// Sweep applies every deadline that has passed: a prompt nobody answered
// within answer_within gets the run's default, a warned person is
// suspended at SuspendAt unless their manager kept them. It reads only
// due items.
func (e *Engine) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	for {
		n := 0
		err := e.store.UpdateReview(ctx, func(tx Tx) error {
			n = 0
			now := e.now()
			due, err := tx.DueItems(now, sweepBatch)
			if err != nil {
				return err
			}
			runs := map[string]*Run{}
			for _, it := range due {
				run := runs[it.RunID]
				if run == nil {
					if run, err = tx.GetRun(it.RunID); err != nil {
						return err
					}
					runs[it.RunID] = run
				}
				switch it.State {
				case ItemPending:
					keep := run.Settings.Default != policies.ReviewDefaultSuspend
					reason := "no answer within " + policies.FormatDuration(run.Settings.AnswerWithin) + ": the rule's default is " + run.Settings.Default
					if err := e.decideTx(tx, run, it, ActorDefault, keep, reason); err != nil {
						return err
					}
					res.Defaulted++
				case ItemWarned:
					reason := "warned " + policies.FormatDuration(run.Settings.WarnBefore) + " before; not kept by the manager"
					if it.KeepRequest != "" {
						reason += " (the person asked to keep access, the manager did not answer)"
					}
					if err := e.decideTx(tx, run, it, ActorPolicy, false, reason); err != nil {
						return err
					}
					res.Suspended++
				}
				n++
			}
			return nil
		})
		if err != nil {
			return res, err
		}
		if n < sweepBatch {
			break
		}
	}
	if res != (SweepResult{}) {
		e.poke()
		e.log.Info("review sweep", zap.Int("defaulted", res.Defaulted), zap.Int("suspended", res.Suspended))
	}
	return res, nil
}

// NextDeadline returns the earliest moment the engine has something to do:
// a rule's next run or an item's deadline.
func (e *Engine) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var (
		next time.Time
		ok   bool
	)
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		if next, ok, err = tx.NextItemDeadline(); err != nil {
			return err
		}
		runs, err := tx.NextRuns()
		if err != nil {
			return err
		}
		p := e.Policy()
		for name, at := range runs {
			if _, in := p.Review.Rule(name); in && (!ok || at.Before(next)) {
				next, ok = at, true
			}
		}
		return nil
	})
	return next, ok, err
}
