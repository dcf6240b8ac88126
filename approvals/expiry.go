package approvals

import (
	"context"
	"sync"
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
		s.sweepLog.note(s.log, s.clock.Now(), res)
	}
	return res, nil
}

// sweepLogEvery is how often at most the sweep says at info what it did:
// during a burst it runs at every deadline, several times a second.
const sweepLogEvery = 10 * time.Second

// sweepLog sums what the sweeps did between two info lines; each sweep
// that changed something is a debug line of its own.
type sweepLog struct {
	mu     sync.Mutex
	last   time.Time
	sum    SweepResult
	sweeps int
}

func (l *sweepLog) note(log *zap.Logger, now time.Time, res SweepResult) {
	log.Debug("sweep", zap.Int("expired", res.Expired), zap.Int("timed_out", res.TimedOut),
		zap.Int("reminded", res.Reminded), zap.Int("warned", res.Warned))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sum.Expired += res.Expired
	l.sum.TimedOut += res.TimedOut
	l.sum.Reminded += res.Reminded
	l.sum.Warned += res.Warned
	l.sweeps++
	if !l.last.IsZero() && now.Sub(l.last) < sweepLogEvery {
		return
	}
	log.Info("swept", zap.Int("sweeps", l.sweeps), zap.Int("expired", l.sum.Expired), zap.Int("timed_out", l.sum.TimedOut),
		zap.Int("reminded", l.sum.Reminded), zap.Int("warned", l.sum.Warned))
	l.last, l.sum, l.sweeps = now, SweepResult{}, 0
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
