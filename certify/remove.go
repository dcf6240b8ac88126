package certify

import (
	"context"
	"fmt"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// runRemove performs a JobRemove (access lane): the membership is removed
// with approvals.Service.RemoveStanding (the membership's lock, a re-check
// of the grants covering it, the provider's idempotent removal), and the
// item's outcome, its audit event, the person's notice after a Convert and
// the job's completion are written in that one transaction. A replay after
// a crash finds the item no longer removing, or the person no longer a
// member, and removes nothing twice.
func (e *Engine) runRemove(ctx context.Context, j *approvals.Job) error {
	it, err := e.item(ctx, j.Ref)
	if approvals.ErrorCode(err) == approvals.ENotFound {
		return approvals.Permanent(fmt.Errorf("certification item %s does not exist", j.Ref))
	}
	if err != nil {
		return err
	}
	if it.State != ItemRemoving {
		return e.store.UpdateCert(ctx, func(tx Tx) error { return tx.CompleteJob(j.ID) })
	}
	if e.dryRun {
		return e.store.UpdateCert(ctx, func(tx Tx) error {
			if err := tx.CompleteJob(j.ID); err != nil {
				return err
			}
			return e.outcomeTx(tx, it.ID, ItemDryRun, "jitbot runs in dry-run mode: nothing was changed")
		})
	}
	outcome, err := e.access.RemoveStanding(ctx, it.Membership(), func(atx approvals.Tx, outcome string) error {
		tx, err := certTx(atx)
		if err != nil {
			return err
		}
		if err := atx.CompleteJob(j.ID); err != nil {
			return err
		}
		state, note := ItemRemoved, "removed from "+it.Group
		switch {
		case outcome == approvals.StandingGone && (j.Attempts > 0 || j.Claims > 1):
			// An earlier attempt may have removed it and then failed or
			// crashed before recording: the membership is gone, as asked.
			note = "removed from " + it.Group + " (confirmed gone on a later attempt)"
		case outcome == approvals.StandingGone:
			state, note = ItemGone, "no longer a member when the removal ran"
		case outcome == approvals.StandingCovered:
			state, note = ItemCovered, "a grant covers it now: the membership goes when that grant ends"
		}
		return e.outcomeTx(tx, it.ID, state, note)
	})
	if err == nil {
		e.log.Info("certification removal done", zap.String("item_id", it.ID), zap.String("group", it.Group),
			zap.String("person", it.Person), zap.String("outcome", outcome))
	}
	return err
}

// outcomeTx writes a removing item's outcome with its event; after a
// Convert that removed the membership, the person is told how to ask for
// it just in time.
func (e *Engine) outcomeTx(tx Tx, itemID string, state ItemState, note string) error {
	it, err := tx.GetCertItem(itemID)
	if err != nil {
		return err
	}
	if it.State != ItemRemoving {
		return nil
	}
	it.State, it.Note = state, note
	if err := tx.UpdateCertItem(it, ItemRemoving); err != nil {
		return err
	}
	data := itemData(it)
	data["answer"], data["outcome"] = it.Answer, string(state)
	if err := tx.Append(&approvals.Event{Time: e.now(), Actor: approvals.ActorSystem, Action: ActionRemoved, Subject: it.Person,
		Resource: it.Resource, Reason: note, Rule: it.Rule, Data: data}); err != nil {
		return err
	}
	if it.Answer == policies.CertConvert && state == ItemRemoved {
		if err := tx.EnqueueJob(&approvals.Job{Kind: JobConverted, Lane: approvals.LaneMessage, Ref: it.ID, RunAt: e.now()}); err != nil {
			return err
		}
	}
	if err := e.progressJob(tx, it.CampaignID); err != nil {
		return err
	}
	return e.maybeClose(tx, it.CampaignID)
}

// removeFailed records that a removal was given up on, and alerts IT.
func (e *Engine) removeFailed(atx approvals.Tx, j *approvals.Job, cause error) error {
	tx, err := certTx(atx)
	if err != nil {
		return err
	}
	it, err := tx.GetCertItem(j.Ref)
	if notFound(err) {
		return nil
	}
	if err != nil || it.State != ItemRemoving {
		return err
	}
	it.State, it.Note = ItemFailed, "the removal failed: "+cause.Error()
	if err := tx.UpdateCertItem(it, ItemRemoving); err != nil {
		return err
	}
	data := itemData(it)
	data["answer"], data["error"] = it.Answer, cause.Error()
	if err := tx.Append(&approvals.Event{Time: e.now(), Actor: approvals.ActorSystem, Action: ActionFailed, Subject: it.Person,
		Resource: it.Resource, Reason: it.Note, Rule: it.Rule, Data: data}); err != nil {
		return err
	}
	if err := e.access.RaiseAlertTx(atx, "", it.Person, fmt.Sprintf("certification: removing %s from %s/%s failed: %v",
		it.Person, it.Provider, it.Group, cause), map[string]string{"item_id": it.ID}); err != nil {
		return err
	}
	if err := e.progressJob(tx, it.CampaignID); err != nil {
		return err
	}
	return e.maybeClose(tx, it.CampaignID)
}
