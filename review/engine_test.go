package review_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
)

// seedExample fills the org for the two example rules.
func seedExample(e *env) {
	o := e.org
	o.addGroup("jira-software-users")
	o.addGroup("jira-admins-standing")
	o.put(review.DirectoryUser{Email: "boss@example.com", AddedToOrg: ago(400 * day), Products: []review.ProductActivity{used("jira-software", ago(day))}})
	o.put(review.DirectoryUser{Email: "alice@example.com", Name: "Alice", AddedToOrg: ago(300 * day),
		Products: []review.ProductActivity{used("jira-software", ago(40*day)), used("confluence", ago(35*day))}})
	o.put(review.DirectoryUser{Email: "bob@example.com", AddedToOrg: ago(300 * day),
		Products: []review.ProductActivity{used("jira-software", ago(5*day))}})
	// Added 10 days ago, never used anything: not flagged before 30 days.
	o.put(review.DirectoryUser{Email: "newbie@example.com", AddedToOrg: ago(10 * day)})
	// An app account is never reviewed, however idle.
	o.put(review.DirectoryUser{AccountID: "app-1", Email: "", Name: "Automation for Jira", AccountType: "app", AddedToOrg: ago(900 * day)})
	// Consultants: erin idle 3 days, ida active today.
	o.put(review.DirectoryUser{Email: "erin@partner.io", AddedToOrg: ago(100 * day), Products: []review.ProductActivity{used("jira-software", ago(3*day))}})
	o.put(review.DirectoryUser{Email: "ida@partner.io", AddedToOrg: ago(100 * day), Products: []review.ProductActivity{used("confluence", ago(time.Hour))}})
	// zed is in Atlassian but not in jitbot's directory: no manager.
	o.put(review.DirectoryUser{Email: "zed@partner.io", AddedToOrg: ago(100 * day)})
	// Already suspended by someone.
	o.put(review.DirectoryUser{Email: "old@partner.io", AddedToOrg: ago(100 * day), MembershipStatus: review.MembershipSuspended})
	erin := "acc-erin"
	o.setMember("jira-software-users", erin, true)
}

func TestRunReview_ExampleRules(t *testing.T) {
	e := newEnv(t, exampleReviews)
	seedExample(e)
	ctx := context.Background()
	if rec := e.sync(); rec.Users != 9 {
		t.Fatalf("synced %d users, want 9", rec.Users)
	}

	t.Run("employees", func(t *testing.T) {
		run := e.run("employees", review.RunOptions{})
		if run.State != review.RunOpen {
			t.Fatalf("run state: got %s, want open", run.State)
		}
		items := e.items(run.ID)
		alice := wantState(t, items, "alice@example.com", review.ItemPending)
		if alice.Manager != "boss@example.com" || alice.Unassigned {
			t.Errorf("alice: got manager %q unassigned %v", alice.Manager, alice.Unassigned)
		}
		if got, want := alice.IdleDays(run.AsOf), 35; got != want {
			t.Errorf("alice idle days: got %d, want %d", got, want)
		}
		if !alice.AnswerBy.Equal(t0.Add(5 * day)) {
			t.Errorf("alice answer by: got %v, want %v", alice.AnswerBy, t0.Add(5*day))
		}
		noItem(t, items, "bob@example.com")    // active 5 days ago
		noItem(t, items, "newbie@example.com") // added 10 days ago
		noItem(t, items, "boss@example.com")   // active yesterday
		noItem(t, items, "erin@partner.io")    // another rule
		wantState(t, items, "ghost@example.com", review.ItemNotInAtlassian)
		if len(items) != 2 {
			t.Errorf("got %d items, want 2: %v", len(items), items)
		}
		c := run.Counts
		if c.Apps != 1 || c.TooNew != 1 || c.Active != 2 || c.Items != 2 {
			t.Errorf("counts: got %+v", c)
		}
		jobs := e.pendingJobs()
		wantJobs := []string{
			"review.digest " + run.ID,
			"review.prompt " + review.PromptRef(run.ID, "boss@example.com"),
			"review.reminder " + review.PromptRef(run.ID, "boss@example.com"),
			"review.reminder " + review.PromptRef(run.ID, "boss@example.com"),
		}
		if got := kinds(jobs); !slices.Equal(got, wantJobs) {
			t.Errorf("jobs: got %q, want %q", got, wantJobs)
		}
		var remind []time.Time
		for _, j := range jobs {
			if j.Kind == review.JobReminder {
				remind = append(remind, j.RunAt)
			}
		}
		if want := []time.Time{t0.Add(60 * time.Hour), t0.Add(4 * day)}; !slices.EqualFunc(remind, want, time.Time.Equal) {
			t.Errorf("reminders due: got %v, want %v", remind, want)
		}
		prompt, err := e.eng.Prompt(ctx, run.ID, "boss@example.com")
		if err != nil || len(prompt) != 2 {
			t.Fatalf("boss's prompt: got %d items, %v; want alice and ghost", len(prompt), err)
		}

		// Only the manager the item was assigned to (or IT) answers.
		_, err = e.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "bob@example.com", Keep: true, Reason: "x"})
		if got := approvals.ErrorCode(err); got != review.ENotAnswerer {
			t.Errorf("bob answers for alice: got %v, want %s", err, review.ENotAnswerer)
		}
		_, err = e.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "boss@example.com", Keep: true})
		if got := approvals.ErrorCode(err); got != review.EInvalid {
			t.Errorf("keep without a reason: got %v, want %s", err, review.EInvalid)
		}
		it, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "Boss@Example.com", Keep: true, Reason: "quarter-end reporting"})
		if err != nil {
			t.Fatal(err)
		}
		if it.State != review.ItemKept || it.DecidedBy != "boss@example.com" || it.Reason != "quarter-end reporting" {
			t.Errorf("alice after Keep: got %s by %s: %s", it.State, it.DecidedBy, it.Reason)
		}
		_, err = e.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "boss@example.com", Keep: false})
		if got := approvals.ErrorCode(err); got != review.EConflict {
			t.Errorf("second answer: got %v, want %s", err, review.EConflict)
		}
		// ghost is not in Atlassian: nothing waits, so the run closes.
		got, _ := e.eng.Run(ctx, run.ID)
		if got.State != review.RunClosed {
			t.Errorf("run after the last answer: got %s, want closed", got.State)
		}
		if ev := e.events("alice@example.com"); !slices.Contains(ev, review.ActionDecided) {
			t.Errorf("alice's events: got %v, want a %s", ev, review.ActionDecided)
		}
		e.drain()
	})

	t.Run("external consultants", func(t *testing.T) {
		run := e.run("external consultants", review.RunOptions{})
		items := e.items(run.ID)
		erin := wantState(t, items, "erin@partner.io", review.ItemWarned)
		if !erin.SuspendAt.Equal(t0.Add(day)) {
			t.Errorf("erin suspend at: got %v, want %v", erin.SuspendAt, t0.Add(day))
		}
		zed := wantState(t, items, "zed@partner.io", review.ItemWarned)
		if !zed.Unassigned || zed.Manager != "" || !zed.NeverUsed {
			t.Errorf("zed: got unassigned %v manager %q never used %v", zed.Unassigned, zed.Manager, zed.NeverUsed)
		}
		wantState(t, items, "old@partner.io", review.ItemAlreadySuspended)
		noItem(t, items, "ida@partner.io")
		msgs := e.drain()
		want := []string{"review.digest " + run.ID, "review.warning " + erin.ID, "review.warning " + zed.ID}
		slices.Sort(want)
		if got := kinds(msgs); !slices.Equal(got, want) {
			t.Errorf("messages: got %q, want %q", got, want)
		}
		if n := e.org.suspendCalls("acc-erin"); n != 0 {
			t.Fatalf("erin suspended %d times before the warning ran out", n)
		}

		// The warning runs out: both are suspended, once.
		e.clock.Advance(day)
		res, err := e.eng.Sweep(ctx)
		if err != nil || res.Suspended != 2 {
			t.Fatalf("sweep: got %+v, %v; want 2 suspended", res, err)
		}
		e.drain()
		items = e.items(run.ID)
		erin = wantState(t, items, "erin@partner.io", review.ItemSuspended)
		if erin.DecidedBy != review.ActorPolicy {
			t.Errorf("erin decided by: got %q, want %q", erin.DecidedBy, review.ActorPolicy)
		}
		if n := e.org.suspendCalls("acc-erin"); n != 1 {
			t.Errorf("erin suspended %d times, want 1", n)
		}
		if got := e.org.users["acc-erin"].MembershipStatus; got != review.MembershipSuspended {
			t.Errorf("erin at Atlassian: got %s, want suspended", got)
		}
		got, _ := e.eng.Run(ctx, run.ID)
		if got.State != review.RunClosed {
			t.Errorf("run: got %s, want closed", got.State)
		}
		ev := strings.Join(e.events("erin@partner.io"), " ")
		for _, want := range []string{review.ActionWarned, review.ActionDecided, review.ActionRecorded, review.ActionSuspended} {
			if !strings.Contains(ev, want) {
				t.Errorf("erin's events %q lack %s", ev, want)
			}
		}
		rep, err := e.eng.Report(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Reclaimable["jira-software"] != 1 || rep.MonthlyCost != 8.60 {
			t.Errorf("report: reclaimable %v cost %.2f; want jira-software 1 (erin) at 8.60", rep.Reclaimable, rep.MonthlyCost)
		}
	})
}

func TestRunReview_DryRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reviews string
		opt     review.RunOptions
	}{
		{"flag", exampleReviews, review.RunOptions{DryRun: true}},
		{"rule", strings.Replace(exampleReviews, "dry_run: false", "dry_run: true", 1), review.RunOptions{}},
		{"silent", exampleReviews, review.RunOptions{DryRun: true, Silent: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.reviews)
			seedExample(e)
			e.sync()
			run := e.run("external consultants", tc.opt)
			if !run.DryRun || run.State != review.RunClosed {
				t.Errorf("run: dry %v state %s, want a closed dry run", run.DryRun, run.State)
			}
			items := e.items(run.ID)
			erin := wantState(t, items, "erin@partner.io", review.ItemDryRun)
			if !strings.Contains(erin.Would, "warn the person and their manager, then suspend") {
				t.Errorf("erin would: got %q", erin.Would)
			}
			if jobs := e.pendingJobs(); tc.opt.Silent && len(jobs) != 0 {
				t.Errorf("jobs: got %v, want none (a silent dry run posts nothing)", kinds(jobs))
			} else if !tc.opt.Silent && (len(jobs) != 1 || jobs[0].Kind != review.JobDigest) {
				t.Errorf("jobs: got %v, want only the digest", kinds(jobs))
			}
			e.clock.Advance(3 * day)
			if _, err := e.eng.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.drain()
			if n := e.org.suspendCalls("acc-erin"); n != 0 {
				t.Errorf("a dry run suspended erin %d times", n)
			}
		})
	}
}

func TestRunReview_Exclusions(t *testing.T) {
	e := newEnv(t, `reviews:
  - name: everyone
    inactive_for: 30d
    schedule: "@daily"
    action: suspend
    exclude: [svc-*@example.com, group:jira-admins-standing]
`)
	e.org.addGroup("jira-admins-standing")
	for _, email := range []string{"svc-build@example.com", "alice@example.com", "bob@example.com"} {
		e.org.put(review.DirectoryUser{Email: email, AddedToOrg: ago(100 * day)})
	}
	e.org.setMember("jira-admins-standing", "acc-bob", true)
	e.sync()
	run := e.run("everyone", review.RunOptions{})
	items := e.items(run.ID)
	if it := wantState(t, items, "svc-build@example.com", review.ItemExcluded); it.Reason != "exclude: svc-*@example.com" {
		t.Errorf("svc-build: got reason %q", it.Reason)
	}
	if it := wantState(t, items, "bob@example.com", review.ItemExcluded); it.Reason != "exclude: group:jira-admins-standing" {
		t.Errorf("bob: got reason %q", it.Reason)
	}
	wantState(t, items, "alice@example.com", review.ItemSuspending)
	e.drain()
	if e.org.suspendCalls("acc-bob") != 0 || e.org.suspendCalls("acc-svc-build") != 0 || e.org.suspendCalls("acc-alice") != 1 {
		t.Errorf("suspend calls: got %v, want alice only", e.org.suspends)
	}
	if ev := e.events("bob@example.com"); !slices.Contains(ev, review.ActionExcluded) {
		t.Errorf("bob's events: got %v, want %s", ev, review.ActionExcluded)
	}
}

const promptReviews = `reviews:
  - name: employees
    if: {user: {employment: internal}}
    inactive_for: 30d
    schedule: "0 9 * * MON"
    action: prompt_manager
    answer_within: 5d
    default: %s
    keep_for: 90d
`

func promptEnv(t *testing.T, def string) *env {
	e := newEnv(t, strings.Replace(promptReviews, "%s", def, 1))
	e.org.put(review.DirectoryUser{Email: "boss@example.com", AddedToOrg: ago(400 * day), Products: []review.ProductActivity{used("confluence", ago(day))}})
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(300 * day), Products: []review.ProductActivity{used("confluence", ago(60*day))}})
	e.org.put(review.DirectoryUser{Email: "bob@example.com", AddedToOrg: ago(300 * day), Products: []review.ProductActivity{used("confluence", ago(45*day))}})
	e.sync()
	return e
}

func TestAnswer_KeepFor(t *testing.T) {
	e := promptEnv(t, "keep")
	ctx := context.Background()
	run := e.run("employees", review.RunOptions{})
	alice := wantState(t, e.items(run.ID), "alice@example.com", review.ItemPending)
	if _, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "boss@example.com", Keep: true, Reason: "on parental leave"}); err != nil {
		t.Fatal(err)
	}
	// Within keep_for alice is not asked again; bob, unanswered, is still
	// under review in the first run.
	e.clock.Advance(30 * day)
	if _, err := e.eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	e.sync()
	run2 := e.run("employees", review.RunOptions{})
	items := e.items(run2.ID)
	noItem(t, items, "alice@example.com")
	if run2.Counts.StillKept != 1 {
		t.Errorf("still kept: got %d, want 1", run2.Counts.StillKept)
	}
	// bob's first prompt defaulted to keep after 5 days (a default keeps,
	// but vouches for nothing): he is asked again.
	wantState(t, items, "bob@example.com", review.ItemPending)
	// After keep_for alice is asked again.
	e.clock.Advance(61 * day)
	run3 := e.run("employees", review.RunOptions{})
	wantState(t, e.items(run3.ID), "alice@example.com", review.ItemPending)
}

func TestSweep_DefaultOnNoAnswer(t *testing.T) {
	for _, tc := range []struct {
		def  string
		want review.ItemState
	}{{"keep", review.ItemKept}, {"suspend", review.ItemSuspended}} {
		t.Run(tc.def, func(t *testing.T) {
			e := promptEnv(t, tc.def)
			ctx := context.Background()
			run := e.run("employees", review.RunOptions{})
			e.clock.Advance(5*day - time.Minute)
			if res, _ := e.eng.Sweep(ctx); res.Defaulted != 0 {
				t.Fatalf("defaulted %d before answer_within ran out", res.Defaulted)
			}
			e.clock.Advance(time.Minute)
			if res, err := e.eng.Sweep(ctx); err != nil || res.Defaulted != 2 {
				t.Fatalf("sweep: got %+v, %v; want 2 defaulted", res, err)
			}
			e.drain()
			items := e.items(run.ID)
			alice := wantState(t, items, "alice@example.com", tc.want)
			if alice.DecidedBy != review.ActorDefault || !strings.Contains(alice.Reason, "no answer within 5d") {
				t.Errorf("alice: decided by %q: %q", alice.DecidedBy, alice.Reason)
			}
			got, _ := e.eng.Run(ctx, run.ID)
			if got.State != review.RunClosed {
				t.Errorf("run: got %s, want closed", got.State)
			}
			if tc.def == "suspend" && e.org.suspendCalls("acc-alice") != 1 {
				t.Errorf("alice suspended %d times, want 1", e.org.suspendCalls("acc-alice"))
			}
		})
	}
}

func TestRunReview_MatchesNobody(t *testing.T) {
	e := newEnv(t, `reviews:
  - {name: finance, if: {user: {department: Finance}}, inactive_for: 30d, schedule: "@daily", action: prompt_manager, digest: "#it"}
`)
	seedExample(e)
	e.sync()
	run := e.run("finance", review.RunOptions{})
	if run.State != review.RunClosed || run.Counts.Covered != 0 || run.Counts.Items != 0 {
		t.Errorf("run: state %s counts %+v; want closed with nobody covered", run.State, run.Counts)
	}
	if got := kinds(e.pendingJobs()); !slices.Equal(got, []string{"review.digest " + run.ID}) {
		t.Errorf("jobs: got %q, want only the digest", got)
	}
}

func TestAnswer_Unassigned(t *testing.T) {
	e := promptEnv(t, "keep")
	ctx := context.Background()
	// The boss has no manager: when idle, IT answers for him.
	e.org.put(review.DirectoryUser{Email: "boss@example.com", AddedToOrg: ago(400 * day)})
	e.sync()
	run := e.run("employees", review.RunOptions{})
	boss := wantState(t, e.items(run.ID), "boss@example.com", review.ItemPending)
	if !boss.Unassigned {
		t.Fatal("boss: want unassigned")
	}
	if got := kinds(e.pendingJobs()); !slices.Contains(got, "review.prompt "+review.PromptRef(run.ID, "")) {
		t.Errorf("jobs: got %q, want a prompt for IT", got)
	}
	for by, want := range map[string]string{"boss@example.com": review.ESelfAnswer, "alice@example.com": review.ENotAnswerer} {
		_, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: boss.ID, By: by, Keep: true, Reason: "x"})
		if approvals.ErrorCode(err) != want {
			t.Errorf("%s answers for the unassigned boss: got %v, want %s", by, err, want)
		}
	}
	waiting, _ := e.eng.Waiting(ctx, "")
	if len(waiting) != 1 || waiting[0].ID != boss.ID {
		t.Errorf("waiting for IT: got %d items", len(waiting))
	}
	if _, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: boss.ID, By: "it-lead@example.com", Keep: true, Reason: "CEO", AsIT: true}); err != nil {
		t.Errorf("IT answers: %v", err)
	}
}

// Nobody answers for themselves, IT included: the head of IT has no
// manager, so their item is on IT's list, which they may answer, but not
// for themselves; another member of IT does.
func TestAnswer_NobodyForThemselves(t *testing.T) {
	e := promptEnv(t, "keep")
	ctx := context.Background()
	// The boss runs IT and has no manager; idle, their item is IT's.
	e.org.put(review.DirectoryUser{Email: "boss@example.com", AddedToOrg: ago(400 * day)})
	e.sync()
	run := e.run("employees", review.RunOptions{})
	lead := wantState(t, e.items(run.ID), "boss@example.com", review.ItemPending)
	alice := wantState(t, e.items(run.ID), "alice@example.com", review.ItemPending)
	for _, tc := range []struct {
		name string
		give review.AnswerInput
		want string
	}{
		{"IT keeps their own", review.AnswerInput{ItemID: lead.ID, By: "boss@example.com", Keep: true, Reason: "I still need it", AsIT: true},
			"you cannot answer for yourself: another member of IT must answer for boss@example.com"},
		{"IT suspends their own", review.AnswerInput{ItemID: lead.ID, By: "Boss@example.com", AsIT: true},
			"you cannot answer for yourself: another member of IT must answer for boss@example.com"},
		{"an IT member with a manager", review.AnswerInput{ItemID: alice.ID, By: "alice@example.com", Keep: true, Reason: "x", AsIT: true},
			"you cannot answer for yourself: another member of IT must answer for alice@example.com"},
		{"a person with a manager", review.AnswerInput{ItemID: alice.ID, By: "alice@example.com", Keep: true, Reason: "x"},
			`you cannot answer for yourself; use "I still need it" to ask boss@example.com`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.eng.Answer(ctx, tc.give)
			if approvals.ErrorCode(err) != review.ESelfAnswer || err.Error() != tc.want {
				t.Errorf("got %v, want %s: %q", err, review.ESelfAnswer, tc.want)
			}
			if err := review.IsAnswerer(lead, "boss@example.com", true); approvals.ErrorCode(err) != review.ESelfAnswer {
				t.Errorf("IsAnswerer: got %v, want %s", err, review.ESelfAnswer)
			}
		})
	}
	// Keep all on IT's list leaves their own open.
	done, err := e.eng.AnswerAll(ctx, run.ID, "", review.AnswerInput{By: "boss@example.com", Keep: true, Reason: "contractors", AsIT: true})
	if err != nil || len(done) != 0 {
		t.Fatalf("keep all by the head of IT: got %d items, %v; want none", len(done), err)
	}
	wantState(t, e.items(run.ID), "boss@example.com", review.ItemPending)
	got, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: lead.ID, By: "dana@example.com", Keep: true, Reason: "runs IT", AsIT: true})
	if err != nil || got.State != review.ItemKept || got.DecidedBy != "dana@example.com" {
		t.Fatalf("another IT member keeps the head of IT: got %+v, %v", got, err)
	}
}

func TestAnswer_ConcurrentAnswersOneWins(t *testing.T) {
	e := promptEnv(t, "keep")
	ctx := context.Background()
	run := e.run("employees", review.RunOptions{})
	alice := wantState(t, e.items(run.ID), "alice@example.com", review.ItemPending)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "boss@example.com", Keep: i%2 == 0, Reason: "r"})
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if approvals.ErrorCode(err) != review.EConflict {
				t.Errorf("answer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("got %d winning answers, want 1", wins)
	}
	decided := 0
	for _, a := range e.events("alice@example.com") {
		if a == review.ActionDecided {
			decided++
		}
	}
	if decided != 1 {
		t.Errorf("got %d decisions in the audit trail, want 1", decided)
	}
}

func TestRequestKeep_ReachesTheManager(t *testing.T) {
	e := newEnv(t, exampleReviews)
	seedExample(e)
	e.sync()
	ctx := context.Background()
	run := e.run("external consultants", review.RunOptions{})
	erin := wantState(t, e.items(run.ID), "erin@partner.io", review.ItemWarned)
	if _, err := e.eng.RequestKeep(ctx, erin.ID, "boss@example.com", "x"); approvals.ErrorCode(err) != review.ENotAnswerer {
		t.Errorf("someone else asks for erin: got %v", err)
	}
	if _, err := e.eng.RequestKeep(ctx, erin.ID, "erin@partner.io", "I still need it: the migration runs next week"); err != nil {
		t.Fatal(err)
	}
	msgs := e.drain()
	if !slices.Contains(kinds(msgs), "review.keep_request "+erin.ID) {
		t.Errorf("messages: got %q, want a keep request for the manager", kinds(msgs))
	}
	it, err := e.eng.Answer(ctx, review.AnswerInput{ItemID: erin.ID, By: "boss@example.com", Keep: true, Reason: "migration next week"})
	if err != nil || it.State != review.ItemKept {
		t.Fatalf("manager keeps erin: %v, %v", it, err)
	}
	e.clock.Advance(2 * day)
	e.eng.Sweep(ctx)
	e.drain()
	if n := e.org.suspendCalls("acc-erin"); n != 0 {
		t.Errorf("erin suspended %d times after her manager kept her", n)
	}
}

func TestRunSuspendJob_IdPManaged(t *testing.T) {
	e := newEnv(t, exampleReviews)
	e.org.put(review.DirectoryUser{Email: "erin@partner.io", AddedToOrg: ago(100 * day), ManagementSource: review.ManagedBySync})
	e.sync()
	ctx := context.Background()
	run := e.run("external consultants", review.RunOptions{})
	e.clock.Advance(day)
	e.eng.Sweep(ctx)
	e.drain()
	it := wantState(t, e.items(run.ID), "erin@partner.io", review.ItemIdPManaged)
	if it.State.Outcome() != "deactivate at the IdP" || !strings.Contains(it.Reason, "deactivate at the IdP") {
		t.Errorf("erin: outcome %q reason %q", it.State.Outcome(), it.Reason)
	}
	rep, _ := e.eng.Report(ctx, run.ID)
	if len(rep.NeedsIT) != 1 {
		t.Errorf("report: %d for IT, want erin", len(rep.NeedsIT))
	}
	var csv strings.Builder
	rep.WriteCSV(&csv)
	if !strings.Contains(csv.String(), "deactivate at the IdP") {
		t.Errorf("CSV lacks the IdP outcome:\n%s", csv.String())
	}
	ev := e.events("erin@partner.io")
	if !slices.Contains(ev, review.ActionSuspensionRefused) || !slices.Contains(ev, approvals.ActionAlert) {
		t.Errorf("erin's events: got %v, want a refusal and an alert", ev)
	}
}
