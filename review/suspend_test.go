package review_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

const suspendNow = `reviews:
  - {name: everyone, inactive_for: 30d, schedule: "@daily", action: suspend}
`

// crash is what a hook panics with to stop the "process" at a point.
type crash struct{}

func expectCrash(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("the crash point was never reached")
		} else if _, ok := r.(crash); !ok {
			panic(r)
		}
	}()
	fn()
}

func TestRunReview_CrashMidRunResumes(t *testing.T) {
	e := newEnv(t, suspendNow)
	e.org.pageSize = 100
	const n = 1234 // three batches of first-pass items
	for i := 0; i < n; i++ {
		e.org.put(review.DirectoryUser{Email: fmt.Sprintf("u%04d@example.com", i), AddedToOrg: ago(100 * day)})
	}
	e.sync()
	ctx := context.Background()
	e.hooks.AfterBatch = func(runID string, items int) { panic(crash{}) } // stop between the first and second batch
	expectCrash(t, func() { e.eng.RunReview(ctx, e.rule("everyone"), review.RunOptions{}) })
	e.hooks.AfterBatch = nil
	e.clock.Advance(time.Second) // a restart takes a moment
	e.restart()

	runs, _ := e.eng.Runs(ctx, review.RunFilter{})
	if len(runs) != 1 || runs[0].State != review.RunRunning {
		t.Fatalf("after the crash: got %d runs, want one still running", len(runs))
	}
	if got := len(e.items(runs[0].ID)); got != 500 {
		t.Fatalf("items before the resume: got %d, want the first batch of 500", got)
	}
	// Start-up resumes it (Tick), once.
	if err := e.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs, _ = e.eng.Runs(ctx, review.RunFilter{})
	if len(runs) != 1 || runs[0].State != review.RunOpen || runs[0].Counts.Items != n+7 { // and the 7 people of jitbot's directory not in Atlassian
		t.Fatalf("after the resume: got %d runs, first %s with %+v", len(runs), runs[0].State, runs[0].Counts)
	}
	if got := len(e.items(runs[0].ID)); got != n+7 {
		t.Errorf("items: got %d, want %d", got, n+7)
	}
	jobs := 0
	for _, j := range e.pendingJobs() {
		if j.Kind == review.JobSuspend {
			jobs++
		}
	}
	if jobs != n {
		t.Errorf("suspension jobs: got %d, want one per person (%d)", jobs, n)
	}
	e.drain()
	for i := 0; i < n; i++ {
		if c := e.org.suspendCalls(fmt.Sprintf("acc-u%04d", i)); c != 1 {
			t.Fatalf("u%04d suspended %d times, want 1", i, c)
		}
	}
	got, _ := e.eng.Run(ctx, runs[0].ID)
	if got.State != review.RunClosed {
		t.Errorf("run: got %s, want closed", got.State)
	}
}

func TestRunSuspendJob_CrashAfterTheCallSuspendsOnce(t *testing.T) {
	e := newEnv(t, suspendNow)
	e.org.addGroup("staff")
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	e.org.setMember("staff", "acc-alice", true)
	e.sync()
	run := e.run("everyone", review.RunOptions{})
	e.hooks.AfterSuspendCall = func(*review.Item) { panic(crash{}) }
	jobs := e.jobs(review.JobSuspend)
	if len(jobs) != 1 {
		t.Fatalf("suspension jobs: got %d, want 1", len(jobs))
	}
	expectCrash(t, func() { e.eng.RunSuspendJob(context.Background(), jobs[0]) })
	e.hooks.AfterSuspendCall = nil
	e.restart()
	// The job is still pending; the worker runs it again.
	e.drain()
	alice := wantState(t, e.items(run.ID), "alice@example.com", review.ItemSuspended)
	count := func(action string) int {
		n := 0
		for _, a := range e.events("alice@example.com") {
			if a == action {
				n++
			}
		}
		return n
	}
	if count(review.ActionSuspended) != 1 || count(review.ActionRecorded) != 1 {
		t.Errorf("events: %v; want one recording and one suspension", e.events("alice@example.com"))
	}
	// The API saw a repeated (idempotent) suspend; the record is one.
	if c := e.org.suspendCalls("acc-alice"); c != 2 {
		t.Errorf("suspend calls: got %d, want 2 (the crashed one and the retry)", c)
	}
	_ = alice
}

func TestRestore_AfterSuspension(t *testing.T) {
	e := newEnv(t, suspendNow)
	ctx := context.Background()
	for _, g := range []string{"staff", "design", "old-project", "confluence-finance"} {
		e.org.addGroup(g)
	}
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day), Products: []review.ProductActivity{used("confluence", ago(40*day))}})
	for _, g := range []string{"staff", "design", "old-project", "confluence-finance"} {
		e.org.setMember(g, "acc-alice", true)
	}
	e.sync()
	run := e.run("everyone", review.RunOptions{})
	e.drain()
	wantState(t, e.items(run.ID), "alice@example.com", review.ItemSuspended)

	// Meanwhile an admin removes her from design and deletes old-project.
	e.org.setMember("design", "acc-alice", false)
	e.org.deleteGroup("old-project")
	e.clock.Advance(10 * day)

	rep, err := e.eng.Restore(ctx, "alice@example.com", "it-lead@example.com")
	if err != nil {
		t.Fatal(err)
	}
	names := func(gs []review.Group) []string {
		var out []string
		for _, g := range gs {
			out = append(out, g.Name)
		}
		return out
	}
	if got := names(rep.Back); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("back: got %v, want staff", got)
	}
	if got := names(rep.ReAdded); !slices.Equal(got, []string{"design"}) {
		t.Errorf("re-added: got %v, want design", got)
	}
	if got := names(rep.Deleted); !slices.Equal(got, []string{"old-project"}) {
		t.Errorf("deleted: got %v, want old-project (reported, not recreated)", got)
	}
	if len(rep.Forbidden) != 1 || rep.Forbidden[0].Name != "confluence-finance" || !strings.Contains(rep.Forbidden[0].Why, "just in time") {
		t.Errorf("forbidden: got %+v, want confluence-finance (a JIT resource under today's policy)", rep.Forbidden)
	}
	if _, ok := e.org.groups["grp-old-project"]; ok {
		t.Error("the deleted group was recreated")
	}
	if got := e.org.groupNames("acc-alice"); !slices.Equal(got, []string{"confluence-finance", "design", "staff"}) {
		t.Errorf("alice's groups after the restore: got %v", got)
	}
	if e.org.users["acc-alice"].MembershipStatus != "active" {
		t.Error("alice is still suspended at Atlassian")
	}
	if ev := e.events("alice@example.com"); !slices.Contains(ev, review.ActionRestored) {
		t.Errorf("events: got %v, want %s", ev, review.ActionRestored)
	}
	// Inactivity counts from the restore: the next run leaves her alone.
	e.sync()
	e.clock.Advance(day)
	run2 := e.run("everyone", review.RunOptions{})
	noItem(t, e.items(run2.ID), "alice@example.com")
	// …until inactive_for has passed since the restore.
	e.clock.Advance(30 * day)
	run3 := e.run("everyone", review.RunOptions{})
	wantState(t, e.items(run3.ID), "alice@example.com", review.ItemSuspending)
}

func TestRunSuspendJob_RevokesActiveJITGrants(t *testing.T) {
	e := newEnv(t, suspendNow)
	ctx := context.Background()
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	e.sync()
	req, err := e.svc.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
		Duration: 10 * day, Reason: "month-end close"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RunJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.svc.Get(ctx, req.ID); r.State != approvals.StateActive {
		t.Fatalf("grant: got %s, want active", r.State)
	}
	run := e.run("everyone", review.RunOptions{})
	e.drain()
	wantState(t, e.items(run.ID), "alice@example.com", review.ItemSuspended)
	r, _ := e.svc.Get(ctx, req.ID)
	if r.State != approvals.StateRevoked || !strings.Contains(r.StateReason, "suspended by licence review") || r.DecidedBy == "" {
		t.Errorf("grant after the suspension: got %s %q", r.State, r.StateReason)
	}
	gs, _ := e.svc.Grants(ctx, req.ID)
	if len(gs) != 1 || gs[0].State != approvals.GrantEnded {
		t.Errorf("grant memberships: got %+v, want ended", gs)
	}
	ev := e.events("alice@example.com")
	if !slices.Contains(ev, review.ActionGrantRevoked) || !slices.Contains(ev, approvals.ActionRequestRevoked) {
		t.Errorf("events: got %v, want the revocation recorded as such", ev)
	}
}

func TestRunSuspendJob_FailureIsReported(t *testing.T) {
	e := newEnv(t, suspendNow)
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	e.org.suspendFn = func(string) error { return approvals.Permanent(fmt.Errorf("ADMIN-500: boom")) }
	e.sync()
	run := e.run("everyone", review.RunOptions{})
	e.drain()
	it := wantState(t, e.items(run.ID), "alice@example.com", review.ItemFailed)
	if !strings.Contains(it.Reason, "boom") {
		t.Errorf("reason: got %q", it.Reason)
	}
	if ev := e.events("alice@example.com"); !slices.Contains(ev, approvals.ActionAlert) {
		t.Errorf("events: got %v, want an alert", ev)
	}
}

func TestRunSuspendJob_FoundAlreadySuspended(t *testing.T) {
	e := newEnv(t, suspendNow)
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	e.sync()
	run := e.run("everyone", review.RunOptions{})
	// An admin suspends her by hand before the job runs.
	e.org.users["acc-alice"].MembershipStatus = review.MembershipSuspended
	e.drain()
	it := wantState(t, e.items(run.ID), "alice@example.com", review.ItemAlreadySuspended)
	if !strings.Contains(it.Finding, "found already suspended") {
		t.Errorf("finding: got %q", it.Finding)
	}
}

func TestTick_LeavesAnotherProcesssRunAlone(t *testing.T) {
	e := newEnv(t, suspendNow)
	for i := 0; i < 600; i++ {
		e.org.put(review.DirectoryUser{Email: fmt.Sprintf("u%04d@example.com", i), AddedToOrg: ago(100 * day)})
	}
	e.sync()
	ctx := context.Background()
	bot := e.eng // started first, as jitbot run
	e.clock.Advance(time.Second)
	cli := review.New(review.Config{Store: e.db, Policy: e.policy, Clock: e.clock,
		Hooks: &review.Hooks{AfterBatch: func(string, int) { panic(crash{}) }}})
	expectCrash(t, func() { cli.RunReview(ctx, e.rule("everyone"), review.RunOptions{}) })
	// The CLI's run is the CLI's: the bot does not race it…
	if err := bot.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs, _ := bot.Runs(ctx, review.RunFilter{})
	if len(runs) != 1 || runs[0].State != review.RunRunning {
		t.Fatalf("got %d runs, first %s; want the CLI's, still running", len(runs), runs[0].State)
	}
	// …until it has clearly died.
	e.clock.Advance(time.Hour)
	if err := bot.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs, _ = bot.Runs(ctx, review.RunFilter{})
	if runs[0].State != review.RunOpen || runs[0].Counts.Items != 607 {
		t.Errorf("after an hour: run %s with %+v; want it resumed", runs[0].State, runs[0].Counts)
	}
}
