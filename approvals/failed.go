package approvals

import (
	"fmt"
)

// grantJobFailed records that a provisioning or revocation job gave up: the
// grant failed, IT is alerted, and a request that was being provisioned
// fails, with whatever of its bundle was added taken out again.
func (s *Service) grantJobFailed(tx Tx, j *Job, cause error) error {
	msg := cause.Error()
	r, err := tx.GetRequest(j.RequestID)
	if err != nil {
		return err
	}
	g, err := tx.GetGrant(j.GrantID)
	if err != nil {
		return err
	}
	from := g.State
	g.State, g.Note, g.UpdatedAt = GrantFailed, msg, s.now()
	if err := tx.UpdateGrant(g, from); err != nil {
		return err
	}
	if err := s.grantEvent(tx, r, g, ActionGrantFailed, msg, map[string]string{"job": string(j.Kind), "attempts": fmt.Sprint(j.Attempts + 1)}); err != nil {
		return err
	}
	reason := fmt.Sprintf("%s of %s to %s for %s failed: %s", j.Kind, g.Person, g.Group, short(r.ID), msg)
	if j.Kind == JobRevoke {
		reason = fmt.Sprintf("could not remove %s from %s (request %s): %s — the membership may still be there", g.Person, g.Group, short(r.ID), msg)
	}
	if err := s.RaiseAlertTx(tx, r.ID, g.Person, reason, map[string]string{"grant_id": g.ID}); err != nil {
		return err
	}
	if j.Kind == JobProvision && r.State == StateApproved {
		if err := s.transition(tx, r, StateFailed, ActorSystem, ActionRequestFailed, msg, nil); err != nil {
			return err
		}
		// A bundle must not be left half provisioned.
		if err := s.revokeGrantsTx(tx, r); err != nil {
			return err
		}
	}
	return s.notify(tx, r, NoteFailed)
}
