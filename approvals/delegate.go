package approvals

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Delegation: while a person's delegation holds, requests that wait on
// them wait on their delegate too. New requests get the delegate at
// filing; requests already waiting get them when the delegation is made
// (their cards follow, as for any approver added). It does not chain: only
// the approvers the policy named (or an escalation added) bring their
// delegates, never a delegate, and nobody with a delegation of their own
// may be a delegate. A delegate never approves their own request, nor one
// they filed; a delegate's click after the delegation ended or was
// replaced is refused.

// Audit actions of delegations.
const (
	ActionDelegationSet   = "delegation.set"
	ActionDelegationEnded = "delegation.ended"
)

// NoteDelegated: a delegate was added to a waiting request's approvers.
const NoteDelegated = "delegated"

// Delegate records that until until, requests waiting on person wait on
// delegate too, and adds delegate to the requests waiting on person now.
func (s *Service) Delegate(ctx context.Context, person, delegate string, until time.Time) (*Delegation, error) {
	person, delegate = strings.ToLower(strings.TrimSpace(person)), strings.ToLower(strings.TrimSpace(delegate))
	now := s.now()
	switch {
	case person == delegate:
		return nil, Errorf(EInvalid, "you cannot delegate to yourself")
	case !until.After(now):
		return nil, Errorf(EInvalid, "a delegation must end in the future; %s has passed", until.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if _, ok := s.Policy().Person(delegate); !ok {
		return nil, Errorf(EInvalid, "%s is not in the jitbot directory, so cannot approve for you", delegate)
	}
	d := &Delegation{Person: person, Delegate: delegate, Until: until.UTC().Truncate(time.Millisecond), CreatedAt: now}
	err := s.store.Update(ctx, func(tx Tx) error {
		it, err := incidentTx(tx)
		if err != nil {
			return err
		}
		if theirs, err := activeDelegation(it, delegate, now); err != nil {
			return err
		} else if theirs != nil {
			return Errorf(EInvalid, "%s has delegated their own approvals to %s until %s, and delegation does not chain; pick someone else",
				delegate, theirs.Delegate, theirs.Until.UTC().Format("2006-01-02 15:04 UTC"))
		}
		if to, err := it.DelegationsTo(person); err != nil {
			return err
		} else {
			for _, o := range to {
				if o.Until.After(now) {
					return Errorf(EInvalid, "you stand in for %s until %s, and delegation does not chain: %s would not be asked for them; end that first or pick someone they could ask",
						o.Person, o.Until.UTC().Format("2006-01-02 15:04 UTC"), delegate)
				}
			}
		}
		if err := it.PutDelegation(d); err != nil {
			return err
		}
		if err := tx.Append(&Event{Time: now, Actor: person, Action: ActionDelegationSet, Subject: delegate,
			Reason: "approvals delegated", Data: map[string]string{"until": d.Until.Format(time.RFC3339)}}); err != nil {
			return err
		}
		return s.eachWaitingOn(tx, person, func(r *Request) (bool, error) {
			filer, err := filerOf(tx, r.ID)
			if err != nil {
				return false, err
			}
			dropped := dropDelegates(r, person, delegate) // an earlier delegate of person's
			added, err := s.addDelegates(r, filer, it, now)
			return dropped || added, err
		})
	})
	if err != nil {
		return nil, err
	}
	s.poke()
	return d, nil
}

// EndDelegation ends person's delegation, and takes the delegate off the
// requests waiting on person (their cards lose the buttons).
func (s *Service) EndDelegation(ctx context.Context, person string) (*Delegation, error) {
	person = strings.ToLower(strings.TrimSpace(person))
	var ended *Delegation
	err := s.store.Update(ctx, func(tx Tx) error {
		it, err := incidentTx(tx)
		if err != nil {
			return err
		}
		d, err := it.DelegationOf(person)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ENotFound, "you have no delegation to end")
		}
		if err != nil {
			return err
		}
		ended = d
		if err := it.DeleteDelegation(person); err != nil {
			return err
		}
		if err := tx.Append(&Event{Time: s.now(), Actor: person, Action: ActionDelegationEnded, Subject: d.Delegate,
			Reason: "delegation ended"}); err != nil {
			return err
		}
		return s.eachWaitingOn(tx, person, func(r *Request) (bool, error) {
			return dropDelegates(r, person, ""), nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.poke()
	return ended, nil
}

// DelegationOf returns person's delegation in force, nil when none.
func (s *Service) DelegationOf(ctx context.Context, person string) (*Delegation, error) {
	var d *Delegation
	err := s.store.View(ctx, func(tx Tx) error {
		it, err := incidentTx(tx)
		if err != nil {
			return err
		}
		d, err = activeDelegation(it, strings.ToLower(person), s.now())
		return err
	})
	return d, err
}

// activeDelegation returns person's delegation if it holds at now.
func activeDelegation(it IncidentTx, person string, now time.Time) (*Delegation, error) {
	d, err := it.DelegationOf(person)
	if errors.Is(err, ErrNotFound) || err == nil && !d.Until.After(now) {
		return nil, nil
	}
	return d, err
}

// eachWaitingOn calls fn on every pending request with a step person may
// decide, and writes and notifies those fn changed.
func (s *Service) eachWaitingOn(tx Tx, person string, fn func(r *Request) (bool, error)) error {
	rs, err := tx.ListRequests(RequestFilter{States: []State{StatePending}})
	if err != nil {
		return err
	}
	for _, r := range rs {
		on := false
		for _, st := range r.Steps[r.CurrentStep:] {
			on = on || contains(st.Approvers, person)
		}
		if !on {
			continue
		}
		changed, err := fn(r)
		if err != nil || !changed {
			if err != nil {
				return err
			}
			continue
		}
		if err := tx.UpdateRequest(r, StatePending); err != nil {
			return err
		}
		if err := s.notify(tx, r, NoteDelegated); err != nil {
			return err
		}
	}
	return nil
}

// addDelegates adds to r's steps from the current one the delegates of
// their approvers whose delegation holds at now, except the requester and
// the filer; it reports whether it added anyone. Delegates added are never
// asked for their own delegates (no chains).
func (s *Service) addDelegates(r *Request, filer string, it IncidentTx, now time.Time) (bool, error) {
	changed := false
	for i := r.CurrentStep; i < len(r.Steps); i++ {
		st := &r.Steps[i]
		for _, a := range st.Approvers {
			if strings.HasPrefix(st.Added[a], AddedDelegate) {
				continue
			}
			d, err := activeDelegation(it, a, now)
			if err != nil {
				return false, err
			}
			if d == nil || d.Delegate == r.Requester || d.Delegate == filer || contains(st.Approvers, d.Delegate) {
				continue
			}
			st.Approvers = append(st.Approvers, d.Delegate)
			if st.Added == nil {
				st.Added = map[string]string{}
			}
			st.Added[d.Delegate] = AddedDelegate + a
			changed = true
		}
	}
	return changed, nil
}

// withDelegates adds the delegates in force to r's steps from the current
// one (a request being filed by filer, or escalated).
func (s *Service) withDelegates(tx Tx, r *Request, filer string) error {
	it, ok := tx.(IncidentTx)
	if !ok {
		return nil
	}
	_, err := s.addDelegates(r, filer, it, s.now())
	return err
}

// delegateMayDecide refuses a delegate whose delegation no longer holds.
func (s *Service) delegateMayDecide(tx Tx, r *Request, approver string) error {
	if r.State != StatePending || r.CurrentStep >= len(r.Steps) {
		return nil
	}
	why := r.Steps[r.CurrentStep].Added[approver]
	if !strings.HasPrefix(why, AddedDelegate) {
		return nil
	}
	person := strings.TrimPrefix(why, AddedDelegate)
	it, err := incidentTx(tx)
	if err != nil {
		return err
	}
	d, err := activeDelegation(it, person, s.now())
	if err != nil {
		return err
	}
	if d == nil || d.Delegate != approver {
		return Errorf(ENotApprover, "you stood in for %s, and that delegation has ended; %s or another approver decides", person, person)
	}
	return nil
}

// dropDelegates takes person's delegates other than keep off r's steps,
// and reports whether it took anyone.
func dropDelegates(r *Request, person, keep string) bool {
	why := AddedDelegate + person
	changed := false
	for i := range r.Steps {
		st := &r.Steps[i]
		for a, w := range st.Added {
			if w == why && a != keep {
				st.Approvers = deleteStr(st.Approvers, a)
				delete(st.Added, a)
				changed = true
			}
		}
	}
	return changed
}

func deleteStr(list []string, s string) []string {
	out := list[:0]
	for _, v := range list {
		if v != s {
			out = append(out, v)
		}
	}
	return out
}
