package approvals

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"
)

// JobType says how a kind of outbox job is worked.
type JobType struct {
	// Lane is the pool of workers that runs it.
	Lane Lane
	// Run performs the job. It returns nil when done (the worker then
	// marks the job done, unless SelfComplete), an error made by Later to
	// be put back without counting an attempt, a Permanent error to give
	// up at once, or any other error to be retried with backoff.
	Run func(ctx context.Context, j *Job) error
	// SelfComplete says Run marks the job done itself, in the transaction
	// that records its effect (Tx.CompleteJob).
	SelfComplete bool
	// Failed, when set, records in tx what giving up on the job means
	// (the job is already marked failed in tx). It may raise alerts with
	// RaiseAlertTx.
	Failed func(tx Tx, j *Job, cause error) error
}

// Register adds a kind of job. Call it before Run; registering a kind twice
// replaces it.
func (s *Service) Register(kind JobKind, t JobType) {
	if t.Lane == "" {
		t.Lane = LaneAccess
	}
	s.typesMu.Lock()
	defer s.typesMu.Unlock()
	s.types[kind] = t
}

func (s *Service) jobType(kind JobKind) (JobType, bool) {
	s.typesMu.RLock()
	defer s.typesMu.RUnlock()
	t, ok := s.types[kind]
	return t, ok
}

// LaneOf returns the lane jobs of kind run in (LaneAccess for an unknown kind).
func (s *Service) LaneOf(kind JobKind) Lane {
	if t, ok := s.jobType(kind); ok {
		return t.Lane
	}
	return LaneAccess
}

// Enqueue queues j in tx, in the lane its kind is registered for, due now
// unless j.RunAt is set. Packages that register job kinds use it in their
// own transactions.
func (s *Service) Enqueue(tx Tx, j *Job) error {
	if j.Lane == "" {
		j.Lane = s.LaneOf(j.Kind)
	}
	if j.RunAt.IsZero() {
		j.RunAt = s.now()
	}
	return tx.EnqueueJob(j)
}

// DeferError asks the worker to put a job back until Until without counting
// an attempt. Make one with Later.
type DeferError struct {
	Until  time.Time
	Reason string
}

func (e *DeferError) Error() string {
	return fmt.Sprintf("not yet (%s): again at %s", e.Reason, e.Until.UTC().Format(time.RFC3339Nano))
}

// Later returns an error that puts the job back until t without counting an
// attempt: it may not be done yet (a channel's pace, a 429's Retry-After,
// an outage), and the worker moves on instead of waiting.
func Later(t time.Time, reason string) error { return &DeferError{Until: t, Reason: reason} }

// holdBackoff bounds the in-memory backoff of a job whose outcome could not
// be written (disk full, a database locked by another process).
const (
	holdMin = time.Second
	holdMax = time.Minute
)

// runJob performs one job and records its outcome. It returns how long the
// job must not be taken again when the outcome could not be recorded: the
// job is still pending in the store, and taking it again at once would
// repeat its side effects thousands of times a second.
//
// With leaveDone, a job that succeeded and is not SelfComplete is not marked
// done here: runJob reports done and the caller marks it, with others, in a
// transaction it makes anyway (a lane's next claim).
func (s *Service) runJob(ctx context.Context, j *Job, leaveDone bool) (hold time.Duration, done bool) {
	start := s.clock.Now()
	outcome := OutcomeDone
	defer func() {
		if s.observer != nil && ctx.Err() == nil {
			s.observer.JobDone(j.Lane, j.Kind, outcome, s.clock.Since(start))
		}
	}()
	complete, err := s.perform(ctx, j)
	if err == nil && complete && !leaveDone {
		err = s.completeJob(ctx, j)
	}
	if err == nil || ctx.Err() != nil {
		if err == nil {
			s.unhold(j.ID)
			s.pokeLanes() // a job may queue others, or free the next of its key
		}
		return 0, err == nil && complete && leaveDone
	}
	var later *DeferError
	switch {
	case errors.As(err, &later):
		outcome = OutcomeDeferred
	case IsPermanent(err) || j.Attempts+1 >= s.retry.MaxAttempts:
		outcome = OutcomeFailed
	default:
		outcome = OutcomeRetry
	}
	if rerr := s.jobFailed(ctx, j, err); rerr != nil {
		s.log.Error("the outcome of a job could not be recorded; it waits in memory before it runs again",
			zap.Int64("job_id", j.ID), zap.String("kind", string(j.Kind)), zap.Error(rerr), zap.NamedError("cause", err))
		outcome = OutcomeHeld
		return s.nextHold(j.ID), false
	}
	s.unhold(j.ID)
	return 0, false
}

// Job outcomes an Observer is told.
const (
	OutcomeDone     = "done"
	OutcomeDeferred = "deferred" // put back with Later
	OutcomeRetry    = "retry"
	OutcomeFailed   = "failed"
	OutcomeHeld     = "held" // its outcome could not be recorded
)

// Observer is told what the engine does, for metrics. Optional; its
// methods are called from the workers and must return at once.
type Observer interface {
	// JobDone: a job ran, with its outcome and how long it took.
	JobDone(lane Lane, kind JobKind, outcome string, took time.Duration)
	// Removed: a membership was removed lag after the moment its grant
	// ended (its deadline, or the release or revocation).
	Removed(lag time.Duration)
}

// perform runs the job's handler, turning a panic into a permanent failure:
// a panicking job must not take the process down and, at start-up, run
// first again — a crash loop in which nothing expires.
//
// complete says the job succeeded and is still to be marked done (its kind
// is not SelfComplete).
func (s *Service) perform(ctx context.Context, j *Job) (complete bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("job panicked", zap.Int64("job_id", j.ID), zap.String("kind", string(j.Kind)),
				zap.String("request_id", j.RequestID), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			err = Permanent(fmt.Errorf("the %s job crashed (a bug in jitbot: %v)", j.Kind, p))
		}
	}()
	t, ok := s.jobType(j.Kind)
	if !ok {
		return false, Permanent(fmt.Errorf("unknown job kind %q", j.Kind))
	}
	ctx, cancel := context.WithTimeout(ctx, s.jobTimeout)
	defer cancel()
	if err := t.Run(ctx, j); err != nil {
		return false, err
	}
	return !t.SelfComplete, nil
}

func (s *Service) nextHold(id int64) time.Duration {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	d := s.holds[id]
	if d == 0 {
		d = holdMin
	} else {
		d = min(2*d, holdMax)
	}
	s.holds[id] = d
	return d
}

func (s *Service) unhold(id int64) {
	s.holdMu.Lock()
	delete(s.holds, id)
	s.holdMu.Unlock()
}

// jobFailed records a failed attempt: a deferral, a retry with backoff, or,
// for a permanent error or the last attempt, the job's failure and what it
// means (the kind's Failed). It returns an error only when nothing could be
// recorded.
func (s *Service) jobFailed(ctx context.Context, j *Job, cause error) error {
	var later *DeferError
	if errors.As(cause, &later) {
		return s.store.Update(ctx, func(tx Tx) error { return tx.DeferJob(j.ID, later.Until, later.Reason) })
	}
	attempts := j.Attempts + 1
	final := IsPermanent(cause) || attempts >= s.retry.MaxAttempts
	msg := cause.Error()
	log := s.log.With(zap.Int64("job_id", j.ID), zap.String("kind", string(j.Kind)),
		zap.String("request_id", j.RequestID), zap.Int("attempt", attempts))
	t, _ := s.jobType(j.Kind)
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.now()
		next := now.Add(s.retry.delay(attempts))
		if !final && j.Kind == JobProvision {
			// Provisioning may keep trying only so long after approval:
			// what was added of a bundle is live meanwhile.
			r, err := tx.GetRequest(j.RequestID)
			if err != nil {
				return err
			}
			if by := r.DecidedAt.Add(s.provisionFor); !now.Before(by) {
				final = true
				msg = fmt.Sprintf("%s (gave up: provisioning did not succeed within %s of approval)", msg, s.provisionFor)
			} else if next.After(by) {
				next = by
			}
		}
		if !final {
			if err := tx.RetryJob(j.ID, attempts, next, msg); err != nil {
				return err
			}
			if j.RequestID == "" {
				return nil
			}
			r, err := tx.GetRequest(j.RequestID)
			if err != nil {
				return err
			}
			return s.event(tx, r, ActorSystem, ActionJobRetry, msg,
				map[string]string{"job": string(j.Kind), "grant_id": j.GrantID, "attempt": fmt.Sprint(attempts)})
		}
		if err := tx.FailJob(j.ID, msg); err != nil {
			return err
		}
		if t.Failed != nil {
			return t.Failed(tx, j, cause)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if final {
		log.Error("job failed", zap.Error(cause))
	} else {
		log.Warn("job will be retried", zap.Error(cause))
	}
	s.poke()
	return nil
}

// completeJob marks j done.
func (s *Service) completeJob(ctx context.Context, j *Job) error {
	return s.store.Update(ctx, func(tx Tx) error { return tx.CompleteJob(j.ID) })
}

// Resume makes the jobs of lane that were put back for why (a Later's
// reason) due at once, and wakes the lanes: what waited for a front end
// that was down goes as soon as it is back.
func (s *Service) Resume(ctx context.Context, lane Lane, why string) error {
	var n int
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		n, err = tx.HurryDeferred(lane, why, s.now())
		return err
	})
	if err == nil && n > 0 {
		s.pokeLanes()
	}
	return err
}

// Queue queues jobs in one transaction of its own, for packages that add
// work outside the engine's transactions (the Slack front end's own jobs).
func (s *Service) Queue(ctx context.Context, jobs ...*Job) error {
	if len(jobs) == 0 {
		return nil
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		for _, j := range jobs {
			if err := s.Enqueue(tx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.pokeLanes()
	}
	return err
}

// drainBatch is how many due jobs of each lane RunJobs takes at a time.
const drainBatch = 256

// RunJobs performs every outbox job of both lanes that is due, until none
// is left, with up to Workers jobs at once, and returns how many it
// attempted. It is for start-up checks, tools and tests; Run works the
// lanes continuously instead.
func (s *Service) RunJobs(ctx context.Context) (int, error) {
	total := 0
	for {
		var jobs []*Job
		err := s.store.Update(ctx, func(tx Tx) error {
			jobs = nil
			now := s.now()
			for _, lane := range []Lane{LaneAccess, LaneMessage} {
				js, err := tx.ClaimJobs(lane, now, drainBatch, s.owner, now.Add(s.lease), nil)
				if err != nil {
					return err
				}
				jobs = append(jobs, js...)
			}
			return nil
		})
		if err != nil || len(jobs) == 0 {
			return total, err
		}
		total += len(jobs)
		work := make(chan *Job)
		var (
			wg   sync.WaitGroup
			held sync.Map
		)
		for i := 0; i < s.workers && i < len(jobs); i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range work {
					if d, _ := s.runJob(ctx, j, false); d > 0 {
						held.Store(j.ID, d)
					}
				}
			}()
		}
		for _, j := range jobs {
			work <- j
		}
		close(work)
		wg.Wait()
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		stuck := 0
		held.Range(func(any, any) bool { stuck++; return true })
		if stuck > 0 {
			return total, fmt.Errorf("the outcome of %d job(s) could not be recorded", stuck)
		}
		// Jobs create jobs (a provision queues a notification), and a done
		// job lets the next of its key go: go again until nothing is due.
	}
}

// RetryPolicy shapes the outbox worker's retries.
type RetryPolicy struct {
	Base        time.Duration // first delay
	Cap         time.Duration // largest delay
	MaxAttempts int           // then the job fails and IT is alerted
}

// DefaultRetry retries for about an hour before giving up.
var DefaultRetry = RetryPolicy{Base: 2 * time.Second, Cap: 10 * time.Minute, MaxAttempts: 12}

// delay returns the full-jitter backoff before attempt n+1.
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Cap; i++ {
		d *= 2
	}
	if d > p.Cap {
		d = p.Cap
	}
	// Half fixed, half random: never zero, never in lock-step.
	return d/2 + rand.N(d/2+1)
}
