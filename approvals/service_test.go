package approvals_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

func TestCanTransition_RefusesEverythingNotListed(t *testing.T) {
	legal := map[[2]approvals.State]bool{}
	for _, tr := range approvals.Transitions() {
		legal[tr] = true
	}
	for _, from := range approvals.AllStates() {
		for _, to := range approvals.AllStates() {
			if got := approvals.CanTransition(from, to); got != legal[[2]approvals.State{from, to}] {
				t.Errorf("CanTransition(%s, %s): got %v, want %v", from, to, got, !got)
			}
		}
	}
	if approvals.CanTransition(approvals.StateExpired, approvals.StateActive) {
		t.Error("an expired request must never come back")
	}
}

func TestService_IllegalTransitions(t *testing.T) {
	e := newEnv(t)
	declined := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
	if _, err := e.svc.Decline(e.ctx, declined.ID, "bob@example.com", "no"); err != nil {
		t.Fatal(err)
	}
	active := e.submit("alice@example.com", "confluence-finance", 2*time.Hour) // auto-approved
	e.settle()
	wantState(t, e.get(active.ID), approvals.StateActive)
	pending := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)

	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"approve declined", func() error { _, err := e.svc.Approve(e.ctx, declined.ID, "bob@example.com", ""); return err }, approvals.EConflict},
		{"decline declined", func() error { _, err := e.svc.Decline(e.ctx, declined.ID, "bob@example.com", "x"); return err }, approvals.EConflict},
		{"cancel declined", func() error { _, err := e.svc.Cancel(e.ctx, declined.ID, "alice@example.com"); return err }, approvals.EConflict},
		{"release declined", func() error { _, err := e.svc.Release(e.ctx, declined.ID, "alice@example.com"); return err }, approvals.EConflict},
		{"revoke declined", func() error { _, err := e.svc.Revoke(e.ctx, declined.ID, "it", "why"); return err }, approvals.EConflict},
		{"approve active", func() error { _, err := e.svc.Approve(e.ctx, active.ID, "bob@example.com", ""); return err }, approvals.EConflict},
		{"cancel active", func() error { _, err := e.svc.Cancel(e.ctx, active.ID, "alice@example.com"); return err }, approvals.EConflict},
		{"release pending", func() error { _, err := e.svc.Release(e.ctx, pending.ID, "alice@example.com"); return err }, approvals.EConflict},
		{"revoke pending", func() error { _, err := e.svc.Revoke(e.ctx, pending.ID, "it", "why"); return err }, approvals.EConflict},
		{"extend pending", func() error {
			_, err := e.svc.Extend(e.ctx, pending.ID, "alice@example.com", time.Hour, "")
			return err
		}, approvals.EConflict},
		{"someone else cancels", func() error { _, err := e.svc.Cancel(e.ctx, pending.ID, "bob@example.com"); return err }, approvals.EForbidden},
		{"someone else releases", func() error { _, err := e.svc.Release(e.ctx, active.ID, "bob@example.com"); return err }, approvals.EForbidden},
		{"revoke without reason", func() error { _, err := e.svc.Revoke(e.ctx, active.ID, "it", " "); return err }, approvals.EInvalid},
		{"unknown id", func() error { _, err := e.svc.Approve(e.ctx, "nope", "bob@example.com", ""); return err }, approvals.ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.count(`SELECT count(*) FROM audit_events`)
			wantCode(t, tt.do(), tt.want)
			if after := e.count(`SELECT count(*) FROM audit_events`); after != before {
				t.Errorf("a refused change wrote %d audit events", after-before)
			}
		})
	}
	wantState(t, e.get(declined.ID), approvals.StateDeclined)
	wantState(t, e.get(active.ID), approvals.StateActive)
	wantState(t, e.get(pending.ID), approvals.StatePending)
}

func TestService_ConcurrentApprovals(t *testing.T) {
	t.Run("DoubleClick", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("alice@example.com", "confluence-finance", 72*time.Hour) // default rule: bob
		oks := approveConcurrently(e, r.ID, func(int) string { return "bob@example.com" })
		if oks != 1 {
			t.Errorf("successful approvals: got %d, want 1", oks)
		}
		checkOneGrant(e, r.ID)
	})
	t.Run("ManyApprovers", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("erin@partner.io", "confluence-finance", 72*time.Hour) // bob, then carol
		e.approve(r.ID, "bob@example.com")
		oks := approveConcurrently(e, r.ID, func(i int) string {
			if i%2 == 0 {
				return "carol@example.com"
			}
			return "bob@example.com" // step 1 approver: not allowed at step 2
		})
		if oks != 1 {
			t.Errorf("successful approvals: got %d, want 1", oks)
		}
		checkOneGrant(e, r.ID)
	})
}

func approveConcurrently(e *env, id string, who func(i int) string) int {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		oks int
	)
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := e.svc.Approve(e.ctx, id, who(i), ""); err == nil {
				mu.Lock()
				oks++
				mu.Unlock()
			} else if c := approvals.ErrorCode(err); c == "" {
				e.t.Errorf("approval failed with an internal error: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return oks
}

func checkOneGrant(e *env, id string) {
	e.t.Helper()
	wantState(e.t, e.get(id), approvals.StateApproved)
	if n := len(e.grants(id)); n != 1 {
		e.t.Errorf("grants: got %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE kind='provision' AND request_id=?`, id); n != 1 {
		e.t.Errorf("provisioning jobs: got %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action='request.approved' AND request_id=?`, id); n != 1 {
		e.t.Errorf("request.approved events: got %d, want 1", n)
	}
	e.settle()
	if adds, _ := e.ledger.Counts(); adds != 1 {
		e.t.Errorf("memberships added: got %d, want 1", adds)
	}
	wantState(e.t, e.get(id), approvals.StateActive)
}

func TestService_Authorization(t *testing.T) {
	e := newEnv(t)
	admin := e.submit("alice@example.com", "jira-admins", time.Hour) // bob, then it-leads
	tests := []struct {
		name, who, want, msg string
	}{
		{"NonApprover", "gina@example.com", approvals.ENotApprover, "not an approver"},
		{"Requester", "alice@example.com", approvals.ESelfApproval, "your own request"},
		{"LaterStep", "dave@example.com", approvals.ENotApprover, "step 2"},
		{"CaseAndSpace", " BOB@example.com ", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Approve(e.ctx, admin.ID, tt.who, "")
			wantCode(t, err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message: got %q, want it to mention %q", err, tt.msg)
			}
		})
	}
	r := e.get(admin.ID)
	if r.CurrentStep != 1 {
		t.Fatalf("current step: got %d, want 1", r.CurrentStep)
	}
	// At step 2 bob is no longer an approver; dave is.
	_, err := e.svc.Approve(e.ctx, admin.ID, "bob@example.com", "")
	wantCode(t, err, approvals.ENotApprover)
	e.approve(admin.ID, "dave@example.com")
	wantState(t, e.get(admin.ID), approvals.StateApproved)
}

func TestService_Quorum(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "it-tools", time.Hour) // quorum 2 of dave, frank, gina
	e.approve(r.ID, "dave@example.com")
	_, err := e.svc.Approve(e.ctx, r.ID, "dave@example.com", "")
	wantCode(t, err, approvals.EAlreadyDone)
	wantState(t, e.get(r.ID), approvals.StatePending)
	e.approve(r.ID, "gina@example.com")
	wantState(t, e.get(r.ID), approvals.StateApproved)
}

func TestService_SelfApprovalAllowedByRule(t *testing.T) {
	e := newEnv(t)
	r := e.submit("gina@example.com", "sales-wiki", time.Hour)
	e.approve(r.ID, "gina@example.com")
	wantState(t, e.get(r.ID), approvals.StateApproved)
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action='approval.recorded' AND data LIKE '%self_approval%'`); n != 1 {
		t.Errorf("self-approval must be recorded: got %d events, want 1", n)
	}
}

func TestService_SubmitRefusals(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name      string
		in        approvals.SubmitInput
		want, msg string
	}{
		{"NoManager", approvals.SubmitInput{Requester: "bob@example.com", Resource: "confluence-finance", Duration: 72 * time.Hour, Reason: "x"}, approvals.EPolicy, "manager"},
		{"TooLong", approvals.SubmitInput{Requester: "alice@example.com", Resource: "jira-admins", Duration: 3 * time.Hour, Reason: "x", Ticket: "T-1"}, approvals.EPolicy, "2h"},
		{"NoTicket", approvals.SubmitInput{Requester: "alice@example.com", Resource: "jira-admins", Duration: time.Hour, Reason: "x"}, approvals.EInvalid, "ticket"},
		{"NoReason", approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: time.Hour}, approvals.EInvalid, "reason"},
		{"NoDuration", approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Reason: "x"}, approvals.EInvalid, "how long"},
		{"Stranger", approvals.SubmitInput{Requester: "mallory@evil.test", Resource: "confluence-finance", Duration: time.Hour, Reason: "x"}, approvals.EPolicy, "mallory"},
		{"UnknownResource", approvals.SubmitInput{Requester: "alice@example.com", Resource: "nope", Duration: time.Hour, Reason: "x"}, approvals.EPolicy, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.svc.Submit(e.ctx, tt.in)
			if r != nil {
				t.Fatalf("got request %s, want a refusal", r.ID)
			}
			wantCode(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message: got %q, want it to mention %q", err, tt.msg)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("refused requests stored: got %d, want 0", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action='request.refused'`); n != len(tests)-1 {
		t.Errorf("refusals recorded: got %d, want %d", n, len(tests)-1)
	}
}

func TestService_Bundle(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "incident-bundle", time.Hour)
	if !r.Admin {
		t.Error("a bundle containing an admin group is an admin escalation")
	}
	e.approve(r.ID, "bob@example.com")
	e.approve(r.ID, "frank@example.com")
	e.settle()
	wantState(t, e.get(r.ID), approvals.StateActive)
	if got, want := fmt.Sprint(e.ledger.Members()), "[confluence-finance/alice@example.com jira-admins/alice@example.com]"; got != want {
		t.Errorf("members: got %s, want %s", got, want)
	}
	e.advance(time.Hour)
	wantState(t, e.get(r.ID), approvals.StateExpired)
	if got := e.ledger.Members(); len(got) != 0 {
		t.Errorf("members after expiry: got %v, want none", got)
	}
}

func TestService_CancelDeclineRelease(t *testing.T) {
	e := newEnv(t)
	c := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
	if _, err := e.svc.Cancel(e.ctx, c.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(c.ID), approvals.StateCancelled)

	d := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
	if _, err := e.svc.Decline(e.ctx, d.ID, "bob@example.com", "use the shared report instead"); err != nil {
		t.Fatal(err)
	}
	got := e.get(d.ID)
	wantState(t, got, approvals.StateDeclined)
	if got.StateReason != "use the shared report instead" || got.DecidedBy != "bob@example.com" {
		t.Errorf("decline: got reason %q by %q", got.StateReason, got.DecidedBy)
	}

	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	if _, err := e.svc.Release(e.ctx, r.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	e.settle()
	wantState(t, e.get(r.ID), approvals.StateReleased)
	if got := e.ledger.Members(); len(got) != 0 {
		t.Errorf("members after release: got %v, want none", got)
	}
}

func TestService_ProvisioningRetriesThenFails(t *testing.T) {
	t.Run("Transient", func(t *testing.T) {
		e := newEnv(t)
		e.jira.fails, e.jira.err = 2, errors.New("503 service unavailable")
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		wantState(t, e.get(r.ID), approvals.StateApproved)
		for i := 0; i < 3 && e.get(r.ID).State == approvals.StateApproved; i++ {
			e.advance(time.Minute) // past any backoff
		}
		wantState(t, e.get(r.ID), approvals.StateActive)
		if n := e.count(`SELECT count(*) FROM audit_events WHERE action='job.retry'`); n != 2 {
			t.Errorf("retries recorded: got %d, want 2", n)
		}
	})
	t.Run("Permanent", func(t *testing.T) {
		e := newEnv(t)
		e.jira.fails, e.jira.err = 100, approvals.Permanent(errors.New("the API token's user is not a site admin"))
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		got := e.get(r.ID)
		wantState(t, got, approvals.StateFailed)
		if !strings.Contains(got.StateReason, "not a site admin") {
			t.Errorf("reason: got %q", got.StateReason)
		}
		if e.jira.calls != 1 {
			t.Errorf("provider calls: got %d, want 1 (no retry on a permanent error)", e.jira.calls)
		}
		if n := e.count(`SELECT count(*) FROM audit_events WHERE action='alert.raised' AND reason LIKE '%not a site admin%'`); n != 1 {
			t.Errorf("alerts: got %d, want 1", n)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		e := newEnv(t)
		e.jira.fails, e.jira.err = 100, errors.New("connection refused")
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		for i := 0; i < 10; i++ {
			e.advance(time.Minute)
		}
		wantState(t, e.get(r.ID), approvals.StateFailed)
		if e.jira.calls != 4 {
			t.Errorf("provider calls: got %d, want 4 (MaxAttempts)", e.jira.calls)
		}
	})
}
