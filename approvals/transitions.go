package approvals

import (
	"context"
	"errors"
)

// event appends an audit event about r.
func (s *Service) event(tx Tx, r *Request, actor, action, reason string, data map[string]string) error {
	return tx.Append(&Event{Time: s.now(), Actor: actor, Action: action, Subject: r.Requester,
		Resource: r.Resource, RequestID: r.ID, Reason: reason, Rule: r.Rule,
		CorrelationID: r.CorrelationID, Data: data})
}

func (s *Service) grantEvent(tx Tx, r *Request, g *Grant, action, reason string, data map[string]string) error {
	return tx.Append(&Event{Time: s.now(), Actor: ActorSystem, Action: action, Subject: g.Person,
		Resource: g.Resource, RequestID: g.RequestID, GrantID: g.ID, Reason: reason, Rule: r.Rule,
		CorrelationID: r.CorrelationID, Data: data})
}

// transition moves r to state to (compare-and-set) and appends its event.
func (s *Service) transition(tx Tx, r *Request, to State, actor, action, reason string, data map[string]string) error {
	from := r.State
	if !CanTransition(from, to) {
		return Errorf(EIllegalChange, "request %s is %s; it cannot become %s", short(r.ID), from, to)
	}
	r.State = to
	if reason != "" {
		r.StateReason = reason
	}
	if err := tx.UpdateRequest(r, from); err != nil {
		return err
	}
	return s.event(tx, r, actor, action, reason, data)
}

// update loads request id and runs fn on it in one transaction.
func (s *Service) update(ctx context.Context, id string, fn func(tx Tx, r *Request) error) (*Request, error) {
	var out *Request
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRequest(id)
		if err != nil {
			return notFound(err, id)
		}
		out = r
		return fn(tx, r)
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, Errorf(EConflict, "this request changed at the same moment; nothing was recorded, look again")
		}
		return nil, err
	}
	s.poke()
	return out, nil
}
