package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
)

// Break-glass: where the rule allows it, the requester has the access at
// once, without approval, within the rule's break_glass bounds and at most
// MaxUses times in any 30 days. The grant is posted to the rule's channels
// and raised as an alert (the alert channel), and a review after the fact
// opens: the reviewers get a card and answer Acknowledge or Flag (with a
// reason); unanswered after a day, it escalates (an alert, a reminder).
// Every use and its review are audit events: breakglass.used,
// breakglass.acknowledged, breakglass.flagged, breakglass.escalated.

// Audit actions of break-glass.
const (
	ActionBreakGlassUsed         = "breakglass.used"
	ActionBreakGlassAcknowledged = "breakglass.acknowledged"
	ActionBreakGlassFlagged      = "breakglass.flagged"
	ActionBreakGlassEscalated    = "breakglass.escalated"
)

// Job kinds of break-glass.
const (
	// JobBreakGlassReview delivers the review cards (and updates them).
	JobBreakGlassReview JobKind = "breakglass.review"
	// JobBreakGlassEscalate escalates an unanswered review; due at DueAt.
	JobBreakGlassEscalate JobKind = "breakglass.escalate"
)

// BreakGlassReviewAfter is how long a review waits before it escalates.
const BreakGlassReviewAfter = 24 * time.Hour

// BreakGlassNotifier is an optional ability of the Notifier: it shows the
// review of break-glass request id to its reviewers (cards with
// Acknowledge and Flag), or brings the cards up to date. It must be
// idempotent, and return Later rather than wait.
type BreakGlassNotifier interface {
	BreakGlassReview(ctx context.Context, requestID string) error
}

func (s *Service) registerBreakGlass() {
	s.Register(JobBreakGlassReview, JobType{Lane: LaneMessage, Run: s.deliverBreakGlass, Failed: s.notifyFailed})
	s.Register(JobBreakGlassEscalate, JobType{Lane: LaneMessage, Run: s.escalateBreakGlass})
}

// breakGlassTx files r, a break-glass request routed by dec, in tx: the
// limit, the approval, the use's event, the alert, the review and its jobs.
func (s *Service) breakGlassTx(tx Tx, r *Request, in SubmitInput, bg *policies.BreakGlassRoute) error {
	it, err := incidentTx(tx)
	if err != nil {
		return err
	}
	now := s.now()
	// Counted in the transaction that files (this use's filing included),
	// so that uses at the same moment cannot slip past the limit together.
	uses, err := it.BreakGlassUses(r.Requester, now.Add(-policies.BreakGlassWindow))
	if err != nil {
		return err
	}
	if uses > bg.MaxUses {
		return Errorf(ETooMany, "you have used break-glass %s in the last 30 days, the most the policy allows; ask for access the usual way (an approver decides)", times(uses-1))
	}
	data := map[string]string{"duration": policies.FormatDuration(r.Duration), "reviewers": strings.Join(bg.Reviewers, ","),
		"uses_in_30d": strconv.Itoa(uses), "max_uses": strconv.Itoa(bg.MaxUses)}
	actor := r.Requester
	if in.Filer != "" {
		actor, data["filed_for"] = in.Filer, r.Requester
	}
	if err := s.event(tx, r, actor, ActionBreakGlassUsed, r.Reason, data); err != nil {
		return err
	}
	v := &BreakGlassReview{RequestID: r.ID, Reviewers: slices.Clone(bg.Reviewers), State: BreakGlassOpen, DueAt: now.Add(BreakGlassReviewAfter)}
	if err := it.InsertBreakGlassReview(v); err != nil {
		return err
	}
	if err := s.RaiseAlertTx(tx, r.ID, r.Requester, fmt.Sprintf("Break-glass: %s took %s for %s without approval. Reason: %s. Reviewers: %s.",
		r.Requester, r.Resource, policies.FormatDuration(r.Duration), r.Reason, strings.Join(bg.Reviewers, ", ")), map[string]string{"break_glass": "used"}); err != nil {
		return err
	}
	if err := s.Enqueue(tx, &Job{Kind: JobBreakGlassReview, Key: "breakglass:" + r.ID, RequestID: r.ID}); err != nil {
		return err
	}
	if err := s.Enqueue(tx, &Job{Kind: JobBreakGlassEscalate, Key: "breakglass-escalate:" + r.ID, RequestID: r.ID, RunAt: v.DueAt}); err != nil {
		return err
	}
	r.AutoApproved = true
	return s.approveTx(tx, r, ActorSystem, "break-glass under rule "+r.Rule+", reviewed after the fact", ActionRequestAutoApprove)
}

// deliverBreakGlass performs a review-card job.
func (s *Service) deliverBreakGlass(ctx context.Context, j *Job) error {
	if n := s.notifier.Load(); n != nil && n.n != nil {
		if bn, ok := n.n.(BreakGlassNotifier); ok {
			return bn.BreakGlassReview(ctx, j.RequestID)
		}
	}
	return nil
}

// BreakGlassView is a break-glass request with its review and grants.
type BreakGlassView struct {
	Request *Request
	Review  *BreakGlassReview
	Grants  []*Grant
	Filing  *Filing
}

// BreakGlass reads the review of break-glass request id.
func (s *Service) BreakGlass(ctx context.Context, id string) (*BreakGlassView, error) {
	v := &BreakGlassView{}
	err := s.store.View(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		it, err := incidentTx(tx)
		if err != nil {
			return err
		}
		if v.Review, err = it.GetBreakGlassReview(r.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return Errorf(ENotFound, "request %s was not a break-glass request", short(r.ID))
			}
			return err
		}
		v.Request = r
		if v.Filing, err = filingOf(tx, r.ID); err != nil {
			return err
		}
		v.Grants, err = tx.GrantsOf(r.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// AnswerBreakGlass records reviewer's answer on the review of break-glass
// request id: acknowledge, or flag with a reason (raised as an alert).
// The answer is a compare-and-set: the first answer wins, a later one is
// told who answered.
func (s *Service) AnswerBreakGlass(ctx context.Context, id, reviewer string, acknowledge bool, reason string) (*BreakGlassReview, error) {
	reviewer = strings.ToLower(strings.TrimSpace(reviewer))
	reason = strings.TrimSpace(reason)
	if !acknowledge && reason == "" {
		return nil, fieldErrorf(EInvalid, FieldReason, "Say what is wrong with this use of break-glass: a reason is required to flag it.")
	}
	var out *BreakGlassReview
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		it, err := incidentTx(tx)
		if err != nil {
			return err
		}
		v, err := it.GetBreakGlassReview(r.ID)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENotFound, "request %s was not a break-glass request", short(r.ID))
		}
		if err != nil {
			return err
		}
		filer, err := filerOf(tx, r.ID)
		if err != nil {
			return err
		}
		switch {
		case reviewer == r.Requester || reviewer == filer:
			return Errorf(ESelfApproval, "you cannot review your own use of break-glass")
		case v.State != BreakGlassOpen:
			return Errorf(EConflict, "this break-glass use was already %s by %s", v.State, v.AnsweredBy)
		case !contains(v.Reviewers, reviewer):
			return Errorf(ENotApprover, "you are not a reviewer of this break-glass use")
		}
		v.AnsweredBy, v.AnsweredAt, v.Reason = reviewer, s.now(), reason
		action := ActionBreakGlassAcknowledged
		v.State = BreakGlassAcknowledged
		if !acknowledge {
			v.State, action = BreakGlassFlagged, ActionBreakGlassFlagged
		}
		if err := it.UpdateBreakGlassReview(v); err != nil {
			return err
		}
		if err := s.event(tx, r, reviewer, action, reason, map[string]string{"reviewer": reviewer}); err != nil {
			return err
		}
		if !acknowledge {
			if err := s.RaiseAlertTx(tx, r.ID, r.Requester, fmt.Sprintf("Break-glass use by %s on %s was flagged by %s: %s",
				r.Requester, r.Resource, reviewer, reason), map[string]string{"break_glass": "flagged"}); err != nil {
				return err
			}
		}
		out = v
		return s.Enqueue(tx, &Job{Kind: JobBreakGlassReview, Key: "breakglass:" + r.ID, RequestID: r.ID})
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(EConflict, "this review changed while you were answering; nothing was recorded, look again")
		}
		return nil, err
	}
	s.poke()
	return out, nil
}

// escalateBreakGlass performs the escalation of an unanswered review: an
// alert to IT, and the reviewers' cards say it is overdue.
func (s *Service) escalateBreakGlass(ctx context.Context, j *Job) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(j.RequestID)
		if err != nil {
			return err
		}
		it, err := incidentTx(tx)
		if err != nil {
			return err
		}
		v, err := it.GetBreakGlassReview(r.ID)
		if err != nil {
			return err
		}
		if v.State != BreakGlassOpen || v.Escalated {
			return nil
		}
		v.Escalated = true
		if err := it.UpdateBreakGlassReview(v); err != nil {
			return err
		}
		msg := fmt.Sprintf("Break-glass use by %s on %s has not been reviewed after %s (reviewers: %s)",
			r.Requester, r.Resource, policies.FormatDuration(BreakGlassReviewAfter), strings.Join(v.Reviewers, ", "))
		if err := s.event(tx, r, ActorSystem, ActionBreakGlassEscalated, msg, nil); err != nil {
			return err
		}
		if err := s.RaiseAlertTx(tx, r.ID, r.Requester, msg, map[string]string{"break_glass": "escalated"}); err != nil {
			return err
		}
		return s.Enqueue(tx, &Job{Kind: JobBreakGlassReview, Key: "breakglass:" + r.ID, RequestID: r.ID})
	})
	if err == nil {
		s.poke()
	}
	return err
}

// notifyOf is the channels told of a request's decisions: the rule's, and
// for break-glass its own too.
func notifyOf(dec *policies.Route) []string {
	out := slices.Clone(dec.Notify)
	if dec.BreakGlass != nil {
		for _, c := range dec.BreakGlass.Notify {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}
