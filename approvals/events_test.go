package approvals_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// transitionActions is the audit action each request transition appends.
var transitionActions = map[[2]approvals.State]string{
	{approvals.StatePending, approvals.StateApproved}:  approvals.ActionRequestApproved,
	{approvals.StatePending, approvals.StateDeclined}:  approvals.ActionRequestDeclined,
	{approvals.StatePending, approvals.StateCancelled}: approvals.ActionRequestCancelled,
	{approvals.StatePending, approvals.StateTimedOut}:  approvals.ActionRequestTimedOut,
	{approvals.StateApproved, approvals.StateActive}:   approvals.ActionRequestActivated,
	{approvals.StateApproved, approvals.StateFailed}:   approvals.ActionRequestFailed,
	{approvals.StateApproved, approvals.StateRevoked}:  approvals.ActionRequestRevoked,
	{approvals.StateApproved, approvals.StateReleased}: approvals.ActionRequestReleased,
	{approvals.StateApproved, approvals.StateExpired}:  approvals.ActionRequestExpired,
	{approvals.StateActive, approvals.StateExpired}:    approvals.ActionRequestExpired,
	{approvals.StateActive, approvals.StateRevoked}:    approvals.ActionRequestRevoked,
	{approvals.StateActive, approvals.StateReleased}:   approvals.ActionRequestReleased,
}

// Every transition of the state machine appends exactly one event of its
// own action, in the transaction that makes it.
func TestEvents_OnePerTransition(t *testing.T) {
	all := approvals.Transitions()
	if len(all) != len(transitionActions) {
		t.Fatalf("the state machine has %d transitions; this test knows %d", len(all), len(transitionActions))
	}
	for _, tr := range all {
		action, ok := transitionActions[tr]
		if !ok {
			t.Errorf("transition %s → %s has no expected action", tr[0], tr[1])
			continue
		}
		t.Run(string(tr[0])+"_to_"+string(tr[1]), func(t *testing.T) {
			e := newEnv(t)
			// A request that needs bob's approval (default rule).
			r := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
			switch {
			case tr == [2]approvals.State{approvals.StateApproved, approvals.StateExpired}:
				// A bundle whose first membership is in (its clock runs)
				// while the other is still being added.
				r = e.submit("alice@example.com", "incident-bundle", 2*time.Hour)
				e.approve(r.ID, "bob@example.com")
				e.jira.fails, e.jira.err = 1, errors.New("503")
				e.approve(r.ID, "dave@example.com")
				e.settle()
			case tr[0] == approvals.StateApproved:
				if tr[1] == approvals.StateFailed {
					e.jira.fails, e.jira.err = 1, approvals.Permanent(errors.New("403"))
				}
				e.approve(r.ID, "bob@example.com")
			case tr[0] == approvals.StateActive:
				e.approve(r.ID, "bob@example.com")
				e.settle()
			}
			wantState(t, e.get(r.ID), tr[0])
			before := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ?`, r.ID, action)
			var err error
			switch tr[1] {
			case approvals.StateApproved:
				_, err = e.svc.Approve(e.ctx, r.ID, "bob@example.com", "")
			case approvals.StateDeclined:
				_, err = e.svc.Decline(e.ctx, r.ID, "bob@example.com", "no")
			case approvals.StateCancelled:
				_, err = e.svc.Cancel(e.ctx, r.ID, "alice@example.com")
			case approvals.StateTimedOut:
				e.clock.Advance(25 * time.Hour)
				_, err = e.svc.Sweep(e.ctx)
			case approvals.StateActive, approvals.StateFailed:
				_, err = e.svc.RunJobs(e.ctx)
			case approvals.StateRevoked:
				_, err = e.svc.Revoke(e.ctx, r.ID, "security@example.com", "test")
			case approvals.StateReleased:
				_, err = e.svc.Release(e.ctx, r.ID, "alice@example.com")
			case approvals.StateExpired:
				e.clock.Advance(73 * time.Hour)
				_, err = e.svc.Sweep(e.ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			wantState(t, e.get(r.ID), tr[1])
			if got := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ?`, r.ID, action) - before; got != 1 {
				t.Errorf("%s events: got %d, want 1", action, got)
			}
		})
	}
}

// No state changes without an event: every request and grant row that
// changed has events, and the chain verifies.
func TestEvents_EveryGrantChangeRecorded(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "incident-bundle", time.Hour)
	e.approve(r.ID, "bob@example.com")
	e.approve(r.ID, "dave@example.com")
	e.settle()
	e.advance(time.Hour)
	for _, g := range e.grants(r.ID) {
		for _, action := range []string{approvals.ActionGrantProvisioned, approvals.ActionGrantRemoved} {
			if n := e.count(`SELECT count(*) FROM audit_events WHERE grant_id = ? AND action = ?`, g.ID, action); n != 1 {
				t.Errorf("grant %s %s events: got %d, want 1", g.Resource, action, n)
			}
		}
	}
	if n := e.count(`SELECT count(DISTINCT correlation_id) FROM audit_events WHERE request_id = ?`, r.ID); n != 1 {
		t.Errorf("correlation ids of one request: got %d, want 1", n)
	}
}
