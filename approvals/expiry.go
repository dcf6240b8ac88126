package approvals

import (
	"context"
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
		{func(tx Tx, now time.Time) ([]*Request, error) { return tx.DueStarted(now, sweepBatch) },
			func(tx Tx, r *Request) error {
				// A bundle's time runs from its first membership: it ends
				// even while a later one is still being added.
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
		s.pokeLanes()
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
