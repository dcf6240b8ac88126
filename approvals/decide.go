package approvals

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// approveTx approves r: grants per leaf membership and one provisioning job each.
func (s *Service) approveTx(tx Tx, r *Request, actor, reason, action string) error {
	now := s.now()
	r.DecidedAt, r.DecidedBy = now, actor
	if err := s.transition(tx, r, StateApproved, actor, action, reason, nil); err != nil {
		return err
	}
	leaves := s.Policy().Leaves(r.Resource)
	if len(leaves) == 0 {
		return Errorf(EPolicy, "resource %s is no longer in the catalogue", r.Resource)
	}
	for _, leaf := range leaves {
		g := &Grant{ID: uuid.NewString(), RequestID: r.ID, Person: r.Requester, Resource: leaf.ID,
			Provider: leaf.Provider, Group: leaf.Group, State: GrantProvisioning, CreatedAt: now, UpdatedAt: now}
		if err := tx.InsertGrant(g); err != nil {
			return err
		}
		if err := s.Enqueue(tx, &Job{Kind: JobProvision, Key: g.Membership().JobKey(), RequestID: r.ID, GrantID: g.ID, RunAt: now}); err != nil {
			return err
		}
	}
	return s.notify(tx, r, NoteApproved)
}

// Approve records approver's approval of the current step of request id.
// Who may approve is decided from the stored request only.
func (s *Service) Approve(ctx context.Context, id, approver, comment string) (*Request, error) {
	return s.decide(ctx, id, approver, true, comment)
}

// Decline declines request id on behalf of an approver of its current step.
func (s *Service) Decline(ctx context.Context, id, approver, reason string) (*Request, error) {
	return s.decide(ctx, id, approver, false, reason)
}

func (s *Service) decide(ctx context.Context, id, approver string, approve bool, reason string) (*Request, error) {
	approver = strings.ToLower(strings.TrimSpace(approver))
	var out, gone *Request
	err := s.store.Update(ctx, func(tx Tx) error {
		gone = nil
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		ds, err := tx.Decisions(r.ID)
		if err != nil {
			return err
		}
		if filer, err := filerOf(tx, r.ID); err != nil {
			return err
		} else if filer == approver {
			return Errorf(ESelfApproval, "you filed this request for %s; someone else must decide it", r.Requester)
		}
		if err := s.mayDecide(r, ds, approver); err != nil {
			return err
		}
		if err := s.delegateMayDecide(tx, r, approver); err != nil {
			return err
		}
		if len(s.Policy().Leaves(r.Resource)) == 0 {
			// A policy change removed its resource (filed through a replica
			// still on the old policy, or before this one's reload ended
			// it): it ends now, and the approver is told why.
			gone = r
			return s.endGoneTx(tx, r)
		}
		d := &Decision{RequestID: r.ID, Step: r.CurrentStep, Approver: approver, Approve: approve, Reason: reason, At: s.now()}
		if err := tx.InsertDecision(d); err != nil {
			if errors.Is(err, ErrDuplicate) {
				return Errorf(EAlreadyDone, "you already answered step %d of this request", r.CurrentStep+1)
			}
			return err
		}
		out = r
		if !approve {
			r.DecidedAt, r.DecidedBy = s.now(), approver
			if err := s.transition(tx, r, StateDeclined, approver, ActionRequestDeclined, reason,
				map[string]string{"step": strconv.Itoa(r.CurrentStep + 1)}); err != nil {
				return err
			}
			return s.notify(tx, r, NoteDeclined)
		}
		step := r.Steps[r.CurrentStep]
		ds = append(ds, d)
		count := 0
		for _, d := range ds {
			if d.Step == r.CurrentStep && d.Approve {
				count++ // unique per (step, approver): distinct people
			}
		}
		data := map[string]string{"step": strconv.Itoa(r.CurrentStep + 1), "approvals": strconv.Itoa(count), "quorum": strconv.Itoa(step.Quorum)}
		if approver == r.Requester {
			data["self_approval"] = "allowed by rule"
		}
		if why := step.Added[approver]; why != "" {
			data["added_as"] = why // "escalation" or "delegate of bob@…"
		}
		for _, d := range ds {
			if d.Step < r.CurrentStep && d.Approve && d.Approver == approver {
				data["repeat_approver"] = fmt.Sprintf("approved step %d too; allowed by rule %s (allow_repeat_approver)", d.Step+1, r.Rule)
				break
			}
		}
		if err := s.event(tx, r, approver, ActionApprovalRecorded, reason, data); err != nil {
			return err
		}
		if count < step.Quorum {
			// The request row is unchanged, but its version must still move
			// so that a concurrent decision on a stale read cannot win.
			if err := tx.UpdateRequest(r, r.State); err != nil {
				return err
			}
			return s.notify(tx, r, NoteApproval)
		}
		if r.CurrentStep+1 < len(r.Steps) {
			r.CurrentStep++
			if err := tx.UpdateRequest(r, StatePending); err != nil {
				return err
			}
			if err := s.event(tx, r, approver, ActionRequestAdvanced, "", map[string]string{"step": strconv.Itoa(r.CurrentStep + 1)}); err != nil {
				return err
			}
			if err := s.scheduleEscalation(tx, r); err != nil {
				return err
			}
			return s.notify(tx, r, NoteAdvanced)
		}
		return s.approveTx(tx, r, approver, reason, ActionRequestApproved)
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(EConflict, "this request changed while you were deciding; nothing was recorded, look again")
		}
		return nil, err
	}
	s.poke()
	if gone != nil {
		return nil, Errorf(EPolicy, "This request is ended: %s. The requester is told.", resourceGone(gone))
	}
	return out, nil
}

// mayDecide checks that approver may decide the current step of r, whose
// decisions so far are ds.
func (s *Service) mayDecide(r *Request, ds []*Decision, approver string) error {
	if r.State != StatePending {
		who := ""
		switch {
		case r.DecidedBy == ActorSystem && r.StateReason != "":
			who = ": " + r.StateReason
		case r.DecidedBy != "" && r.DecidedBy != ActorSystem:
			who = " by " + r.DecidedBy
		}
		return Errorf(EConflict, "this request is already %s%s", r.State, who)
	}
	if !s.now().Before(r.ExpiresAt) {
		// The sweep may not have moved it yet: the deadline decides.
		return Errorf(EConflict, "this request expired without a decision at %s; the requester can ask again", r.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if approver == r.Requester && !r.AllowSelf {
		return Errorf(ESelfApproval, "you cannot decide your own request")
	}
	if contains(r.Steps[r.CurrentStep].Approvers, approver) {
		if !r.AllowRepeat {
			for _, d := range ds {
				if d.Step < r.CurrentStep && d.Approve && d.Approver == approver {
					return Errorf(ERepeatApprover, "you approved step %d of this request; step %d needs another person (the two-person rule)", d.Step+1, r.CurrentStep+1)
				}
			}
		}
		return nil
	}
	for i := r.CurrentStep + 1; i < len(r.Steps); i++ {
		if contains(r.Steps[i].Approvers, approver) {
			return Errorf(ENotApprover, "you approve step %d; the request is at step %d of %d", i+1, r.CurrentStep+1, len(r.Steps))
		}
	}
	return Errorf(ENotApprover, "you are not an approver of this request")
}

// MayDecide reports whether approver may decide request r now (for UIs).
func (s *Service) MayDecide(ctx context.Context, r *Request, approver string) error {
	ds, err := s.Decisions(ctx, r.ID)
	if err != nil {
		return err
	}
	return s.mayDecide(r, ds, strings.ToLower(approver))
}
