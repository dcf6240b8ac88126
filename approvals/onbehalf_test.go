package approvals_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
)

// onBehalfPolicy: the manager or an IT lead may file it-tools for someone;
// it is approved by the manager or an IT lead.
var onBehalfPolicy = testenv.Policy(testenv.PolicyParts{
	Provider: "jira",
	RulesFirst: `  - name: for others
    if: {resource: [it-tools]}
    then:
      approvals:
        - approvers: [manager, group:it-leads]
      on_behalf: [manager, group:it-leads]
`,
})

func TestOnBehalf_FiledForAlice(t *testing.T) {
	e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), onBehalfPolicy)
	r, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: "alice@example.com", Filer: "bob@example.com",
		Resource: "it-tools", Duration: 2 * time.Hour, Reason: "on call tonight"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requester != "alice@example.com" || slices.Contains(r.Steps[0].Approvers, "bob@example.com") {
		t.Fatalf("request: requester %s, approvers %v", r.Requester, r.Steps[0].Approvers)
	}
	v, err := e.svc.Snapshot(e.ctx, r.ID)
	if err != nil || v.Filing.Filer != "bob@example.com" {
		t.Fatalf("filing: %+v, %v", v.Filing, err)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ? AND actor = ?`, r.ID, approvals.ActionRequestSubmitted, "bob@example.com"); n != 1 {
		t.Errorf("submitted events by bob: %d, want 1", n)
	}
	// Neither the filer nor the person filed for approves it.
	_, err = e.svc.Approve(e.ctx, r.ID, "bob@example.com", "")
	wantCode(t, err, approvals.ESelfApproval)
	_, err = e.svc.Approve(e.ctx, r.ID, "alice@example.com", "")
	wantCode(t, err, approvals.ESelfApproval)
	// She may cancel it.
	if _, err := e.svc.Cancel(e.ctx, r.ID, "alice@example.com"); err != nil {
		t.Fatalf("alice cancels: %v", err)
	}
}

func TestOnBehalf_NotAllowed(t *testing.T) {
	e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), onBehalfPolicy)
	// carol is neither alice's manager nor an IT lead.
	_, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: "alice@example.com", Filer: "carol@example.com",
		Resource: "it-tools", Duration: time.Hour, Reason: "x"})
	wantCode(t, err, approvals.EPolicy)
	if n := e.count(`SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("requests filed: %d, want 0", n)
	}
	// The default rule lets nobody file for others.
	_, err = e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: "alice@example.com", Filer: "bob@example.com",
		Resource: "confluence-finance", Duration: 72 * time.Hour, Reason: "x"})
	wantCode(t, err, approvals.EPolicy)
}

// The IT lead dave files for alice; he is then no approver, and bob (the
// manager) or frank decides.
func TestOnBehalf_FilerIsNoApprover(t *testing.T) {
	e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), onBehalfPolicy)
	r, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: "alice@example.com", Filer: "dave@example.com",
		Resource: "it-tools", Duration: time.Hour, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(r.Steps[0].Approvers, "dave@example.com") {
		t.Fatalf("dave is an approver of the request he filed: %v", r.Steps[0].Approvers)
	}
	_, err = e.svc.Approve(e.ctx, r.ID, "dave@example.com", "")
	if err == nil {
		t.Fatal("dave approved the request he filed")
	}
	e.approve(r.ID, "frank@example.com")
	wantState(t, e.get(r.ID), approvals.StateApproved)
}
