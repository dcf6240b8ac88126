package approvals

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

// Run is the engine's background work until ctx ends: start-up recovery,
// then four loops side by side, none of which waits for another:
//
//   - the expiry sweep, on its own timer (the next request deadline, never
//     longer than the sweep interval);
//   - the access lane: provisioning, revocation and the other access
//     changes, on Workers workers;
//   - the message lane: notifications and alerts, on MessageWorkers
//     workers;
//   - the look-ups ahead of approval (prepare.go), one at a time;
//
// and, where the store hears other processes' commits (WorkWatcher), a
// watcher that wakes them when the CLI or another replica queues work.
//
// Each lane's workers pull jobs continuously: there is no batch that a slow
// job holds up.
//
// With a Config.Leader (several replicas), the sweep runs only while this
// replica leads (leadSweep); the lanes run on every replica.
func (s *Service) Run(ctx context.Context) error {
	sweep := s.sweepLoop
	if s.leader != nil {
		sweep = s.leadSweep
	} else if _, err := s.Sweep(ctx); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error("start-up sweep", zap.Error(err))
	}
	var wg sync.WaitGroup
	if w, ok := s.store.(WorkWatcher); ok {
		wg.Go(func() {
			if err := w.WatchWork(ctx, s.poke); err != nil && ctx.Err() == nil {
				s.log.Warn("not watching for work other processes queue; the poll finds it", zap.Error(err))
			}
		})
	}
	for _, loop := range []func(context.Context){
		sweep,
		func(ctx context.Context) { s.runLane(ctx, LaneAccess, s.workers, s.wakeAccess, 0) },
		func(ctx context.Context) { s.runLane(ctx, LaneMessage, s.messageWorkers, s.wakeMessage, messageGather) },
		s.runPrepare,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Recover sweeps everything already past due and performs every job that
// is due, synchronously: for tools and tests that want the state settled.
// Run does the sweep itself and leaves the jobs to the lanes.
func (s *Service) Recover(ctx context.Context) error {
	if _, err := s.Sweep(ctx); err != nil {
		return err
	}
	_, err := s.RunJobs(ctx)
	return err
}

// sweepLoop sweeps at every request deadline, when poked (a new deadline
// may be sooner), and at least every sweep interval (work another process
// queued).
func (s *Service) sweepLoop(ctx context.Context) {
	for {
		wait := s.interval
		now := s.clock.Now()
		if next, ok, err := s.NextDeadline(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("next deadline", zap.Error(err))
		} else if ok {
			if d := next.Sub(now); d < wait {
				wait = max(d, 0)
			}
		}
		timer := s.timerAt(now.Add(wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.Chan():
		case <-s.wakeSweep:
			timer.Stop()
		}
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sweep", zap.Error(err))
			// A failing store must not make the loop spin.
			s.sleep(ctx, time.Second)
		}
	}
}

// clockTimer is a timer set for an instant of the service clock.
type clockTimer struct {
	t     clockwork.Timer
	fired chan time.Time // set when the instant had passed as it was set
}

func (t clockTimer) Chan() <-chan time.Time {
	if t.fired != nil {
		return t.fired
	}
	return t.t.Chan()
}

func (t clockTimer) Stop() { t.t.Stop() }

// timerAt returns a timer that fires when the service clock reaches at. A
// timer set "in d" from an earlier reading would fire late by however far
// the clock moved in between; on a test clock, moved in steps, that is a
// whole step or never.
func (s *Service) timerAt(at time.Time) clockTimer {
	t := clockTimer{t: s.clock.NewTimer(max(at.Sub(s.clock.Now()), 0))}
	if now := s.clock.Now(); !now.Before(at) {
		t.fired = make(chan time.Time, 1)
		t.fired <- now
	}
	return t
}

// sleep waits d on the service clock, or until ctx ends.
func (s *Service) sleep(ctx context.Context, d time.Duration) {
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.Chan():
	}
}

// messageGather is how long the message lane lets work gather after a
// wake before it claims: messages wait a few milliseconds more, and a burst
// of access jobs finishing costs a claim per few dozen notifications, not
// one each. Real time, not the engine's clock: it is about CPU, not about
// deadlines.
const messageGather = 15 * time.Millisecond

// laneResult is a worker's word that it finished a job.
type laneResult struct {
	id   int64
	hold time.Duration // >0: the outcome could not be recorded; hold it back
	done bool          // it succeeded; the lane marks it done with its next claim
}

// runLane claims the due jobs of one lane and hands them to its workers as
// they free up. It keeps a few claimed jobs queued so that a worker never
// waits for a claim, and claims again when the queue runs low; it sleeps
// until the lane's next run_at, a poke, a finished job or the sweep
// interval, whichever comes first.
func (s *Service) runLane(ctx context.Context, lane Lane, workers int, wake <-chan struct{}, gather time.Duration) {
	work := make(chan *Job)
	results := make(chan laneResult, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				hold, done := s.runJob(ctx, j, true)
				results <- laneResult{id: j.ID, hold: hold, done: done}
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	log := s.log.With(zap.String("lane", string(lane)))
	var (
		queue   []*Job
		running int
		busy    = map[int64]bool{}      // claimed by this lane: queued, running, or done and not yet marked
		done    []int64                 // succeeded; marked done with the next claim, or when the lane idles
		held    = map[int64]time.Time{} // outcome not recorded: not before
		failing time.Duration           // backoff while the store refuses claims
		// mayBeDue: jobs may be due that no claim has seen (the start, a
		// poke, a timer, a job put back, a claim that took all it asked
		// for). Without it a claim would find nothing: none is made.
		mayBeDue  = true
		lastClaim time.Time // the instant the last claim saw
		// leasedUntil is when the earliest lease of the jobs held runs
		// out. A lease covers the time a job waits in the queue and runs,
		// not just a claim's: the lane renews every lease it holds once a
		// third of it is used (renewAt), so that no job it holds is taken
		// by another replica however long the jobs before it take.
		leasedUntil time.Time
	)
	renewAt := func() time.Time { return leasedUntil.Add(-2 * s.lease / 3) }
	finished := func(r laneResult) {
		running--
		if r.done {
			done = append(done, r.id) // still busy: never claimed again before it is marked
			return
		}
		if ctx.Err() != nil {
			return // interrupted by the stop: still busy, so that its lease is released with the others
		}
		delete(busy, r.id)
		mayBeDue = true // put back, perhaps due at once
		if r.hold > 0 {
			held[r.id] = s.clock.Now().Add(r.hold)
		}
	}
	for {
		// Every result already in: their jobs are marked done together.
		for drained := false; !drained; {
			select {
			case r := <-results:
				finished(r)
			default:
				drained = true
			}
		}
		now := s.clock.Now()
		for id, until := range held {
			if !now.Before(until) {
				delete(held, id)
				mayBeDue = true
			}
		}
		skip := make([]int64, 0, len(busy)+len(held))
		for id := range busy {
			skip = append(skip, id)
		}
		for id := range held {
			skip = append(skip, id)
		}
		// Claim in batches: one write transaction for many jobs, taken
		// again when the queue runs down to half the workers. The jobs
		// done meanwhile are marked in the same transaction (which frees
		// the next job of their keys), or on their own once the lane has
		// nothing running or a worker's worth is waiting.
		needWork := len(queue) <= workers/2
		flush := len(done) > 0 && (len(done) >= workers || running == 0 || (needWork && mayBeDue))
		claim := needWork && (mayBeDue || flush)
		holding := len(busy) - len(done) // queued or running: their leases must last
		renew := holding > 0 && !now.Before(renewAt())
		if (claim || flush || renew) && ctx.Err() == nil {
			want := 0
			if claim {
				want = 3*workers - len(busy) + len(done)
			}
			var claimed []*Job
			at := s.now()
			err := s.record(ctx, func(tx Tx) error { // shared with the access changes finishing meanwhile
				if err := completeJobs(tx, done); err != nil {
					return err
				}
				if renew {
					if err := tx.RenewJobs(s.owner, heldJobs(busy, done), at.Add(s.lease)); err != nil {
						return err
					}
				}
				if want <= 0 {
					return nil
				}
				var err error
				claimed, err = tx.ClaimJobs(lane, at, want, s.owner, at.Add(s.lease), skip)
				return err
			})
			switch {
			case err != nil && ctx.Err() == nil:
				failing = min(max(2*failing, 100*time.Millisecond), 10*time.Second)
				log.Error("claim jobs", zap.Error(err), zap.Duration("retry_in", failing))
			case err == nil:
				failing = 0
				if renew || (holding == 0 && len(claimed) > 0) {
					leasedUntil = at.Add(s.lease) // what it held is renewed, or what it claimed is all it holds
				}
				for _, id := range done {
					delete(busy, id)
				}
				done = done[:0]
				if want > 0 {
					lastClaim = at
					mayBeDue = len(claimed) == want // it took all it asked for: more may be due
				}
				for _, j := range claimed {
					busy[j.ID] = true
					skip = append(skip, j.ID)
				}
				queue = append(queue, claimed...)
			}
		}
		for running < workers && len(queue) > 0 {
			work <- queue[0]
			queue = queue[1:]
			running++
		}
		wait := s.interval
		now = s.clock.Now()
		switch {
		case failing > 0:
			wait = failing
		case mayBeDue && running < workers:
			wait = 0
		case running < workers:
			// A worker is idle: sleep until the next job is due, looking
			// from the instant the last claim saw — a job that fell due
			// since is due now. With every worker busy, a finished job
			// wakes the loop first.
			if next, ok, err := s.nextJobAt(ctx, lane, lastClaim, skip); err == nil && ok {
				wait = min(wait, max(next.Sub(now), 0))
			}
		}
		for _, until := range held {
			wait = min(wait, max(until.Sub(now), 0))
		}
		if failing == 0 && len(busy) > len(done) {
			wait = min(wait, max(renewAt().Sub(now), 0))
		}
		timer := s.timerAt(now.Add(wait))
		select {
		case <-ctx.Done():
			timer.Stop()
			for running > 0 { // interrupted jobs stay busy: their leases are released
				if r := <-results; r.done {
					done = append(done, r.id)
				}
				running--
			}
			s.releaseLeases(lane, busy, done)
			return
		case r := <-results:
			timer.Stop()
			finished(r)
		case <-wake:
			timer.Stop()
			mayBeDue = true
			if gather > 0 && running < workers {
				// Every finished access job wakes this lane: gather what
				// a short moment brings, and claim it in one transaction
				// rather than one claim per job.
				gatherTimer := time.NewTimer(gather)
				select {
				case <-ctx.Done():
				case <-gatherTimer.C:
				}
				gatherTimer.Stop()
			}
		case <-timer.Chan():
			mayBeDue = true
		}
	}
}

// heldJobs returns the jobs of busy that are not done: queued or running.
func heldJobs(busy map[int64]bool, done []int64) []int64 {
	ids := make([]int64, 0, len(busy))
	for id := range busy {
		if !slices.Contains(done, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// completeJobs marks the jobs ids done. One that is no longer pending (its
// lease ran out and another worker finished it) is left as it is.
func completeJobs(tx Tx, ids []int64) error {
	for _, id := range ids {
		if err := tx.CompleteJob(id); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}

// releaseLeases marks done what a stopping lane finished and lets go of the
// jobs it still holds (claimed and queued, or interrupted), so that another
// replica takes them at once instead of when their leases run out.
func (s *Service) releaseLeases(lane Lane, busy map[int64]bool, done []int64) {
	if len(busy) == 0 {
		return
	}
	ids := make([]int64, 0, len(busy))
	for id := range busy {
		ids = append(ids, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.store.Update(ctx, func(tx Tx) error {
		if err := completeJobs(tx, done); err != nil {
			return err
		}
		return tx.ReleaseJobs(s.owner, ids)
	}); err != nil {
		s.log.Warn("leases not released; the jobs wait for them to run out", zap.String("lane", string(lane)), zap.Int("jobs", len(ids)), zap.Error(err))
	}
}

// nextJobAt returns when the first of lane's pending jobs not in skip that
// was not due at after (the last claim's instant; zero: now) becomes due.
func (s *Service) nextJobAt(ctx context.Context, lane Lane, after time.Time, skip []int64) (time.Time, bool, error) {
	if after.IsZero() {
		after = s.now()
	}
	var (
		t  time.Time
		ok bool
	)
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		t, ok, err = tx.NextJobAt(lane, after, skip)
		return err
	})
	return t, ok, err
}
