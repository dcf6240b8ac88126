package review

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// staleRun is how long a first pass another process runs may take before
// the scheduler takes it for dead and resumes it.
const staleRun = time.Hour

// RuleSchedule is a rule with its next run, as the store holds it.
type RuleSchedule struct {
	Rule *policies.ReviewRule
	Next time.Time
}

// Schedules returns every rule of the policy with its next run.
func (e *Engine) Schedules(ctx context.Context) ([]RuleSchedule, error) {
	p := e.Policy()
	var out []RuleSchedule
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		for _, r := range p.Review.Rules {
			spec, at, ok, err := tx.NextRun(r.Name)
			if err != nil {
				return err
			}
			if !ok || spec != r.Schedule {
				at = r.Next(e.now())
			}
			out = append(out, RuleSchedule{Rule: r, Next: at})
		}
		return nil
	})
	return out, err
}

// Tick is the scheduler's synchronous step: runs a crash left running are
// resumed, every rule whose next run is due runs (side by side, each
// once however many slots were missed), after a sync when the stored
// activity is older than SyncMaxAge, and then the deadlines are swept.
func (e *Engine) Tick(ctx context.Context) error {
	p := e.Policy()
	now := e.now()
	var due []*policies.ReviewRule
	err := e.store.UpdateReview(ctx, func(tx Tx) error {
		due = nil
		running, err := tx.Runs(RunFilter{States: []RunState{RunRunning}})
		if err != nil {
			return err
		}
		resume := map[string]bool{}
		for _, r := range running {
			if _, ok := p.Review.Rule(r.Rule); !ok {
				// The rule left the policy while its run was interrupted.
				from := r.State
				r.State, r.Error, r.ClosedAt = RunFailed, "the rule is no longer in the policy", now
				if err := tx.UpdateRun(r, from); err != nil {
					return err
				}
				if err := e.event(tx, approvals.ActorSystem, ActionRunFailed, "", r.Rule, r.Error, map[string]string{"run_id": r.ID}); err != nil {
					return err
				}
				continue
			}
			// A run started after this engine by another process (jitbot
			// review run) is that process's to finish, unless it has
			// clearly died.
			if e.liveElsewhere(r, now) {
				continue
			}
			resume[r.Rule] = true
		}
		for _, r := range p.Review.Rules {
			spec, at, ok, err := tx.NextRun(r.Name)
			if err != nil {
				return err
			}
			switch {
			case !ok || spec != r.Schedule:
				// A new rule or a new schedule starts counting from now.
				if err := tx.SetNextRun(r.Name, r.Schedule, r.Next(now)); err != nil {
					return err
				}
				if resume[r.Name] {
					due = append(due, r)
				}
			case !at.After(now) || resume[r.Name]:
				due = append(due, r)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(due) > 0 && e.dir != nil && e.syncAge > 0 {
		if err := e.syncIfStale(ctx, now); err != nil && ctx.Err() == nil {
			e.log.Error("activity sync before the scheduled review failed; reviewing the stored activity", zap.Error(err))
		}
	}
	var wg sync.WaitGroup
	for _, r := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.RunReview(ctx, r, RunOptions{Trigger: TriggerSchedule}); err != nil && !errors.Is(err, ErrRunning) && ctx.Err() == nil {
				e.log.Error("scheduled review", zap.String("rule", r.Name), zap.Error(err))
			}
		}()
	}
	wg.Wait()
	_, err = e.Sweep(ctx)
	return err
}

func (e *Engine) syncIfStale(ctx context.Context, now time.Time) error {
	last, err := e.lastSync(ctx)
	if err != nil {
		return err
	}
	if last != nil && now.Sub(last.StartedAt) < e.syncAge {
		return nil
	}
	_, err = e.Sync(ctx, nil)
	return err
}

// Start runs the scheduler in the background: Tick at once (a run due while
// the bot was down runs now), then whenever the next deadline comes, or
// every SweepInterval at the latest; and, beside it, an activity sync
// whenever the last one is older than SyncMaxAge, so that the history has
// a snapshot a day whatever the rules' schedules. Stop ends both.
func (e *Engine) Start(ctx context.Context) {
	e.loopMu.Lock()
	defer e.loopMu.Unlock()
	if e.cancel != nil {
		return
	}
	ctx, e.cancel = context.WithCancel(ctx)
	done := make(chan struct{})
	e.done = done
	go func() {
		defer close(done)
		e.Loop(ctx)
	}()
}

// Stop ends the scheduler and waits for the current step to finish.
func (e *Engine) Stop() {
	e.loopMu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.loopMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Loop runs the scheduler and the sync loop until ctx ends (Start in the
// foreground).
func (e *Engine) Loop(ctx context.Context) error {
	var wg sync.WaitGroup
	if e.dir != nil && e.syncAge > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.syncLoop(ctx)
		}()
	}
	e.loop(ctx)
	wg.Wait()
	return nil
}

// syncLoop syncs whenever the last complete sync is older than SyncMaxAge.
func (e *Engine) syncLoop(ctx context.Context) {
	for {
		wait := e.syncAge
		if err := e.syncIfStale(ctx, e.now()); err != nil && ctx.Err() == nil {
			e.log.Error("activity sync", zap.Error(err))
			wait = min(wait, 15*time.Minute)
		} else if last, err := e.lastSync(ctx); err == nil && last != nil {
			wait = max(last.StartedAt.Add(e.syncAge).Sub(e.now()), time.Minute)
		}
		timer := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.Chan():
		}
	}
}

func (e *Engine) lastSync(ctx context.Context) (*SyncRecord, error) {
	var last *SyncRecord
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		last, err = tx.LastSync()
		if notFound(err) {
			last, err = nil, nil
		}
		return err
	})
	return last, err
}

func (e *Engine) loop(ctx context.Context) {
	backoff := time.Duration(0)
	for {
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, time.Second), e.interval)
			e.log.Error("review scheduler", zap.Error(err), zap.Duration("retry_in", backoff))
		} else {
			backoff = 0
		}
		wait := e.interval
		if backoff > 0 {
			wait = backoff
		} else if next, ok, err := e.NextDeadline(ctx); err == nil && ok {
			if d := next.Sub(e.clock.Now()); d < wait {
				wait = max(d, 0)
			}
		}
		timer := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.Chan():
		case <-e.wake:
			timer.Stop()
		}
	}
}
