package review

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"go.uber.org/zap"
)

// RunSuspendJob performs a JobSuspend (access lane). Every step is safe to
// repeat after a crash:
//
//  1. the person's group memberships (and roles, where readable) are
//     recorded, once: a retry reuses the first record;
//  2. the Admin API v2 suspend is called (suspending a suspended account
//     succeeds); an IdP-managed refusal ends the item "deactivate at the IdP";
//  3. the person's active JIT grants are revoked through the approvals
//     engine (only grants still active are listed, so none twice);
//  4. the item becomes suspended with its audit event, in one transaction
//     that only an item still suspending can pass: one suspension, one record.
//
// An error is retried by the outbox; when it gives up it calls
// SuspendJobFailed.
func (e *Engine) RunSuspendJob(ctx context.Context, j *approvals.Job) error {
	return e.suspendItem(ctx, JobRef(j))
}

func (e *Engine) suspendItem(ctx context.Context, itemID string) error {
	var (
		it  *Item
		rec *Suspension
	)
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		if it, err = tx.GetItem(itemID); err != nil {
			return err
		}
		rec, err = tx.SuspensionOfItem(itemID)
		if notFound(err) {
			rec, err = nil, nil
		}
		return err
	})
	if notFound(err) {
		return approvals.Permanent(fmt.Errorf("review item %s does not exist", itemID))
	}
	if err != nil {
		return err
	}
	if it.State != ItemSuspending {
		return nil // done already, or answered Keep before the job ran
	}
	if e.dryRun {
		// jitbot run --dry-run changes nothing, whoever decided.
		return e.store.UpdateReview(ctx, func(tx Tx) error {
			cur, err := tx.GetItem(it.ID)
			if err != nil || cur.State != ItemSuspending {
				return err
			}
			run, err := tx.GetRun(cur.RunID)
			if err != nil {
				return err
			}
			cur.State, cur.DoneAt, cur.Would = ItemDryRun, e.now(), "suspend (jitbot runs in dry-run mode: nothing was changed)"
			if err := tx.UpdateItem(cur, ItemSuspending); err != nil {
				return err
			}
			return e.itemDoneTx(tx, run, cur)
		})
	}
	at, err := e.where(it.Rule, it.Email, it.IdPManaged) // idp.go
	if err != nil {
		return err
	}
	if e.accounts == nil {
		return approvals.Permanent(errors.New("no Atlassian Admin API is configured to suspend accounts"))
	}
	if it.AccountID == "" && at.acc == nil {
		return approvals.Permanent(fmt.Errorf("%s has no Atlassian account id", it.Email))
	}
	log := e.log.With(zap.String("item_id", it.ID), zap.String("run_id", it.RunID), zap.String("person", it.Email))
	fresh := rec == nil // no earlier attempt got as far as the suspend call
	if fresh {
		if rec, err = e.recordMemberships(ctx, it); err != nil {
			return err
		}
	}
	outcome, note := ItemSuspended, ""
	if err := at.suspend(ctx, e, it); err != nil {
		switch {
		case errors.Is(err, ErrManagedByIdP) || (it.IdPManaged && approvals.IsPermanent(err)):
			log.Warn("suspension refused: managed by the identity provider", zap.Error(err))
			return e.refused(ctx, it, err)
		case errors.Is(err, ErrAlreadySuspended) && fresh:
			// Someone suspended the account between the run and now: the
			// evidence must not say jitbot did.
			outcome, note = ItemAlreadySuspended, "found already suspended when jitbot came to suspend"
		case errors.Is(err, ErrAlreadySuspended):
			// An earlier attempt of this job suspended it, then crashed.
		default:
			return err
		}
	}
	if e.hooks.AfterSuspendCall != nil {
		e.hooks.AfterSuspendCall(it)
	}
	revoked, err := e.revokeGrants(ctx, it)
	if err != nil {
		return err
	}
	err = e.store.UpdateReview(ctx, func(tx Tx) error {
		cur, err := tx.GetItem(it.ID)
		if err != nil {
			return err
		}
		if cur.State != ItemSuspending {
			return nil
		}
		run, err := tx.GetRun(cur.RunID)
		if err != nil {
			return err
		}
		now := e.now()
		cur.State, cur.DoneAt = outcome, now
		if note != "" {
			cur.Finding = note
		}
		if err := tx.UpdateItem(cur, ItemSuspending); err != nil {
			return err
		}
		rec.State, rec.SuspendedAt = SuspensionSuspended, now
		if err := tx.UpdateSuspension(rec); err != nil {
			return err
		}
		data := map[string]string{"run_id": cur.RunID, "item_id": cur.ID, "suspension_id": rec.ID,
			"decided_by": cur.DecidedBy, "groups": strconv.Itoa(len(rec.Groups)), "api": at.api + " suspend"}
		if note != "" {
			data["note"] = note
		}
		if len(revoked) > 0 {
			data["jit_grants_revoked"] = strings.Join(revoked, ",")
		}
		if err := e.event(tx, approvals.ActorSystem, ActionSuspended, cur.Email, cur.Rule, cur.Reason, data); err != nil {
			return err
		}
		*it = *cur
		return e.itemDoneTx(tx, run, cur)
	})
	if err == nil {
		log.Info("suspended", zap.Int("groups_recorded", len(rec.Groups)), zap.Int("jit_grants_revoked", len(revoked)))
		e.poke()
	}
	return err
}

// recordMemberships reads and records the person's memberships before the
// suspension.
func (e *Engine) recordMemberships(ctx context.Context, it *Item) (*Suspension, error) {
	groups, err := e.accounts.GroupsOf(ctx, it.AccountID)
	if err != nil {
		return nil, fmt.Errorf("read %s's group memberships before suspending: %w", it.Email, err)
	}
	rec := &Suspension{ID: uuid.NewString(), Email: it.Email, AccountID: it.AccountID, ItemID: it.ID, RunID: it.RunID,
		Rule: it.Rule, State: SuspensionRecorded, Groups: groups, DecidedBy: it.DecidedBy, Reason: it.Reason, RecordedAt: e.now()}
	if rr, ok := e.accounts.(RoleReader); ok {
		roles, err := rr.RolesOf(ctx, it.AccountID)
		if err != nil {
			return nil, fmt.Errorf("read %s's roles before suspending: %w", it.Email, err)
		}
		rec.Roles, rec.RolesRead = roles, true
	}
	err = e.store.UpdateReview(ctx, func(tx Tx) error {
		if _, err := tx.SuspensionOfItem(it.ID); err == nil {
			return approvals.ErrConflict // another worker recorded first
		}
		if err := tx.InsertSuspension(rec); err != nil {
			return err
		}
		names := make([]string, len(groups))
		for i, g := range groups {
			names[i] = g.Name
		}
		data := map[string]string{"run_id": it.RunID, "item_id": it.ID, "suspension_id": rec.ID, "groups": strings.Join(names, ",")}
		if rec.RolesRead {
			data["roles"] = strings.Join(rec.Roles, ",")
		}
		return e.event(tx, approvals.ActorSystem, ActionRecorded, it.Email, it.Rule, "before suspension", data)
	})
	if conflict(err) {
		return nil, fmt.Errorf("memberships of %s were recorded by another worker: retry", it.Email)
	}
	return rec, err
}

// revokeGrants revokes the person's live JIT grants.
func (e *Engine) revokeGrants(ctx context.Context, it *Item) ([]string, error) {
	if e.access == nil {
		return nil, nil
	}
	rs, err := e.access.List(ctx, approvals.RequestFilter{Requester: it.Email,
		States: []approvals.State{approvals.StateApproved, approvals.StateActive}})
	if err != nil {
		return nil, fmt.Errorf("list %s's JIT grants: %w", it.Email, err)
	}
	var out []string
	for _, r := range rs {
		reason := fmt.Sprintf("account suspended by licence review (rule %s, run %s)", it.Rule, approvals.Short(it.RunID))
		_, err := e.access.Revoke(ctx, r.ID, "review:"+it.Rule, reason)
		if err != nil && errorCode(err) != EConflict {
			return out, fmt.Errorf("revoke %s's grant %s: %w", it.Email, approvals.Short(r.ID), err)
		}
		if err == nil {
			out = append(out, r.ID)
			if err := e.store.UpdateReview(ctx, func(tx Tx) error {
				return e.event(tx, approvals.ActorSystem, ActionGrantRevoked, it.Email, it.Rule, reason,
					map[string]string{"run_id": it.RunID, "item_id": it.ID, "request_id": r.ID, "resource": r.Resource})
			}); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// refused ends an item whose suspension the Admin API refused because an
// identity provider manages the account.
func (e *Engine) refused(ctx context.Context, it *Item, cause error) error {
	err := e.store.UpdateReview(ctx, func(tx Tx) error {
		return e.endFailedTx(tx, it.ID, ItemIdPManaged, ActionSuspensionRefused,
			"managed by the identity provider: deactivate at the IdP ("+cause.Error()+")")
	})
	if err == nil {
		e.poke() // the alert and the card's update are queued
	}
	return err
}

// SuspendJobFailedTx records, in the transaction that marks a JobSuspend
// failed, what giving up means: the item ends failed and IT is alerted
// (the digest and the CSV list it too).
func (e *Engine) SuspendJobFailedTx(tx Tx, j *approvals.Job, cause error) error {
	return e.endFailedTx(tx, JobRef(j), ItemFailed, ActionSuspensionFailed, "suspension failed: "+cause.Error())
}

// AlertRaiser records an alert for IT in a transaction and queues its
// delivery: the approvals engine, when Access is one.
type AlertRaiser interface {
	RaiseAlertTx(tx approvals.Tx, requestID, subject, message string, data map[string]string) error
}

var (
	_ AlertRaiser = (*approvals.Service)(nil)
	_ Registrar   = (*approvals.Service)(nil)
)

func (e *Engine) endFailedTx(tx Tx, itemID string, state ItemState, action, reason string) error {
	cur, err := tx.GetItem(itemID)
	if err != nil {
		return err
	}
	if cur.State != ItemSuspending {
		return nil
	}
	run, err := tx.GetRun(cur.RunID)
	if err != nil {
		return err
	}
	now := e.now()
	cur.State, cur.DoneAt, cur.Reason = state, now, reason
	if err := tx.UpdateItem(cur, ItemSuspending); err != nil {
		return err
	}
	rec, err := tx.SuspensionOfItem(cur.ID)
	switch {
	case err == nil:
		rec.State = SuspensionRefused
		if err := tx.UpdateSuspension(rec); err != nil {
			return err
		}
	case !notFound(err):
		return err
	}
	data := map[string]string{"run_id": cur.RunID, "item_id": cur.ID, "decided_by": cur.DecidedBy}
	if err := e.event(tx, approvals.ActorSystem, action, cur.Email, cur.Rule, reason, data); err != nil {
		return err
	}
	alert := fmt.Sprintf("licence review could not suspend %s (rule %s): %s", cur.Email, cur.Rule, reason)
	atx, isApprovals := tx.(approvals.Tx)
	if ar, ok := e.access.(AlertRaiser); ok && isApprovals {
		if err := ar.RaiseAlertTx(atx, "", cur.Email, alert, data); err != nil {
			return err
		}
	} else if err := e.event(tx, approvals.ActorSystem, approvals.ActionAlert, cur.Email, cur.Rule, alert, data); err != nil {
		return err
	}
	return e.itemDoneTx(tx, run, cur)
}

// Restore gives a suspended person their access back (Admin API v2
// restore), then compares their memberships with those recorded at
// suspension and re-adds what is missing under today's policy: a group
// that no longer exists is reported, not recreated; a membership today's
// policy forbids is reported, not re-added. Their inactivity counts from
// the restore, so the next run does not suspend them again at once.
func (e *Engine) Restore(ctx context.Context, email, by string) (*RestoreReport, error) {
	email, by = normEmail(email), strings.TrimSpace(by)
	if e.accounts == nil {
		return nil, approvals.Errorf(EInvalid, "no Atlassian Admin API is configured to restore accounts")
	}
	var (
		u   *User
		rec *Suspension
	)
	err := e.store.ViewReview(ctx, func(tx Tx) error {
		var err error
		rec, err = tx.LatestSuspension(email)
		if notFound(err) {
			rec, err = nil, nil
		}
		if err != nil {
			return err
		}
		u, err = tx.UserByEmail(email)
		switch {
		case notFound(err) && rec != nil:
			// Not in the last sync (a suspended account may be hidden from
			// it): the record knows the account.
			u, err = &User{DirectoryUser: DirectoryUser{AccountID: rec.AccountID, Email: email, MembershipStatus: MembershipSuspended}}, nil
		case notFound(err):
			return approvals.Errorf(ENotFound, "%s is neither in the synced Atlassian directory nor in jitbot's suspension records (run jitbot activity sync)", email)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	rep := &RestoreReport{Email: email, AccountID: u.AccountID, By: by, At: e.now(), Recorded: rec != nil,
		WasActive: !u.Suspended() && (rec == nil || rec.State != SuspensionSuspended)}
	rule := ""
	if rec != nil {
		rule = rec.Rule
	}
	at, err := e.where(rule, email, u.IdPManaged()) // idp.go: where the suspension was
	if err != nil {
		return nil, err
	}
	if err := at.restore(ctx, e, email, u.AccountID); err != nil {
		return nil, fmt.Errorf("restore %s: %w", email, err)
	}
	current, err := e.accounts.GroupsOf(ctx, u.AccountID)
	if err != nil {
		return nil, fmt.Errorf("read %s's memberships after the restore: %w", email, err)
	}
	p := e.Policy()
	if rec != nil {
		rep.SuspendRef, rep.Roles = rec.ID, rec.Roles
		for _, g := range rec.Groups {
			back := slices.ContainsFunc(current, func(c Group) bool { return c.ID == g.ID })
			if ok, why := e.allowed(p, email, g); !ok {
				if back {
					why += "; it came back with the account: remove it if it should not be there"
				}
				rep.Forbidden = append(rep.Forbidden, Forbidden{Group: g, Why: why})
				continue
			}
			if back {
				rep.Back = append(rep.Back, g)
				continue
			}
			switch err := e.accounts.AddToGroup(ctx, g, u.AccountID, email); {
			case err == nil:
				rep.ReAdded = append(rep.ReAdded, g)
			case errors.Is(err, ErrGroupNotFound):
				rep.Deleted = append(rep.Deleted, g)
			default:
				rep.Failed = append(rep.Failed, FailedGroup{Group: g, Error: err.Error()})
			}
		}
	} else {
		rep.Back = current
	}
	err = e.store.UpdateReview(ctx, func(tx Tx) error {
		if rec != nil {
			rec.State, rec.RestoredAt, rec.RestoredBy, rec.Restore = SuspensionRestored, rep.At, by, rep
			if err := tx.UpdateSuspension(rec); err != nil {
				return err
			}
		} else {
			// No record: keep one of the restore, for the evidence and so
			// that inactivity counts from now.
			if err := tx.InsertSuspension(&Suspension{ID: uuid.NewString(), Email: email, AccountID: u.AccountID,
				State: SuspensionRestored, RecordedAt: rep.At, RestoredAt: rep.At, RestoredBy: by, Restore: rep,
				Reason: "restored without a suspension record"}); err != nil {
				return err
			}
		}
		data := map[string]string{"back": groupNames(rep.Back), "re_added": groupNames(rep.ReAdded),
			"deleted": groupNames(rep.Deleted), "api": at.api + " restore", "recorded": strconv.FormatBool(rep.Recorded)}
		var forb, failed []string
		for _, f := range rep.Forbidden {
			forb = append(forb, f.Name)
		}
		for _, f := range rep.Failed {
			failed = append(failed, f.Name)
		}
		data["forbidden"], data["failed"] = strings.Join(forb, ","), strings.Join(failed, ",")
		if rec != nil {
			data["suspension_id"], data["run_id"] = rec.ID, rec.RunID
		}
		return e.event(tx, by, ActionRestored, email, "", "restored by "+by, data)
	})
	if err != nil {
		return rep, err
	}
	e.log.Info("restored", zap.String("person", email), zap.Int("re_added", len(rep.ReAdded)),
		zap.Int("deleted", len(rep.Deleted)), zap.Int("forbidden", len(rep.Forbidden)), zap.Int("failed", len(rep.Failed)))
	return rep, nil
}

func groupNames(gs []Group) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Name
	}
	return strings.Join(names, ",")
}
