package approvals_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

func TestDelegation_NewAndWaitingRequests(t *testing.T) {
	e := newEnv(t)
	before := e.submit("alice@example.com", "confluence-finance", 72*time.Hour) // default rule: bob approves
	if _, err := e.svc.Delegate(e.ctx, "bob@example.com", "carol@example.com", t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The request already out now waits on carol too.
	got := e.get(before.ID)
	if !slices.Equal(got.Steps[0].Approvers, []string{"bob@example.com", "carol@example.com"}) ||
		got.Steps[0].Added["carol@example.com"] != approvals.AddedDelegate+"bob@example.com" {
		t.Fatalf("waiting request after the delegation: %+v", got.Steps[0])
	}
	// A new one waits on both from the start.
	after := e.submit("erin@partner.io", "confluence-finance", 72*time.Hour)
	if !slices.Contains(after.Steps[0].Approvers, "carol@example.com") {
		t.Fatalf("new request's approvers: %v", after.Steps[0].Approvers)
	}
	e.approve(before.ID, "carol@example.com")
	wantState(t, e.get(before.ID), approvals.StateApproved)
	if n := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ? AND actor = ? AND data LIKE '%delegate of bob@example.com%'`,
		before.ID, approvals.ActionApprovalRecorded, "carol@example.com"); n != 1 {
		t.Errorf("carol's approval recorded as bob's delegate: %d events, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = ? AND actor = ? AND subject = ?`,
		approvals.ActionDelegationSet, "bob@example.com", "carol@example.com"); n != 1 {
		t.Errorf("delegation events: %d, want 1", n)
	}
}

// A delegate never approves their own request: bob delegates to alice,
// who then asks; she is not added and may not approve.
func TestDelegation_DelegateNeverApprovesOwnRequest(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Delegate(e.ctx, "bob@example.com", "alice@example.com", t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
	if slices.Contains(r.Steps[0].Approvers, "alice@example.com") {
		t.Fatalf("alice may approve her own request: %v", r.Steps[0].Approvers)
	}
	_, err := e.svc.Approve(e.ctx, r.ID, "alice@example.com", "")
	wantCode(t, err, approvals.ESelfApproval)
	wantState(t, e.get(r.ID), approvals.StatePending)
}

// Delegation does not chain, whichever is made first.
func TestDelegation_NoChains(t *testing.T) {
	e := newEnv(t)
	until := t0.Add(24 * time.Hour)
	if _, err := e.svc.Delegate(e.ctx, "bob@example.com", "carol@example.com", until); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Delegate(e.ctx, "carol@example.com", "dave@example.com", until)
	if approvals.ErrorCode(err) != approvals.EInvalid || !strings.Contains(err.Error(), "does not chain") {
		t.Fatalf("carol, bob's delegate, delegating on: %v", err)
	}
	_, err = e.svc.Delegate(e.ctx, "dave@example.com", "bob@example.com", until)
	if approvals.ErrorCode(err) != approvals.EInvalid || !strings.Contains(err.Error(), "does not chain") {
		t.Fatalf("delegating to bob, who delegated: %v", err)
	}
	// Even a chain made around the checks (a delegation from before a
	// delegate delegated) reaches one level only: a request of erin's
	// (bob approves) waits on bob and carol, never on carol's delegate.
	r := e.submit("erin@partner.io", "confluence-finance", 72*time.Hour)
	if !slices.Equal(r.Steps[0].Approvers, []string{"bob@example.com", "carol@example.com"}) {
		t.Fatalf("approvers: %v", r.Steps[0].Approvers)
	}
	_, err = e.svc.Delegate(e.ctx, "bob@example.com", "bob@example.com", until)
	wantCode(t, err, approvals.EInvalid)
}

// Once a delegation runs out, the delegate's click is refused; ended by
// hand, the delegate leaves the waiting requests at once.
func TestDelegation_Ends(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.Delegate(e.ctx, "bob@example.com", "carol@example.com", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
	e.clock.Advance(time.Hour)
	_, err := e.svc.Approve(e.ctx, r.ID, "carol@example.com", "")
	wantCode(t, err, approvals.ENotApprover)

	if _, err := e.svc.Delegate(e.ctx, "bob@example.com", "dave@example.com", t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := e.get(r.ID).Steps[0].Approvers; !slices.Equal(got, []string{"bob@example.com", "dave@example.com"}) {
		t.Fatalf("approvers after bob delegated to dave instead: %v", got)
	}
	if _, err := e.svc.EndDelegation(e.ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := e.get(r.ID).Steps[0].Approvers; slices.Contains(got, "dave@example.com") {
		t.Fatalf("dave still an approver after the delegation ended: %v", got)
	}
	if d, err := e.svc.DelegationOf(e.ctx, "bob@example.com"); err != nil || d != nil {
		t.Fatalf("bob's delegation after off: %+v, %v", d, err)
	}
	_, err = e.svc.EndDelegation(e.ctx, "bob@example.com")
	wantCode(t, err, approvals.ENotFound)
}
