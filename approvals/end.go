package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, id, by string) (*Request, error) {
	return s.update(ctx, id, func(tx Tx, r *Request) error {
		if !strings.EqualFold(by, r.Requester) {
			return Errorf(EForbidden, "only %s can cancel this request", r.Requester)
		}
		if r.State != StatePending {
			return Errorf(EConflict, "this request is %s; only a pending request can be cancelled", r.State)
		}
		if err := s.transition(tx, r, StateCancelled, strings.ToLower(by), ActionRequestCancelled, "cancelled by the requester", nil); err != nil {
			return err
		}
		return s.notify(tx, r, NoteCancelled)
	})
}

// resourceGone says why a pending request whose resource the policy in
// force no longer has ends: it cannot be decided (there is nothing to
// grant), and is not left to time out.
func resourceGone(r *Request) string {
	return fmt.Sprintf("%s is no longer in the catalogue (a policy change removed it), so nothing was granted", r.Resource)
}

// endGoneTx ends pending request r, whose resource is gone from the
// policy in force, telling the requester and the approvers (the request's
// notification) and recording why.
func (s *Service) endGoneTx(tx Tx, r *Request) error {
	r.DecidedBy = ActorSystem
	if err := s.transition(tx, r, StateCancelled, ActorSystem, ActionRequestCancelled, resourceGone(r),
		map[string]string{"resource_removed": r.Resource}); err != nil {
		return err
	}
	return s.notify(tx, r, NoteCancelled)
}

// endGone ends every pending request whose resource the policy in force no
// longer has (SetPolicy calls it: at start-up and at each reload).
func (s *Service) endGone(ctx context.Context) error {
	var ids []string
	if err := s.store.View(ctx, func(tx Tx) error {
		rs, err := tx.ListRequests(RequestFilter{States: []State{StatePending}})
		for _, r := range rs {
			if len(s.Policy().Leaves(r.Resource)) == 0 {
				ids = append(ids, r.ID)
			}
		}
		return err
	}); err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		_, err := s.update(ctx, id, func(tx Tx, r *Request) error {
			if r.State != StatePending || len(s.Policy().Leaves(r.Resource)) > 0 {
				return nil // decided meanwhile, or back in the catalogue
			}
			return s.endGoneTx(tx, r)
		})
		errs = append(errs, err)
	}
	if len(ids) > 0 {
		s.log.Info("pending requests for resources the policy removed were ended", zap.Int("requests", len(ids)))
	}
	return errors.Join(errs...)
}

// Release ends a grant early at its requester's wish.
func (s *Service) Release(ctx context.Context, id, by string) (*Request, error) {
	return s.update(ctx, id, func(tx Tx, r *Request) error {
		if !strings.EqualFold(by, r.Requester) {
			return Errorf(EForbidden, "only %s can release this access", r.Requester)
		}
		return s.endTx(tx, r, StateReleased, strings.ToLower(by), ActionRequestReleased, "released early by the requester")
	})
}

// Revoke ends a grant on IT's authority (the CLI, or the Slack IT commands).
func (s *Service) Revoke(ctx context.Context, id, by, reason string) (*Request, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, Errorf(EInvalid, "a revocation needs a reason")
	}
	return s.update(ctx, id, func(tx Tx, r *Request) error {
		return s.endTx(tx, r, StateRevoked, by, ActionRequestRevoked, reason)
	})
}

// CheckExtend returns request id when by may extend it, or why not: the
// one place that decides, for the Extend button and Extend itself.
func (s *Service) CheckExtend(ctx context.Context, id, by string) (*Request, error) {
	orig, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(by, orig.Requester) {
		return nil, Errorf(EForbidden, "only %s can extend this access", orig.Requester)
	}
	if orig.State != StateActive && orig.State != StateApproved {
		return nil, Errorf(EConflict, "this request is %s; only active access can be extended", orig.State)
	}
	return orig, nil
}

// Extend files a new request for more time on an active grant, under the
// same rules as any request.
func (s *Service) Extend(ctx context.Context, id, by string, d time.Duration, reason string) (*Request, error) {
	orig, err := s.CheckExtend(ctx, id, by)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		reason = "extension of " + short(orig.ID) + ": " + orig.Reason
	}
	return s.Submit(ctx, SubmitInput{Requester: orig.Requester, Resource: orig.Resource, Duration: d,
		Reason: reason, Ticket: orig.Ticket, ExtendsID: orig.ID})
}

// endTx ends an approved or active request and queues its revocations.
func (s *Service) endTx(tx Tx, r *Request, to State, actor, action, reason string) error {
	if r.State != StateActive && r.State != StateApproved {
		return Errorf(EConflict, "this request is %s; there is no access to end", r.State)
	}
	r.EndedAt = s.now()
	if err := s.transition(tx, r, to, actor, action, reason, nil); err != nil {
		return err
	}
	return s.revokeGrantsTx(tx, r)
}

// revokeGrantsTx moves every live grant of r to revoking with a revoke job.
func (s *Service) revokeGrantsTx(tx Tx, r *Request) error {
	gs, err := tx.GrantsOf(r.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, g := range gs {
		if g.State != GrantProvisioning && g.State != GrantActive {
			continue
		}
		from := g.State
		g.State, g.UpdatedAt = GrantRevoking, now
		if err := tx.UpdateGrant(g, from); err != nil {
			return err
		}
		if err := s.Enqueue(tx, &Job{Kind: JobRevoke, Key: g.Membership().JobKey(), RequestID: r.ID, GrantID: g.ID, RunAt: now}); err != nil {
			return err
		}
		// A provisioning retry waiting out its backoff would hold the
		// revocation queued behind it: let it run now and see the grant
		// is revoking.
		if err := tx.HurryGrantJobs(g.ID, now); err != nil {
			return err
		}
		// A later grant of the same membership that is approved but not
		// yet in keeps the membership from now on: its clock starts now.
		covering, err := tx.CoveringGrants(g.Membership(), g.ID)
		if err != nil {
			return err
		}
		for _, c := range covering {
			if c.State == GrantProvisioning && c.RequestID != r.ID {
				if err := s.startClockKept(tx, c.RequestID, "the membership was kept for it when request "+short(r.ID)+" ended"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
