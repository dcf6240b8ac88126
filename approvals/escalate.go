package approvals

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/policies"
)

// Escalation: a step the policy gives escalate_after and escalate_to
// grows by those people when nobody answered it in time. The deadline is
// a job due then (the outbox keeps it across restarts; the lane waits for
// it on the injected clock); the job does nothing when the request moved
// on meanwhile. An escalation and a late decision are both compare-and-set
// writes of the request: one wins, the other is retried (the job, which
// then finds the step decided) or told (the approver: "this request
// changed while you were deciding").

// scheduleEscalation queues the escalation of r's current step, when it
// has one, due its EscalateAfter from now.
func (s *Service) scheduleEscalation(tx Tx, r *Request) error {
	if r.State != StatePending || r.CurrentStep >= len(r.Steps) {
		return nil
	}
	st := r.Steps[r.CurrentStep]
	if st.EscalateAfter <= 0 || len(st.EscalateTo) == 0 {
		return nil
	}
	at := s.now().Add(st.EscalateAfter)
	if !at.Before(r.ExpiresAt) {
		return nil // the request times out first
	}
	return s.Enqueue(tx, &Job{Kind: JobEscalate, Key: "escalate:" + r.ID, RequestID: r.ID,
		Ref: strconv.Itoa(r.CurrentStep), RunAt: at})
}

// escalate performs an escalation job.
func (s *Service) escalate(ctx context.Context, j *Job) error {
	step, err := strconv.Atoi(j.Ref)
	if err != nil {
		return Permanent(err)
	}
	escalated := false
	err = s.store.Update(ctx, func(tx Tx) error {
		escalated = false
		r, err := tx.GetRequest(j.RequestID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.State != StatePending || r.CurrentStep != step || r.Steps[step].Escalated || !s.now().Before(r.ExpiresAt) {
			return nil // decided, moved on, already escalated, or timed out
		}
		filer, err := filerOf(tx, r.ID)
		if err != nil {
			return err
		}
		st := &r.Steps[step]
		var added []string
		for _, e := range st.EscalateTo {
			if contains(st.Approvers, e) || e == filer || e == r.Requester && !r.AllowSelf {
				continue
			}
			st.Approvers = append(st.Approvers, e)
			if st.Added == nil {
				st.Added = map[string]string{}
			}
			st.Added[e] = AddedEscalation
			added = append(added, e)
		}
		st.Escalated = true
		if err := s.withDelegates(tx, r, filer); err != nil { // the escalated's delegates too
			return err
		}
		if err := tx.UpdateRequest(r, StatePending); err != nil {
			return err
		}
		reason := "no answer within " + policies.FormatDuration(st.EscalateAfter)
		data := map[string]string{"step": strconv.Itoa(step + 1), "to": strings.Join(added, ","),
			"after": policies.FormatDuration(st.EscalateAfter)}
		if err := s.event(tx, r, ActorSystem, ActionRequestEscalated, reason, data); err != nil {
			return err
		}
		escalated = true
		return s.notify(tx, r, NoteEscalated)
	})
	if err == nil && escalated {
		s.poke()
	}
	return err
}
