package approvals_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot"
	"github.com/jitbot/jitbot/approvals"
)

// Issue 20 finding 5: a policy that removes a resource ends the pending
// requests for it when it comes into force (at start-up or a reload):
// cancelled by jitbot, with the reason recorded and a notification queued
// for the requester and the approvers. A request for a resource the policy
// keeps is left alone. Before, such a request waited, undecidable, until it
// timed out.
func TestSetPolicy_EndsRequestsForRemovedResources(t *testing.T) {
	e := newEnv(t)
	gone := e.submit("alice@example.com", "confluence-finance", 24*time.Hour)
	kept := e.submit("alice@example.com", "it-tools", 24*time.Hour)
	wantState(t, e.get(gone.ID), approvals.StatePending)
	if err := e.svc.SetPolicy(e.ctx, parsePolicy(t, droppedPolicy)); err != nil {
		t.Fatal(err)
	}
	r := e.get(gone.ID)
	wantState(t, r, approvals.StateCancelled)
	if r.DecidedBy != approvals.ActorSystem || r.StateReason != "confluence-finance is no longer in the catalogue (a policy change removed it), so nothing was granted" {
		t.Errorf("ended request: by %q, reason %q", r.DecidedBy, r.StateReason)
	}
	wantState(t, e.get(kept.ID), approvals.StatePending)
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = ? AND request_id = ? AND actor = 'system'
		AND json_extract(data, '$.resource_removed') = 'confluence-finance'`, approvals.ActionRequestCancelled, gone.ID); n != 1 {
		t.Errorf("request.cancelled events by the system naming the removed resource: got %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE kind = 'notify' AND request_id = ? AND state = 'pending' AND note LIKE '%cancelled%'`, gone.ID); n != 1 {
		t.Errorf("pending notifications of the end: got %d, want 1", n)
	}
	// A click on the ended request says why it ended.
	_, err := e.svc.Approve(e.ctx, gone.ID, "bob@example.com", "")
	wantCode(t, err, approvals.EConflict)
	if msg := jitbot.ErrorMessage(err); !strings.Contains(msg, "no longer in the catalogue") {
		t.Errorf("a click after the end: %q, want the reason", msg)
	}
}

// Issue 20 finding 5: the approval of a request whose resource the
// deciding process's policy no longer has (a replica that reloaded before
// the one the request was filed on) ends the request and tells the
// approver why, in a sentence; nothing is granted. Before, the last
// approval failed with "resource … is no longer in the catalogue" on every
// click and the request waited until it timed out.
func TestDecide_ResourceGoneEndsTheRequest(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "confluence-finance", 24*time.Hour) // one step: her manager, bob
	reloaded := approvals.New(approvals.Config{Store: e.db, Policy: parsePolicy(t, droppedPolicy), Clock: e.clock,
		Providers: map[string]approvals.Provisioner{"jira": e.jira}})
	_, err := reloaded.Approve(e.ctx, r.ID, "bob@example.com", "")
	wantCode(t, err, approvals.EPolicy)
	if msg := jitbot.ErrorMessage(err); msg != "This request is ended: confluence-finance is no longer in the catalogue (a policy change removed it), so nothing was granted. The requester is told." {
		t.Errorf("the approver is told: %q", msg)
	}
	got := e.get(r.ID)
	wantState(t, got, approvals.StateCancelled)
	if ds, _ := e.svc.Decisions(e.ctx, r.ID); len(ds) != 0 || len(e.grants(r.ID)) != 0 {
		t.Errorf("decisions %v, grants %v: want none", ds, e.grants(r.ID))
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE kind = 'notify' AND request_id = ? AND note LIKE '%cancelled%'`, r.ID); n != 1 {
		t.Errorf("notifications of the end: got %d, want 1", n)
	}
	// Someone who is not an approver cannot end it this way.
	r2 := e.submit("alice@example.com", "confluence-finance", 20*time.Hour)
	_, err = reloaded.Approve(e.ctx, r2.ID, "erin@partner.io", "")
	wantCode(t, err, approvals.ENotApprover)
	wantState(t, e.get(r2.ID), approvals.StatePending)
}
