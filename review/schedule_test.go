package review_test

import (
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/review"
)

func TestTick_MissedSlotsRunOnce(t *testing.T) {
	e := newEnv(t, exampleReviews)
	seedExample(e)
	e.sync()
	ctx := context.Background()
	// The first tick only schedules: a new rule waits for its first slot.
	if err := e.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if runs, _ := e.eng.Runs(ctx, review.RunFilter{}); len(runs) != 0 {
		t.Fatalf("got %d runs at the first tick, want none", len(runs))
	}
	scheds, _ := e.eng.Schedules(ctx)
	want := map[string]time.Time{
		"employees":            time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), // the Monday after t0
		"external consultants": time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
	}
	for _, s := range scheds {
		if !s.Next.Equal(want[s.Rule.Name]) {
			t.Errorf("%s next: got %v, want %v", s.Rule.Name, s.Next, want[s.Rule.Name])
		}
	}
	// The bot is down for three weeks: at start-up each rule runs once,
	// both side by side, and their next runs are in the future.
	e.restart()
	e.clock.Advance(21 * day)
	if err := e.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	runs, _ := e.eng.Runs(ctx, review.RunFilter{})
	var rules []string
	for _, r := range runs {
		rules = append(rules, r.Rule)
		if r.Trigger != review.TriggerSchedule {
			t.Errorf("run %s: trigger %s, want schedule", r.Rule, r.Trigger)
		}
	}
	slices.Sort(rules)
	if !slices.Equal(rules, []string{"employees", "external consultants"}) {
		t.Fatalf("runs after three weeks down: got %v, want one of each rule", rules)
	}
	next, ok, _ := e.eng.NextDeadline(ctx)
	if !ok || !next.After(e.clock.Now()) {
		t.Errorf("next deadline: got %v %v, want one in the future", next, ok)
	}
	if err := e.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if runs, _ := e.eng.Runs(ctx, review.RunFilter{}); len(runs) != 2 {
		t.Errorf("a second tick started %d more runs", len(runs)-2)
	}
}

func TestStart_RunsWhenDue(t *testing.T) {
	e := newEnv(t, `reviews:
  - {name: hourly, inactive_for: 30d, schedule: "@every 1h", action: report}
`)
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	e.sync()
	ctx := context.Background()
	e.eng.Start(ctx)
	defer e.eng.Stop()
	e.clock.BlockUntilContext(ctx, 2) // the loop sleeps until the first slot, the sync loop until the next sync
	e.clock.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, _ := e.eng.Runs(ctx, review.RunFilter{})
		if len(runs) == 1 && runs[0].State == review.RunClosed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run an hour later: %d runs", len(runs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSync_SnapshotsPerDayAndRetention(t *testing.T) {
	e := newEnv(t, exampleReviews)
	ctx := context.Background()
	id := e.org.put(review.DirectoryUser{Email: "erin@partner.io", AddedToOrg: ago(100 * day), Products: []review.ProductActivity{used("confluence", ago(3*day))}})
	gone := e.org.put(review.DirectoryUser{Email: "left@partner.io", AddedToOrg: ago(100 * day)})
	var progress []review.SyncProgress
	if _, err := e.eng.Sync(ctx, func(p review.SyncProgress) { progress = append(progress, p) }); err != nil {
		t.Fatal(err)
	}
	if len(progress) != 1 || progress[0].Users != 2 {
		t.Errorf("progress: got %+v", progress)
	}
	// Later the same day: the day's snapshot is replaced, not added.
	e.org.put(review.DirectoryUser{AccountID: id, Email: "erin@partner.io", AddedToOrg: ago(100 * day), Products: []review.ProductActivity{used("confluence", t0)}})
	e.clock.Advance(time.Hour)
	e.sync()
	// The next day she is idle; the day after, left@ has left.
	e.clock.Advance(day)
	e.sync()
	e.org.remove(gone)
	e.clock.Advance(day)
	e.sync()
	var snaps []review.Snapshot
	var u *review.User
	e.db.ViewReview(ctx, func(tx review.Tx) error {
		snaps, _ = tx.Activity(id, time.Time{})
		u, _ = tx.UserByAccount(gone)
		return nil
	})
	if len(snaps) != 3 {
		t.Fatalf("snapshots: got %d, want one per day (3): %+v", len(snaps), snaps)
	}
	for i, s := range snaps {
		if !s.Day.Equal(review.Day(t0).Add(time.Duration(i)*day)) || !s.LastActive.Equal(t0) {
			t.Errorf("snapshot %d: got %v %v", i, s.Day, s.LastActive)
		}
	}
	if u == nil || !u.Gone {
		t.Errorf("left@: got %+v, want gone", u)
	}
	// A short retention prunes the old days.
	e.eng = review.New(review.Config{Store: e.db, Policy: e.policy, Directory: e.org, Clock: e.clock, Retention: day})
	rec := e.sync()
	if rec.Pruned != 1 {
		t.Errorf("pruned: got %d, want the one snapshot older than a day", rec.Pruned)
	}
}

func TestRunReview_ActivityCases(t *testing.T) {
	e := newEnv(t, `reviews:
  - {name: r, products: [jira-software, confluence], inactive_for: 30d, schedule: "@daily", action: report}
`)
	// Used Jira lately, never opened Confluence: active (inactive in all, not any).
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(300 * day), Products: []review.ProductActivity{used("jira-software", ago(2*day))}})
	// Never used either product: inactive since added to the organisation.
	e.org.put(review.DirectoryUser{Email: "bob@example.com", AddedToOrg: ago(45 * day)})
	// Added 29 days ago and never active: not flagged early.
	e.org.put(review.DirectoryUser{Email: "newbie@example.com", AddedToOrg: ago(29 * day)})
	// Deactivated account: not reviewed.
	e.org.put(review.DirectoryUser{Email: "closed@example.com", AddedToOrg: ago(300 * day), AccountStatus: "inactive"})
	e.sync()
	run := e.run("r", review.RunOptions{})
	items := e.items(run.ID)
	noItem(t, items, "alice@example.com")
	noItem(t, items, "newbie@example.com")
	noItem(t, items, "closed@example.com")
	bob := wantState(t, items, "bob@example.com", review.ItemReported)
	if !bob.NeverUsed || !bob.InactiveSince.Equal(ago(45*day)) || bob.IdleDays(run.AsOf) != 45 {
		t.Errorf("bob: never used %v since %v idle %d", bob.NeverUsed, bob.InactiveSince, bob.IdleDays(run.AsOf))
	}
	if len(bob.Products) != 2 || !bob.Products[1].LastActive.IsZero() {
		t.Errorf("bob's products: got %+v, want both, never used", bob.Products)
	}
}

func TestReport_CSVEscapesFormulas(t *testing.T) {
	run := &review.Run{ID: "run-1", Rule: "r", AsOf: t0}
	items := []*review.Item{{Email: "=cmd|'/c calc'!A1@example.com", Name: "+SUM(A1)", Department: "-1", Reason: "@evil", State: review.ItemKept}}
	var b strings.Builder
	if err := review.BuildReport(run, items, nil).WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	row := rows[1]
	for i, want := range map[int]string{2: "'=cmd|'/c calc'!A1@example.com", 3: "'+SUM(A1)", 4: "'-1", 13: "'@evil"} {
		if row[i] != want {
			t.Errorf("column %s: got %q, want %q", review.CSVHeader[i], row[i], want)
		}
	}
}

func TestPersonHistory_IncludesReviewEvents(t *testing.T) {
	e := newEnv(t, suspendNow)
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	e.sync()
	e.run("everyone", review.RunOptions{})
	e.drain()
	e.eng.Restore(context.Background(), "alice@example.com", "it@example.com")
	rep, err := e.db.PersonHistory(context.Background(), "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range rep.Other {
		got = append(got, o.Action)
	}
	for _, want := range []string{review.ActionDecided, review.ActionRecorded, review.ActionSuspended, review.ActionRestored} {
		if !slices.Contains(got, want) {
			t.Errorf("person report: got %v, want %s", got, want)
		}
	}
}

func TestStart_SyncsWhenStale(t *testing.T) {
	e := newEnv(t, exampleReviews)
	e.org.put(review.DirectoryUser{Email: "alice@example.com", AddedToOrg: ago(100 * day)})
	ctx := context.Background()
	syncs := func() int {
		// The finished syncs, through the review's own reads: the last
		// one's id (syncs are numbered from 1, and these all finish).
		var n int
		e.db.ViewReview(ctx, func(tx review.Tx) error {
			if s, err := tx.LastSync(); err == nil {
				n = int(s.ID)
			}
			return nil
		})
		return n
	}
	waitFor := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for syncs() < want {
			if time.Now().After(deadline) {
				t.Fatalf("got %d syncs, want %d", syncs(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	e.eng.Start(ctx)
	defer e.eng.Stop()
	waitFor(1) // at start-up: there was none
	e.clock.BlockUntilContext(ctx, 2)
	e.clock.Advance(12 * time.Hour)
	waitFor(2) // and again once the last is 12 hours old
}
