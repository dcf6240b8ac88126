package review

import (
	"context"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
)

// AnswerInput is a manager's (or IT's) answer about one item.
type AnswerInput struct {
	ItemID string
	By     string // the answerer's email, as the front end authenticated them
	Keep   bool   // Keep; false is Suspend
	Reason string // required for Keep: the business reason, shown in the digest and the evidence
	// AsIT says the front end verified that By is an IT member (JITBOT_IT_GROUP):
	// IT may answer for anyone but themselves, and alone answers for the
	// unassigned.
	AsIT bool
}

// Answer records a Keep or Suspend on one item. Who may answer is decided
// from the stored item only: the manager it was assigned to, or IT. The
// change is a compare-and-set: of two answers at once exactly one wins,
// and a second answer is refused with EConflict naming the first.
// A Keep holds for the run's keep_for; a Suspend queues the suspension on
// the access lane at once.
func (e *Engine) Answer(ctx context.Context, in AnswerInput) (*Item, error) {
	in.By, in.Reason = normEmail(in.By), strings.TrimSpace(in.Reason)
	if in.Keep && in.Reason == "" {
		return nil, approvals.Errorf(EInvalid, "say why they still need access: the reason is kept as evidence")
	}
	var out *Item
	err := e.store.UpdateReview(ctx, func(tx Tx) error {
		it, run, err := e.itemAndRun(tx, in.ItemID)
		if err != nil {
			return err
		}
		if err := mayAnswer(it, in.By, in.AsIT); err != nil {
			return err
		}
		if !it.State.Open() || it.State == ItemSuspending {
			return answered(it)
		}
		out = it
		return e.decideTx(tx, run, it, in.By, in.Keep, in.Reason)
	})
	if err != nil {
		if conflict(err) {
			return nil, approvals.Errorf(EConflict, "this person was answered for at the same moment; nothing was recorded, look again")
		}
		return nil, err
	}
	e.poke()
	return out, nil
}

// AnswerAll answers every open item of one prompt (the run and manager, ""
// for IT's unassigned) the same way: Keep all or Suspend all. Items
// answered meanwhile, and the answerer's own, are skipped; it returns the
// items it changed.
func (e *Engine) AnswerAll(ctx context.Context, runID, manager string, in AnswerInput) ([]*Item, error) {
	items, err := e.Prompt(ctx, runID, manager)
	if err != nil {
		return nil, err
	}
	var done []*Item
	for _, it := range items {
		if it.State != ItemPending && it.State != ItemWarned {
			continue
		}
		in.ItemID = it.ID
		got, err := e.Answer(ctx, in)
		switch {
		case err == nil:
			done = append(done, got)
		case errorCode(err) == EConflict:
		case errorCode(err) == ESelfAnswer:
			// Their own item waits for another answerer; the rest are answered.
		default:
			return done, err
		}
	}
	return done, nil
}

// mayAnswer checks the answerer against the stored item. Nobody answers
// for themselves, IT included: an IT member's own item needs another
// member of IT (the evidence would otherwise show a self-review).
func mayAnswer(it *Item, by string, asIT bool) error {
	switch {
	case by == "":
		return approvals.Errorf(ENotAnswerer, "who is answering is not known")
	case by == it.Email && (asIT || it.Unassigned):
		return approvals.Errorf(ESelfAnswer, "you cannot answer for yourself: another member of IT must answer for %s", it.Email)
	case by == it.Email:
		return approvals.Errorf(ESelfAnswer, "you cannot answer for yourself; use \"I still need it\" to ask %s", it.Manager)
	case asIT:
		return nil
	case it.Unassigned:
		return approvals.Errorf(ENotAnswerer, "%s has no manager in jitbot's directory: only IT can answer for them", it.Email)
	case by == it.Manager:
		return nil
	}
	return approvals.Errorf(ENotAnswerer, "only %s (their manager) or IT can answer for %s", it.Manager, it.Email)
}

func answered(it *Item) error {
	who := ""
	if it.DecidedBy != "" {
		who = " by " + it.DecidedBy
	}
	return approvals.Errorf(EConflict, "%s was already answered for: %s%s", it.Email, it.State.Outcome(), who)
}

// decideTx applies a Keep or Suspend to an open item.
func (e *Engine) decideTx(tx Tx, run *Run, it *Item, by string, keep bool, reason string) error {
	now := e.now()
	from := it.State
	it.DecidedBy, it.DecidedAt, it.Reason = by, now, reason
	decision := "suspend"
	if keep {
		decision = "keep"
		it.State, it.DoneAt = ItemKept, now
	} else {
		it.State = ItemSuspending
	}
	if err := tx.UpdateItem(it, from); err != nil {
		return err
	}
	data := map[string]string{"run_id": it.RunID, "item_id": it.ID, "decision": decision}
	if keep && by != ActorDefault {
		k := &Keep{Email: it.Email, Until: now.Add(run.Settings.KeepFor), By: by, Reason: reason, At: now,
			Rule: it.Rule, RunID: it.RunID, ItemID: it.ID}
		if run.Settings.KeepFor <= 0 {
			k.Until = now.Add(policies.DefaultKeepFor)
		}
		if err := tx.PutKeep(k); err != nil {
			return err
		}
		data["keep_until"] = k.Until.Format(time.RFC3339)
	}
	if it.KeepRequest != "" {
		data["keep_request"] = it.KeepRequest
	}
	if err := e.event(tx, by, ActionDecided, it.Email, it.Rule, reason, data); err != nil {
		return err
	}
	if !keep {
		return tx.EnqueueJob(newJob(JobSuspend, it.ID, now))
	}
	return e.itemDoneTx(tx, run, it)
}

// itemDoneTx tells the front end an item has its outcome and closes the
// run when it was the last open one.
func (e *Engine) itemDoneTx(tx Tx, run *Run, it *Item) error {
	now := e.now()
	j := promptJob(JobItemUpdate, it.RunID, it.Manager, now)
	j.Note, j.Coalesce = it.ID, true
	if err := tx.EnqueueJob(j); err != nil {
		return err
	}
	if run.State != RunOpen {
		return nil // still in its first pass: finishRun decides
	}
	counts, err := tx.ItemCounts(run.ID)
	if err != nil {
		return err
	}
	if counts[ItemPending]+counts[ItemWarned]+counts[ItemSuspending] > 0 {
		return nil
	}
	run.State, run.ClosedAt = RunClosed, now
	if err := tx.UpdateRun(run, RunOpen); err != nil {
		return err
	}
	if run.Settings.Digest != "" {
		if err := tx.EnqueueJob(digestJob(run.ID, DigestClosed, now)); err != nil {
			return err
		}
	}
	return e.event(tx, approvals.ActorSystem, ActionRunClosed, "", run.Rule, "every person has an outcome", map[string]string{"run_id": run.ID})
}

// RequestKeep records the person's own "I still need it" on their item and
// hands it to their manager, who decides (Answer). Only the person may.
func (e *Engine) RequestKeep(ctx context.Context, itemID, by, reason string) (*Item, error) {
	by, reason = normEmail(by), strings.TrimSpace(reason)
	if reason == "" {
		return nil, approvals.Errorf(EInvalid, "say why you still need access")
	}
	var out *Item
	err := e.store.UpdateReview(ctx, func(tx Tx) error {
		it, _, err := e.itemAndRun(tx, itemID)
		if err != nil {
			return err
		}
		if by != it.Email {
			return approvals.Errorf(ENotAnswerer, "only %s can ask to keep their own access", it.Email)
		}
		if it.State != ItemPending && it.State != ItemWarned {
			return answered(it)
		}
		from := it.State
		it.KeepRequest, it.KeepRequestedAt = reason, e.now()
		if err := tx.UpdateItem(it, from); err != nil {
			return err
		}
		if err := e.event(tx, by, ActionKeepRequested, it.Email, it.Rule, reason,
			map[string]string{"run_id": it.RunID, "item_id": it.ID, "manager": it.Manager}); err != nil {
			return err
		}
		out = it
		j := newJob(JobKeepRequest, it.ID, e.now())
		j.Key = "review-prompt:" + PromptRef(it.RunID, it.Manager)
		return tx.EnqueueJob(j)
	})
	if conflict(err) {
		return nil, approvals.Errorf(EConflict, "your review changed at the same moment; look again")
	}
	if err == nil {
		e.poke()
	}
	return out, err
}

func (e *Engine) itemAndRun(tx Tx, itemID string) (*Item, *Run, error) {
	it, err := tx.GetItem(itemID)
	if notFound(err) {
		return nil, nil, approvals.Errorf(ENotFound, "no review item %s", itemID)
	}
	if err != nil {
		return nil, nil, err
	}
	run, err := tx.GetRun(it.RunID)
	if err != nil {
		return nil, nil, err
	}
	return it, run, nil
}

// ---- what a front end reads ----

// Item returns one item and its run.
func (e *Engine) Item(ctx context.Context, id string) (*Item, *Run, error) {
	var (
		it  *Item
		run *Run
	)
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		it, run, err = e.itemAndRun(tx, id)
		return err
	})
	return it, run, err
}

// Run returns one run by id (or an unambiguous prefix).
func (e *Engine) Run(ctx context.Context, id string) (*Run, error) {
	var run *Run
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		run, err = tx.GetRun(id)
		if notFound(err) {
			return approvals.Errorf(ENotFound, "no review run %s", id)
		}
		return err
	})
	return run, err
}

// Runs lists runs, newest first.
func (e *Engine) Runs(ctx context.Context, f RunFilter) ([]*Run, error) {
	var out []*Run
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Runs(f)
		return err
	})
	return out, err
}

// Items lists items.
func (e *Engine) Items(ctx context.Context, f ItemFilter) ([]*Item, error) {
	var out []*Item
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Items(f)
		return err
	})
	return out, err
}

// Prompt returns every item of one run assigned to manager ("" for IT's
// unassigned), answered or not: what the manager's message shows.
func (e *Engine) Prompt(ctx context.Context, runID, manager string) ([]*Item, error) {
	manager = normEmail(manager)
	return e.Items(ctx, ItemFilter{RunID: runID, Manager: &manager})
}

// Waiting returns the items still waiting for manager's answer across open
// runs ("" for the unassigned, which IT answers): App Home's "reviews
// waiting for you".
func (e *Engine) Waiting(ctx context.Context, manager string) ([]*Item, error) {
	manager = normEmail(manager)
	return e.Items(ctx, ItemFilter{Manager: &manager, OpenRun: true, States: []ItemState{ItemPending, ItemWarned}})
}

// IsAnswerer reports whether by may answer item it (for UIs deciding which
// buttons to show); the engine checks again on every answer.
func IsAnswerer(it *Item, by string, asIT bool) error { return mayAnswer(it, normEmail(by), asIT) }

// Suspension returns the suspension record of an item: the memberships
// recorded before it (ENotFound when the item never came to a suspension).
func (e *Engine) Suspension(ctx context.Context, itemID string) (*Suspension, error) {
	var rec *Suspension
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		rec, err = tx.SuspensionOfItem(itemID)
		if notFound(err) {
			return approvals.Errorf(ENotFound, "no suspension of review item %s", itemID)
		}
		return err
	})
	return rec, err
}
