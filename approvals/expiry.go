package approvals

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// sweepBatch is how many due requests one transaction moves.
const sweepBatch = 1000

// SweepResult counts what one sweep did.
type SweepResult struct {
	Expired  int
	TimedOut int
	Reminded int
	Warned   int
}

// Sweep moves everything past its deadline: active requests whose time is
// up expire (and their revocations are queued), pending requests past their
// TTL time out, approvers are reminded halfway, requesters are warned before
// expiry. It reads only due rows, in batches of one transaction each.
func (s *Service) Sweep(ctx context.Context) (SweepResult, error) {
	var res SweepResult
	type pass struct {
		due   func(tx Tx, now time.Time) ([]*Request, error)
		apply func(tx Tx, r *Request) error
		count *int
	}
	passes := []pass{
		{func(tx Tx, now time.Time) ([]*Request, error) { return tx.DueActive(now, sweepBatch) },
			func(tx Tx, r *Request) error {
				r.EndedAt = s.now()
				return s.endTx(tx, r, StateExpired, ActorSystem, ActionRequestExpired, "the granted time ran out")
			}, &res.Expired},
		{func(tx Tx, now time.Time) ([]*Request, error) { return tx.DuePending(now, sweepBatch) },
			func(tx Tx, r *Request) error {
				if err := s.transition(tx, r, StateTimedOut, ActorSystem, ActionRequestTimedOut, "no decision before the request expired", nil); err != nil {
					return err
				}
				return s.notify(tx, r, NoteTimedOut)
			}, &res.TimedOut},
		{func(tx Tx, now time.Time) ([]*Request, error) { return tx.DueReminders(now, sweepBatch) },
			func(tx Tx, r *Request) error {
				r.Reminded = true
				if err := tx.UpdateRequest(r, StatePending); err != nil {
					return err
				}
				if err := s.event(tx, r, ActorSystem, ActionRequestReminded, "", nil); err != nil {
					return err
				}
				return s.notify(tx, r, NoteReminder)
			}, &res.Reminded},
		{func(tx Tx, now time.Time) ([]*Request, error) { return tx.DueWarnings(now, sweepBatch) },
			func(tx Tx, r *Request) error {
				r.Warned = true
				if err := tx.UpdateRequest(r, StateActive); err != nil {
					return err
				}
				if err := s.event(tx, r, ActorSystem, ActionRequestWarned, "", map[string]string{"ends_at": r.EndsAt.Format(time.RFC3339)}); err != nil {
					return err
				}
				return s.notify(tx, r, NoteExpiring)
			}, &res.Warned},
	}
	for _, p := range passes {
		for {
			n := 0
			err := s.store.Update(ctx, func(tx Tx) error {
				rs, err := p.due(tx, s.now())
				if err != nil {
					return err
				}
				for _, r := range rs {
					if err := p.apply(tx, r); err != nil {
						return err
					}
				}
				n = len(rs)
				return nil
			})
			if err != nil {
				return res, err
			}
			*p.count += n
			if n < sweepBatch {
				break
			}
		}
	}
	if res != (SweepResult{}) {
		s.log.Info("sweep", zap.Int("expired", res.Expired), zap.Int("timed_out", res.TimedOut),
			zap.Int("reminded", res.Reminded), zap.Int("warned", res.Warned))
	}
	return res, nil
}

// NextDeadline returns the earliest deadline in the store, if any.
func (s *Service) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var (
		t  time.Time
		ok bool
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		t, ok, err = tx.NextDeadline()
		return err
	})
	return t, ok, err
}

// Recover is what start-up runs before anything else: everything already
// past due is swept and every job a crash interrupted is finished.
func (s *Service) Recover(ctx context.Context) error {
	if _, err := s.Sweep(ctx); err != nil {
		return err
	}
	_, err := s.RunJobs(ctx)
	return err
}

// Run is the expiry loop and the outbox worker: it recovers, then sleeps
// until the next deadline (never longer than the sweep interval) or until
// new work is poked, sweeps, and runs due jobs. It returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Recover(ctx); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("start-up recovery", zap.Error(err))
	}
	worked := true
	for {
		wait := s.interval
		if next, ok, err := s.NextDeadline(ctx); err != nil {
			s.log.Error("next deadline", zap.Error(err))
		} else if ok {
			if d := next.Sub(s.clock.Now()); d < wait {
				wait = d
			}
		}
		if wait <= 0 {
			wait = 0
			if !worked {
				// Something is due that neither the sweep nor the worker can
				// move (a job held by another process): do not spin.
				wait = time.Second
			}
		}
		timer := s.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.Chan():
		case <-s.wake:
			timer.Stop()
		}
		res, err := s.Sweep(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("sweep", zap.Error(err))
		}
		n, err := s.RunJobs(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("jobs", zap.Error(err))
		}
		worked = n > 0 || res != (SweepResult{})
	}
}
