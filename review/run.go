package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// batchSize is how many items one first-pass transaction inserts.
const batchSize = 500

// RunOptions tune RunReview.
type RunOptions struct {
	DryRun  bool   // report what would happen and change nothing (on top of the rule's dry_run)
	Trigger string // TriggerSchedule or TriggerManual (default)
	// Silent posts nothing: no digest (a dry run from the command line,
	// which prints its report instead, changes nothing, Slack included).
	Silent bool
}

// ErrRunning is returned when a rule's first pass is already under way in
// this process.
var ErrRunning = approvals.Errorf(EConflict, "this review rule is already running")

// RunReview runs one rule now, synchronously: it reads the stored
// directory, decides for every person the rule covers, and records the
// run, its items, their audit events and the jobs they cause (prompts,
// warnings, suspensions, the digest). A run of the rule that a crash left
// running is resumed instead: its items already recorded keep their state,
// so nobody is asked or suspended twice.
func (e *Engine) RunReview(ctx context.Context, rule *policies.ReviewRule, opt RunOptions) (*Run, error) {
	if opt.Trigger == "" {
		opt.Trigger = TriggerManual
	}
	e.runMu.Lock()
	if e.running[rule.Name] {
		e.runMu.Unlock()
		return nil, ErrRunning
	}
	e.running[rule.Name] = true
	e.runMu.Unlock()
	defer func() {
		e.runMu.Lock()
		delete(e.running, rule.Name)
		e.runMu.Unlock()
	}()
	p := e.Policy()
	run, resumed, err := e.startRun(ctx, rule, opt)
	if err != nil {
		return nil, err
	}
	log := e.log.With(zap.String("run_id", run.ID), zap.String("rule", run.Rule))
	if resumed {
		log.Info("resuming review run")
	}
	if err := e.firstPass(ctx, p, rule, run); err != nil {
		if ctx.Err() == nil {
			log.Error("review run", zap.Error(err))
		}
		return run, err
	}
	log.Info("review run done", zap.String("state", string(run.State)), zap.Int("items", run.Counts.Items),
		zap.Int("covered", run.Counts.Covered), zap.Bool("dry_run", run.DryRun))
	e.poke()
	return run, nil
}

// startRun creates the run, or finds the one of this rule a crash left
// running. A scheduled run moves the rule's next run in the same
// transaction, so however long the bot was down it runs once.
func (e *Engine) startRun(ctx context.Context, rule *policies.ReviewRule, opt RunOptions) (*Run, bool, error) {
	var (
		run     *Run
		resumed bool
	)
	err := e.store.UpdateReview(ctx, func(tx Tx) error {
		now := e.now()
		if opt.Trigger == TriggerSchedule {
			if err := tx.SetNextRun(rule.Name, rule.Schedule, rule.Next(now)); err != nil {
				return err
			}
		}
		rs, err := tx.Runs(RunFilter{Rule: rule.Name, States: []RunState{RunRunning}, Limit: 1})
		if err != nil {
			return err
		}
		if len(rs) > 0 {
			if e.liveElsewhere(rs[0], now) {
				// Another process (jitbot review run) is doing this rule's
				// pass right now: this slot is covered by it. The next run
				// has moved all the same, so the slot is not retried.
				run = nil
				return nil
			}
			run, resumed = rs[0], true
			return e.event(tx, approvals.ActorSystem, ActionRunResumed, "", run.Rule, "resumed after a restart",
				map[string]string{"run_id": run.ID})
		}
		run = &Run{ID: uuid.NewString(), Rule: rule.Name, State: RunRunning, Trigger: opt.Trigger,
			DryRun: rule.DryRun || opt.DryRun || e.dryRun, AsOf: now, StartedAt: now, Settings: SettingsOf(rule)}
		run.Settings.DryRun = run.DryRun
		if opt.Silent {
			run.Settings.Digest = ""
		}
		if err := tx.InsertRun(run); err != nil {
			return err
		}
		return e.event(tx, actorOf(opt.Trigger), ActionRunStarted, "", run.Rule, "",
			map[string]string{"run_id": run.ID, "trigger": run.Trigger, "dry_run": strconv.FormatBool(run.DryRun),
				"action": run.Settings.Action, "inactive_for": policies.FormatDuration(run.Settings.InactiveFor)})
	})
	if err == nil && run == nil {
		return nil, false, ErrRunning
	}
	return run, resumed, err
}

// liveElsewhere reports whether a running run was started by another
// process that is presumably still at it: after this engine started, and
// less than an hour ago.
func (e *Engine) liveElsewhere(r *Run, now time.Time) bool {
	return !r.StartedAt.Before(e.bootAt) && now.Sub(r.StartedAt) < staleRun
}

func actorOf(trigger string) string {
	if trigger == TriggerSchedule {
		return approvals.ActorSystem
	}
	return "cli"
}

// firstPass finds the run's people and records them in batches. The
// directory is read on the read pool while a writer commits the batches
// found so far on the write connection (SQLite WAL lets both proceed), so
// reading and writing overlap.
func (e *Engine) firstPass(ctx context.Context, p *policies.Policy, rule *policies.ReviewRule, run *Run) error {
	s := &subject{rule: rule, set: run.Settings, policy: p, asOf: run.AsOf, dryRun: run.DryRun}
	var counts Counts
	seen := map[string]bool{} // emails Atlassian has
	w := e.batchWriter(ctx, run)
	var batch []*Item
	send := func(it *Item) {
		counts.Items++
		batch = append(batch, it)
		if len(batch) == batchSize {
			w.send(batch)
			batch = nil
		}
	}
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		if s.keeps, err = tx.Keeps(run.AsOf); err != nil {
			return err
		}
		if s.restores, err = tx.Restores(); err != nil {
			return err
		}
		if s.open, err = tx.OpenPeople(); err != nil {
			return err
		}
		// Items of this run recorded before a crash are open too: they are
		// not "under review elsewhere".
		mine, err := tx.Items(ItemFilter{RunID: run.ID})
		if err != nil {
			return err
		}
		for _, it := range mine {
			delete(s.open, it.PersonKey)
		}
		return tx.EachUser(func(u *User) error {
			counts.Directory++
			if u.Email != "" && !u.Gone {
				seen[u.Email] = true
			}
			v, it := s.assess(u)
			switch v {
			case VerdictApp:
				counts.Apps++
			case VerdictClosed:
				counts.Closed++
			case VerdictNotCovered:
				counts.NotCovered++
			case VerdictTooNew:
				counts.Covered++
				counts.TooNew++
			case VerdictActive:
				counts.Covered++
				counts.Active++
			case VerdictStillKept:
				counts.Covered++
				counts.StillKept++
			case VerdictUnderReview:
				counts.Covered++
				counts.UnderReview++
			case VerdictItem:
				counts.Covered++
				send(it)
			}
			if err := w.failed(); err != nil {
				return err
			}
			return ctx.Err()
		})
	})
	if err == nil {
		// People jitbot's directory knows that Atlassian does not.
		for _, email := range sortedKeys(p.People) {
			if seen[email] {
				continue
			}
			dept, employment, person := p.ReviewSubject(email, "")
			if p.Review.RuleFor(email, dept, employment) != rule {
				continue
			}
			counts.Covered++
			send(&Item{Rule: rule.Name, PersonKey: "email:" + email, Email: email, Department: dept,
				Manager: person.Manager, Unassigned: person.Manager == "", State: ItemNotInAtlassian,
				Finding: "in jitbot's directory but not in the Atlassian organisation"})
		}
		if len(batch) > 0 {
			w.send(batch)
		}
	}
	werr := w.close()
	if err == nil {
		err = werr
	}
	if err != nil {
		return e.failRun(ctx, run, err)
	}
	if err := e.finishRun(ctx, run, counts); err != nil {
		return err
	}
	if o := e.observer; o != nil {
		outcome := string(run.State)
		if run.DryRun {
			outcome = "dry_run"
		}
		o.ReviewRun(run.Rule, outcome)
	}
	return nil
}

// batchWriter commits a first pass's batches in order on its own goroutine.
type batchWriter struct {
	ch      chan []*Item
	done    chan struct{}
	mu      sync.Mutex
	err     error
	panicky any // a hook's panic, raised again on the caller's goroutine
}

func (e *Engine) batchWriter(ctx context.Context, run *Run) *batchWriter {
	w := &batchWriter{ch: make(chan []*Item, 2), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		written := 0
		for batch := range w.ch {
			if w.failed() != nil || w.panicky != nil {
				continue // drain: the reader stops at its next user
			}
			err := e.store.UpdateReview(ctx, func(tx Tx) error { return e.recordItems(tx, run, batch) })
			if err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				continue
			}
			written += len(batch)
			if e.hooks.AfterBatch != nil {
				func() {
					defer func() {
						if p := recover(); p != nil {
							w.mu.Lock()
							w.panicky, w.err = p, fmt.Errorf("stopped by a hook")
							w.mu.Unlock()
						}
					}()
					e.hooks.AfterBatch(run.ID, written)
				}()
			}
		}
	}()
	return w
}

func (w *batchWriter) send(batch []*Item) { w.ch <- batch }

func (w *batchWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// close waits for the writer; it re-raises a hook's panic (a simulated crash).
func (w *batchWriter) close() error {
	close(w.ch)
	<-w.done
	if w.panicky != nil {
		panic(w.panicky)
	}
	return w.err
}

// recordItems inserts a batch of items with their events and jobs. An item
// a crashed attempt already recorded is left as it is.
func (e *Engine) recordItems(tx Tx, run *Run, batch []*Item) error {
	now := e.now()
	for _, it := range batch {
		it.ID, it.RunID, it.CreatedAt, it.UpdatedAt = uuid.NewString(), run.ID, now, now
		if !it.State.Open() {
			it.DoneAt = now
		}
	}
	inserted, err := tx.InsertItems(batch)
	if err != nil {
		return err
	}
	var (
		events []*approvals.Event
		jobs   []*approvals.Job
	)
	ev := func(actor, action string, it *Item, reason string, data map[string]string) {
		events = append(events, &approvals.Event{Time: now, Actor: actor, Action: action, Subject: it.Email,
			Rule: it.Rule, Reason: reason, Data: data})
	}
	for i, it := range batch {
		if !inserted[i] {
			continue
		}
		data := map[string]string{"run_id": run.ID, "item_id": it.ID}
		switch it.State {
		case ItemSuspending:
			data["decision"] = "suspend"
			ev(it.DecidedBy, ActionDecided, it, it.Reason, data)
			jobs = append(jobs, newJob(JobSuspend, it.ID, now))
		case ItemWarned:
			data["suspend_at"] = it.SuspendAt.Format(time.RFC3339)
			ev(ActorPolicy, ActionWarned, it, it.Finding, data)
			jobs = append(jobs, newJob(JobWarning, it.ID, now))
		case ItemExcluded:
			ev(ActorPolicy, ActionExcluded, it, it.Reason, data)
		}
	}
	if err := tx.AppendEvents(events); err != nil {
		return err
	}
	for _, j := range jobs {
		if err := tx.EnqueueJob(j); err != nil {
			return err
		}
	}
	return nil
}

// finishRun ends the first pass: counts, the prompts to managers (one per
// manager, with their reminders), the digest, and the run's state.
func (e *Engine) finishRun(ctx context.Context, run *Run, first Counts) error {
	return e.store.UpdateReview(ctx, func(tx Tx) error {
		now := e.now()
		run.Counts, run.FinishedAt = first, now
		counts, err := tx.ItemCounts(run.ID)
		if err != nil {
			return err
		}
		managers, err := tx.PromptManagers(run.ID)
		if err != nil {
			return err
		}
		from := run.State
		run.State = RunOpen
		if counts[ItemPending]+counts[ItemWarned]+counts[ItemSuspending] == 0 {
			run.State, run.ClosedAt = RunClosed, now
		}
		if err := tx.UpdateRun(run, from); err != nil {
			return err
		}
		for _, m := range managers {
			if err := tx.EnqueueJob(promptJob(JobPrompt, run.ID, m, now)); err != nil {
				return err
			}
			// Reminders wait days: they must not hold the prompt's key.
			for _, at := range reminders(run.AsOf, run.Settings.AnswerWithin) {
				if err := tx.EnqueueJob(newJob(JobReminder, PromptRef(run.ID, m), at)); err != nil {
					return err
				}
			}
		}
		if run.Settings.Digest != "" {
			if err := tx.EnqueueJob(digestJob(run.ID, DigestOpened, now)); err != nil {
				return err
			}
		}
		data := map[string]string{"run_id": run.ID, "state": string(run.State), "dry_run": strconv.FormatBool(run.DryRun),
			"covered": strconv.Itoa(first.Covered), "items": strconv.Itoa(first.Items), "active": strconv.Itoa(first.Active),
			"too_new": strconv.Itoa(first.TooNew), "still_kept": strconv.Itoa(first.StillKept),
			"prompts": strconv.Itoa(len(managers)), "apps": strconv.Itoa(first.Apps)}
		return e.event(tx, approvals.ActorSystem, ActionRunFinished, "", run.Rule, "", data)
	})
}

// reminders returns when a prompt's manager is reminded: halfway through
// answer_within, and a day before it runs out when it is longer than two days.
func reminders(asOf time.Time, within time.Duration) []time.Time {
	if within <= 0 {
		return nil
	}
	out := []time.Time{asOf.Add(within / 2)}
	if within > 2*policies.Day {
		out = append(out, asOf.Add(within-policies.Day))
	}
	return out
}

// digestJob builds a run's digest job; note is DigestOpened or DigestClosed.
func digestJob(runID, note string, runAt time.Time) *approvals.Job {
	j := newJob(JobDigest, runID, runAt)
	j.Key, j.Note = "review-digest:"+runID, note
	return j
}

// failRun records that a run's first pass failed. A cancelled context
// leaves the run running, to be resumed.
func (e *Engine) failRun(ctx context.Context, run *Run, cause error) error {
	if errors.Is(cause, context.Canceled) || ctx.Err() != nil {
		return cause
	}
	err := e.store.UpdateReview(context.WithoutCancel(ctx), func(tx Tx) error {
		from := run.State
		run.State, run.Error, run.ClosedAt = RunFailed, cause.Error(), e.now()
		if err := tx.UpdateRun(run, from); err != nil {
			return err
		}
		return e.event(tx, approvals.ActorSystem, ActionRunFailed, "", run.Rule, cause.Error(), map[string]string{"run_id": run.ID})
	})
	if err != nil {
		return fmt.Errorf("%w (and recording the failure: %v)", cause, err)
	}
	return cause
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
