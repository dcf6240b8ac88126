package approvals_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
)

// breakGlassPolicy: IT people may break the glass on jira-admins (an hour
// at most, twice in 30 days), reviewed by the IT leads (dave and frank).
var breakGlassPolicy = testenv.Policy(testenv.PolicyParts{
	Provider: "jira",
	RulesFirst: `  - name: incident
    if: {resource: [jira-admins], requester: {department: [IT]}}
    then:
      approvals: [{approvers: [manager]}]
      notify: ["#it-access-log"]
      break_glass: {max_duration: 1h, notify: ["#security"], review_by: [group:it-leads], max_uses: 2}
`,
})

func newBreakGlassEnv(t *testing.T) *env {
	return newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), breakGlassPolicy)
}

func (e *env) breakGlass(who string, d time.Duration) (*approvals.Request, error) {
	return e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: who, Resource: "jira-admins", Duration: d,
		Reason: "prod is down", BreakGlass: true})
}

func TestBreakGlass_GrantsAtOnceAndOpensAReview(t *testing.T) {
	e := newBreakGlassEnv(t)
	r, err := e.breakGlass("dave@example.com", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, r, approvals.StateApproved)
	if !slices.Equal(r.Notify, []string{"#it-access-log", "#security"}) {
		t.Errorf("channels told: %v", r.Notify)
	}
	e.settle()
	wantState(t, e.get(r.ID), approvals.StateActive)
	if !slices.Contains(e.ledger.Members(), "jira-admins/dave@example.com") {
		t.Fatalf("dave is not in jira-admins: %v", e.ledger.Members())
	}
	acts := e.actions(r.ID)
	if !slices.Contains(acts, approvals.ActionBreakGlassUsed) || !slices.Contains(acts, approvals.ActionAlert) {
		t.Errorf("events: %v", acts)
	}
	v, err := e.svc.BreakGlass(e.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	// dave never reviews his own use: frank does.
	if v.Review.State != approvals.BreakGlassOpen || !slices.Equal(v.Review.Reviewers, []string{"frank@example.com"}) || !v.Review.DueAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("review: %+v", v.Review)
	}
	if got := e.alertReasons(); len(got) != 1 || !strings.Contains(got[0], "Break-glass: dave@example.com took jira-admins for 30m") {
		t.Errorf("alerts: %q", got)
	}
	// Removed at its end.
	e.advance(30 * time.Minute)
	wantState(t, e.get(r.ID), approvals.StateExpired)
	if slices.Contains(e.ledger.Members(), "jira-admins/dave@example.com") {
		t.Error("dave is still in jira-admins after the break-glass grant ended")
	}
}

func TestBreakGlass_Limits(t *testing.T) {
	e := newBreakGlassEnv(t)
	for i := range 2 {
		if _, err := e.breakGlass("dave@example.com", 10*time.Minute); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
		e.fire(11 * 24 * time.Hour)
	}
	// Beyond the limit: refused with a sentence, recorded as refused.
	_, err := e.breakGlass("dave@example.com", 10*time.Minute)
	wantCode(t, err, approvals.ETooMany)
	if !strings.Contains(err.Error(), "used break-glass twice in the last 30 days") {
		t.Errorf("refusal: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = ? AND subject = ?`, approvals.ActionRequestRefused, "dave@example.com"); n != 1 {
		t.Errorf("refusals recorded: %d, want 1", n)
	}
	// Longer than break-glass allows.
	_, err = e.breakGlass("frank@example.com", 2*time.Hour)
	wantCode(t, err, approvals.EPolicy)
	// 30 days after the first use, one is free again.
	e.fire(9*24*time.Hour + time.Minute)
	if _, err := e.breakGlass("dave@example.com", 10*time.Minute); err != nil {
		t.Fatalf("after 30 days: %v", err)
	}
}

// Break-glass by someone no rule allows it to: alice (Engineering) falls
// under "admin escalation", which has no break_glass.
func TestBreakGlass_NotAllowed(t *testing.T) {
	e := newBreakGlassEnv(t)
	_, err := e.breakGlass("alice@example.com", 10*time.Minute)
	wantCode(t, err, approvals.EPolicy)
	if !strings.Contains(err.Error(), "does not allow break-glass") {
		t.Errorf("refusal: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM requests`); n != 0 {
		t.Errorf("requests filed: %d", n)
	}
}

func TestBreakGlass_Review(t *testing.T) {
	e := newBreakGlassEnv(t)
	r, err := e.breakGlass("dave@example.com", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.settle()
	_, err = e.svc.AnswerBreakGlass(e.ctx, r.ID, "dave@example.com", true, "")
	wantCode(t, err, approvals.ESelfApproval)
	_, err = e.svc.AnswerBreakGlass(e.ctx, r.ID, "bob@example.com", true, "")
	wantCode(t, err, approvals.ENotApprover)
	_, err = e.svc.AnswerBreakGlass(e.ctx, r.ID, "frank@example.com", false, " ")
	wantCode(t, err, approvals.EInvalid)
	v, err := e.svc.AnswerBreakGlass(e.ctx, r.ID, "frank@example.com", false, "no incident was open")
	if err != nil || v.State != approvals.BreakGlassFlagged {
		t.Fatalf("flag: %+v, %v", v, err)
	}
	_, err = e.svc.AnswerBreakGlass(e.ctx, r.ID, "frank@example.com", true, "")
	wantCode(t, err, approvals.EConflict)
	if got := e.alertReasons(); len(got) != 2 || !strings.Contains(got[1], "flagged by frank@example.com: no incident was open") {
		t.Errorf("alerts: %q", got)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ? AND actor = ?`, r.ID, approvals.ActionBreakGlassFlagged, "frank@example.com"); n != 1 {
		t.Errorf("flag events: %d", n)
	}
	// Answered: no escalation a day later.
	e.fire(25 * time.Hour)
	if slices.Contains(e.actions(r.ID), approvals.ActionBreakGlassEscalated) {
		t.Error("an answered review escalated")
	}
}

func TestBreakGlass_UnansweredEscalatesAfterADay(t *testing.T) {
	e := newBreakGlassEnv(t)
	r, err := e.breakGlass("dave@example.com", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.settle()
	e.fire(23*time.Hour + 59*time.Minute)
	if slices.Contains(e.actions(r.ID), approvals.ActionBreakGlassEscalated) {
		t.Fatal("escalated before a day")
	}
	e.fire(time.Minute)
	if !slices.Contains(e.actions(r.ID), approvals.ActionBreakGlassEscalated) {
		t.Fatalf("not escalated after a day: %v", e.actions(r.ID))
	}
	if got := e.alertReasons(); !strings.Contains(got[len(got)-1], "has not been reviewed after 1d") {
		t.Errorf("last alert: %q", got[len(got)-1])
	}
	// Still answerable afterwards.
	if _, err := e.svc.AnswerBreakGlass(e.ctx, r.ID, "frank@example.com", true, ""); err != nil {
		t.Fatal(err)
	}
}

// Uses at the same moment cannot slip past the limit together: with two
// uses left, of five at once exactly two are granted.
func TestBreakGlass_LimitUnderConcurrency(t *testing.T) {
	e := newBreakGlassEnv(t)
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			_, err := e.breakGlass("dave@example.com", 10*time.Minute)
			errs <- err
		}()
	}
	granted := 0
	for range 5 {
		switch err := <-errs; {
		case err == nil:
			granted++
		case approvals.ErrorCode(err) != approvals.ETooMany:
			t.Fatalf("a use: %v", err)
		}
	}
	if granted != 2 {
		t.Fatalf("granted %d uses at once, want 2 (max_uses)", granted)
	}
}
