package approvals_test

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
)

// escalationPolicy: it-tools waits on the manager, then after 30m on the
// IT leads too; sales-wiki takes two steps, the manager then two of carol
// and frank, escalated after an hour to bob and dave.
var escalationPolicy = testenv.Policy(testenv.PolicyParts{
	Provider: "jira",
	Resources: `  - {id: sales-wiki, provider: dryrun, group: sales-wiki, max_duration: 7d}
`,
	RulesFirst: `  - name: escalating
    if: {resource: [it-tools]}
    then:
      approvals:
        - approvers: [manager]
          escalate_after: 30m
          escalate_to: [group:it-leads]
  - name: two steps escalating
    if: {resource: [sales-wiki]}
    then:
      approvals:
        - approvers: [manager]
        - approvers: [carol@example.com, frank@example.com]
          quorum: 2
          escalate_after: 1h
          escalate_to: [bob@example.com, dave@example.com]
`,
})

func newEscalationEnv(t *testing.T) *env {
	return newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), escalationPolicy)
}

// fire moves the clock by d and runs every job due.
func (e *env) fire(d time.Duration) {
	e.t.Helper()
	e.clock.Advance(d)
	e.settle()
}

func (e *env) actions(id string) []string {
	e.t.Helper()
	var out []string
	rows, err := e.db.ReadDB().QueryContext(e.ctx, `SELECT action FROM audit_events WHERE request_id = ? ORDER BY seq`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestEscalation_AddsApproversWhenUnanswered(t *testing.T) {
	e := newEscalationEnv(t)
	r := e.submit("alice@example.com", "it-tools", time.Hour)
	e.settle()
	e.fire(29 * time.Minute)
	if got := e.get(r.ID).Steps[0].Approvers; !slices.Equal(got, []string{"bob@example.com"}) {
		t.Fatalf("approvers before 30m: %v", got)
	}
	if _, err := e.svc.Approve(e.ctx, r.ID, "dave@example.com", ""); approvals.ErrorCode(err) != approvals.ENotApprover {
		t.Fatalf("dave before the escalation: %v, want %s", err, approvals.ENotApprover)
	}
	e.fire(time.Minute)
	got := e.get(r.ID)
	if !slices.Equal(got.Steps[0].Approvers, []string{"bob@example.com", "dave@example.com", "frank@example.com"}) || !got.Steps[0].Escalated {
		t.Fatalf("approvers after 30m: %v (escalated %v)", got.Steps[0].Approvers, got.Steps[0].Escalated)
	}
	if got.Steps[0].Added["dave@example.com"] != approvals.AddedEscalation {
		t.Errorf("why dave was added: %q", got.Steps[0].Added["dave@example.com"])
	}
	if !slices.Contains(e.actions(r.ID), approvals.ActionRequestEscalated) {
		t.Errorf("no %s event: %v", approvals.ActionRequestEscalated, e.actions(r.ID))
	}
	waiting, err := e.svc.List(e.ctx, approvals.RequestFilter{Approver: "frank@example.com"})
	if err != nil || len(waiting) != 1 {
		t.Fatalf("frank's waiting requests: %d, %v", len(waiting), err)
	}
	e.approve(r.ID, "dave@example.com")
	wantState(t, e.get(r.ID), approvals.StateApproved)
	// Once only: nothing more happens later.
	e.fire(2 * time.Hour)
	if n := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ?`, r.ID, approvals.ActionRequestEscalated); n != 1 {
		t.Errorf("escalations: %d, want 1", n)
	}
}

func TestEscalation_NotAfterADecision(t *testing.T) {
	e := newEscalationEnv(t)
	r := e.submit("alice@example.com", "it-tools", time.Hour)
	e.fire(10 * time.Minute)
	e.approve(r.ID, "bob@example.com")
	e.fire(time.Hour)
	if slices.Contains(e.actions(r.ID), approvals.ActionRequestEscalated) {
		t.Fatalf("an approved request escalated: %v", e.actions(r.ID))
	}
	if got := e.get(r.ID).Steps[0].Approvers; len(got) != 1 {
		t.Errorf("approvers: %v", got)
	}
}

// With quorum and the two-person rule: the second step escalates an hour
// after it starts (not after the request was filed); bob, who approved
// step 1, is added but still may not approve step 2; carol and dave make
// the quorum of 2.
func TestEscalation_QuorumAndTwoPersonRule(t *testing.T) {
	e := newEscalationEnv(t)
	r := e.submit("alice@example.com", "sales-wiki", 24*time.Hour)
	e.fire(50 * time.Minute)
	e.approve(r.ID, "bob@example.com")
	e.approve(r.ID, "carol@example.com")
	e.fire(59 * time.Minute)
	if e.get(r.ID).Steps[1].Escalated {
		t.Fatal("step 2 escalated before an hour had passed since it started")
	}
	e.fire(time.Minute)
	got := e.get(r.ID)
	if !got.Steps[1].Escalated || !slices.Contains(got.Steps[1].Approvers, "dave@example.com") {
		t.Fatalf("step 2 after an hour: %+v", got.Steps[1])
	}
	if _, err := e.svc.Approve(e.ctx, r.ID, "bob@example.com", ""); approvals.ErrorCode(err) != approvals.ERepeatApprover {
		t.Fatalf("bob on step 2: %v, want %s", err, approvals.ERepeatApprover)
	}
	wantState(t, e.get(r.ID), approvals.StatePending)
	e.approve(r.ID, "dave@example.com")
	wantState(t, e.get(r.ID), approvals.StateApproved)
}

// An escalated approver and the original one answer at the same moment,
// one declining, the other approving: exactly one decision is recorded,
// and the other is told the request is already decided (or changed while
// they were deciding).
func TestEscalation_RacesALateApproval(t *testing.T) {
	for i := range 10 {
		e := newEscalationEnv(t)
		r := e.submit("alice@example.com", "it-tools", time.Hour)
		e.fire(30 * time.Minute)
		var wg sync.WaitGroup
		var approveErr, declineErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, approveErr = e.svc.Approve(e.ctx, r.ID, "bob@example.com", "") }()
		go func() {
			defer wg.Done()
			_, declineErr = e.svc.Decline(e.ctx, r.ID, "dave@example.com", "not during a freeze")
		}()
		wg.Wait()
		if (approveErr == nil) == (declineErr == nil) {
			t.Fatalf("run %d: approve %v, decline %v: want exactly one to win", i, approveErr, declineErr)
		}
		loser, want := approveErr, approvals.StateDeclined
		if declineErr != nil {
			loser, want = declineErr, approvals.StateApproved
		}
		if approvals.ErrorCode(loser) != approvals.EConflict {
			t.Fatalf("run %d: the loser's error %v, want %s", i, loser, approvals.EConflict)
		}
		wantState(t, e.get(r.ID), want)
	}
}

// The escalation job and a late approval race: whichever commits first,
// the request ends approved by bob, and the escalation either happened
// before (recorded) or finds the step decided (nothing recorded) — never
// after the approval.
func TestEscalation_JobRacesApproval(t *testing.T) {
	for i := range 10 {
		e := newEscalationEnv(t)
		r := e.submit("alice@example.com", "it-tools", time.Hour)
		e.settle()
		e.clock.Advance(30 * time.Minute)
		var wg sync.WaitGroup
		var err error
		wg.Add(2)
		go func() { defer wg.Done(); _, err = e.svc.Approve(e.ctx, r.ID, "bob@example.com", "") }()
		go func() { defer wg.Done(); e.settle() }()
		wg.Wait()
		if err != nil {
			if approvals.ErrorCode(err) != approvals.EConflict {
				t.Fatalf("run %d: approval: %v", i, err)
			}
			e.approve(r.ID, "bob@example.com") // told, bob looks again and approves
		}
		e.settle()
		wantState(t, e.get(r.ID), approvals.StateActive)
		acts := e.actions(r.ID)
		esc, appr := slices.Index(acts, approvals.ActionRequestEscalated), slices.Index(acts, approvals.ActionRequestApproved)
		if esc > appr {
			t.Fatalf("run %d: escalated after the approval: %v", i, acts)
		}
	}
}
