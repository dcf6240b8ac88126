package approvals

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// SubmitInput is a new request as a person files it.
type SubmitInput struct {
	Requester string
	Resource  string
	Duration  time.Duration
	Reason    string
	Ticket    string
	ExtendsID string // set by Extend
	// Filer files the request for Requester, as the rule's on_behalf
	// allows; "" when the requester files it.
	Filer string
	// BreakGlass asks for the access at once, without approval, as the
	// rule's break_glass allows (breakglass.go).
	BreakGlass bool
}

// ticketRe is what a ticket reference looks like: a key such as OPS-1234.
var ticketRe = regexp.MustCompile(`^[A-Z][A-Z0-9]+-[0-9]+$`)

// Check decides whether in may be filed, the one place that does: the
// request form calls it to show problems next to their fields before
// anything is filed, and Submit calls it again. It returns the route the
// policy gives the request, or an *Error whose Field names the input at
// fault. in is normalised in place.
func (s *Service) Check(ctx context.Context, in *SubmitInput) (*policies.Route, error) {
	in.Requester = strings.ToLower(strings.TrimSpace(in.Requester))
	in.Reason = strings.TrimSpace(in.Reason)
	in.Ticket = strings.TrimSpace(in.Ticket)
	if in.Filer = strings.ToLower(strings.TrimSpace(in.Filer)); in.Filer == in.Requester {
		in.Filer = ""
	}
	if in.Duration <= 0 {
		return nil, fieldErrorf(EInvalid, FieldDuration, "Say for how long you need access, for example 2h or 3d.")
	}
	route, err := s.Policy().Evaluate(ctx, policies.Query{Requester: in.Requester, Resource: in.Resource, Duration: in.Duration, At: s.now(),
		Filer: in.Filer, BreakGlass: in.BreakGlass}, s.resolver())
	if err != nil {
		field := FieldResource
		if policies.ErrorCode(err) == policies.CodeTooLong {
			field = FieldDuration
		}
		if policies.ErrorCode(err) == policies.CodeNotOnBehalf {
			field = FieldRequester
		}
		if policies.ErrorCode(err) == jitbot.EInternal {
			return nil, err // the group resolver failed: not the request's fault
		}
		return nil, fieldErrorf(EPolicy, field, "%s", err.Error())
	}
	if in.Reason == "" {
		return nil, fieldErrorf(EInvalid, FieldReason, "Say why you need it: a reason is required.")
	}
	if in.Ticket != "" && !ticketRe.MatchString(in.Ticket) {
		return nil, fieldErrorf(EInvalid, FieldTicket, "A ticket is a key such as OPS-1234.")
	}
	if route.RequireTicket && in.Ticket == "" {
		return nil, fieldErrorf(EInvalid, FieldTicket, "Rule %q requires a ticket for this request, such as OPS-1234.", route.Rule)
	}
	return route, nil
}

// Submit files a request. The policy decides its route (Check); a request
// it refuses, or whose approvers resolve to nobody, is refused at once and
// recorded as refused. An auto-approved request is approved in the same
// transaction.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (*Request, error) {
	p := s.Policy()
	dec, err := s.Check(ctx, &in)
	now := s.now()
	if err != nil {
		// An internal error (a Slack group that could not be read) is
		// returned as it is: the edge logs it and says something went wrong.
		if in.Duration > 0 { // without a duration nothing was asked for yet
			s.refused(ctx, in, err.Error(), now)
		}
		return nil, err
	}
	r := &Request{
		ID:            uuid.NewString(),
		Requester:     in.Requester,
		Resource:      in.Resource,
		Admin:         dec.Admin,
		Duration:      in.Duration,
		Reason:        in.Reason,
		Ticket:        in.Ticket,
		Rule:          dec.Rule,
		Notify:        notifyOf(dec),
		AllowSelf:     dec.AllowSelfApproval,
		AllowRepeat:   dec.AllowRepeatApprover,
		ExtendsID:     in.ExtendsID,
		CorrelationID: uuid.NewString(),
		State:         StatePending,
		CreatedAt:     now,
		ExpiresAt:     now.Add(dec.RequestTTL),
		RemindAt:      now.Add(dec.RequestTTL / 2),
	}
	for _, st := range dec.Steps {
		r.Steps = append(r.Steps, Step{Terms: st.Terms, Approvers: st.Approvers, Quorum: st.Quorum,
			EscalateAfter: st.EscalateAfter, EscalateTo: st.EscalateTo, EscalateTerms: st.EscalateTerms})
	}
	limit := p.Limits.PendingPerRequester
	if limit <= 0 {
		limit = policies.DefaultPendingPerRequester
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if in.ExtendsID != "" {
			orig, err := tx.GetRequest(in.ExtendsID)
			if err != nil {
				return err
			}
			r.CorrelationID = orig.CorrelationID
		}
		if !dec.AutoApprove && dec.BreakGlass == nil {
			// Counted in the transaction that files, so that a flood of
			// requests at once cannot slip past the cap together.
			pending, err := tx.ListRequests(RequestFilter{Requester: r.Requester, States: []State{StatePending}})
			if err != nil {
				return err
			}
			if len(pending) >= limit {
				return Errorf(ETooMany, "you have %d requests waiting for approval already, the most the policy allows; cancel one (/access list shows them) or wait for a decision", len(pending))
			}
		}
		if err := s.withDelegates(tx, r, in.Filer); err != nil { // delegate.go
			return err
		}
		if err := tx.InsertRequest(r); err != nil {
			return err
		}
		if err := s.recordFiling(tx, r, in); err != nil {
			return err
		}
		data := map[string]string{"duration": policies.FormatDuration(r.Duration), "steps": strconv.Itoa(len(r.Steps))}
		if r.Ticket != "" {
			data["ticket"] = r.Ticket
		}
		if r.ExtendsID != "" {
			data["extends"] = r.ExtendsID
		}
		actor := r.Requester
		if in.Filer != "" {
			actor, data["filed_for"] = in.Filer, r.Requester
		}
		if err := s.event(tx, r, actor, ActionRequestSubmitted, r.Reason, data); err != nil {
			return err
		}
		if dec.BreakGlass != nil {
			return s.breakGlassTx(tx, r, in, dec.BreakGlass) // breakglass.go
		}
		if dec.AutoApprove {
			r.AutoApproved = true
			return s.approveTx(tx, r, ActorSystem, "auto-approved by rule "+dec.Rule, ActionRequestAutoApprove)
		}
		if err := s.scheduleEscalation(tx, r); err != nil {
			return err
		}
		return s.notify(tx, r, NoteSubmitted)
	})
	if err != nil {
		if ErrorCode(err) == ETooMany {
			s.refused(ctx, in, err.Error(), now)
		}
		return nil, err
	}
	s.log.Info("request submitted", zap.String("request_id", r.ID), zap.String("requester", r.Requester),
		zap.String("resource", r.Resource), zap.String("rule", r.Rule), zap.String("state", string(r.State)))
	s.poke()
	s.prepare(r)
	return r, nil
}

func (s *Service) refused(ctx context.Context, in SubmitInput, why string, now time.Time) {
	err := s.store.Update(ctx, func(tx Tx) error {
		return tx.Append(&Event{Time: now, Actor: in.Requester, Action: ActionRequestRefused,
			Subject: in.Requester, Resource: in.Resource, Reason: why, CorrelationID: uuid.NewString(),
			Data: map[string]string{"duration": policies.FormatDuration(in.Duration), "request_reason": in.Reason}})
	})
	if err != nil {
		s.log.Error("record refusal", zap.Error(err))
	}
}
