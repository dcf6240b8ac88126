package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"go.uber.org/zap"
)

// cliOrg is a tiny organisation for the CLI tests.
type cliOrg struct {
	users     []review.DirectoryUser
	groups    map[string][]review.Group // by account id
	suspended map[string]bool
}

func (o *cliOrg) Users(ctx context.Context, fn func([]review.DirectoryUser) error) error {
	for i := 0; i < len(o.users); i += 2 {
		if err := fn(append([]review.DirectoryUser(nil), o.users[i:min(i+2, len(o.users))]...)); err != nil {
			return err
		}
	}
	return nil
}
func (o *cliOrg) Suspend(ctx context.Context, id string) error { o.suspended[id] = true; return nil }
func (o *cliOrg) Restore(ctx context.Context, id string) error { o.suspended[id] = false; return nil }
func (o *cliOrg) GroupsOf(ctx context.Context, id string) ([]review.Group, error) {
	return o.groups[id], nil
}
func (o *cliOrg) AddToGroup(ctx context.Context, g review.Group, id, email string) error {
	o.groups[id] = append(o.groups[id], g)
	return nil
}

const cliPolicy = `directory:
  people:
    - {email: boss@example.com, department: Engineering, employment: internal}
    - {email: alice@example.com, department: Engineering, manager: boss@example.com, employment: internal}
    - {email: ghost@example.com, department: Sales, manager: boss@example.com, employment: internal}
resources:
  - {id: jira-admins, provider: dryrun, group: jira-admins}
rules:
  - {name: all, then: {auto_approve: true}}
reviews:
  - name: employees
    if: {user: {employment: internal}}
    products: [jira-software, confluence]
    inactive_for: 30d
    schedule: "0 9 * * MON"
    action: prompt_manager
    answer_within: 5d
  - name: everyone else
    inactive_for: 2d
    schedule: "@daily"
    action: suspend
    digest: "#it-licences"
licence_costs: {jira-software: 8.60, confluence: 6.05}
`

func reviewCLIEnv(t *testing.T) (map[string]string, *cliOrg) {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(cliPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	org := &cliOrg{groups: map[string][]review.Group{"acc-zed": {{ID: "g1", Name: "staff"}}}, suspended: map[string]bool{}, users: []review.DirectoryUser{
		{AccountID: "acc-boss", Email: "boss@example.com", AccountType: "atlassian", AccountStatus: "active", AddedToOrg: now.Add(-400 * 24 * time.Hour),
			Products: []review.ProductActivity{{Key: "confluence", LastActive: now.Add(-time.Hour)}}},
		{AccountID: "acc-alice", Email: "alice@example.com", Name: "=Alice", AccountType: "atlassian", AccountStatus: "active", AddedToOrg: now.Add(-400 * 24 * time.Hour),
			Products: []review.ProductActivity{{Key: "jira-software", LastActive: now.Add(-40 * 24 * time.Hour)}}},
		{AccountID: "acc-zed", Email: "zed@partner.io", AccountType: "atlassian", AccountStatus: "active", AddedToOrg: now.Add(-100 * 24 * time.Hour)},
		{AccountID: "app-1", Name: "Automation", AccountType: "app", AccountStatus: "active"},
	}}
	old := reviewAdmin
	reviewAdmin = func(func(string) string, accountCache, *zap.Logger) (review.Directory, review.Accounts, error) {
		return org, org, nil
	}
	t.Cleanup(func() { reviewAdmin = old })
	return map[string]string{"JITBOT_POLICY": pol, "JITBOT_DB": filepath.Join(dir, "jitbot.db")}, org
}

func TestCLI_Review(t *testing.T) {
	env, org := reviewCLIEnv(t)
	// Create the database the way the bot would.
	db, err := store.Open(context.Background(), env["JITBOT_DB"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	code, out, errOut := runCLI(t, env, "activity", "sync")
	if code != 0 || !strings.Contains(out, "synced 4 users in 2 pages") {
		t.Fatalf("activity sync: exit %d\n%s%s", code, out, errOut)
	}
	// The second sync knows how many users to expect: a line per 10 %.
	code, _, errOut = runCLI(t, env, "activity", "sync")
	if code != 0 || !strings.Contains(errOut, "activity sync: 50% — 2 of ~4 users") || !strings.Contains(errOut, "activity sync: 100%") {
		t.Errorf("no progress lines on a non-terminal: %q", errOut)
	}

	code, out, _ = runCLI(t, env, "activity", "show", "alice@example.com")
	if code != 0 || !strings.Contains(out, "jira-software") || !strings.Contains(out, "40") || !strings.Contains(out, "employees") {
		t.Errorf("activity show alice: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "activity", "show", "--department", "Sales", "--format", "json")
	var rows []activityRow
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Status != "not in Atlassian" {
		t.Errorf("activity show --department Sales: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "activity", "show", "--format", "csv")
	if code != 0 || !strings.Contains(out, "'=Alice") {
		t.Errorf("activity show csv does not escape =Alice: exit %d\n%s", code, out)
	}

	code, out, _ = runCLI(t, env, "review", "list")
	if code != 0 || !strings.Contains(out, "employees") || !strings.Contains(out, "everyone else") || !strings.Contains(out, "prompt_manager") {
		t.Errorf("review list: exit %d\n%s", code, out)
	}

	code, out, errOut = runCLI(t, env, "review", "run", "everyone else", "--dry-run")
	if code != 0 || !strings.Contains(out, "DRY RUN") || !strings.Contains(out, "zed@partner.io") || !strings.Contains(out, "would suspend") {
		t.Errorf("review run --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	// Issue 21: a dry run changes nothing, Slack included: no digest is
	// queued unless --post asks for it.
	digests := func() int {
		db, err := store.Open(context.Background(), env["JITBOT_DB"], store.Options{})
		must(t, err)
		defer db.Close()
		n := 0
		must(t, db.View(context.Background(), func(tx approvals.Tx) error {
			jobs, err := tx.(interface {
				PendingJobs(approvals.Lane) ([]*approvals.Job, error)
			}).PendingJobs("")
			for _, j := range jobs {
				if j.Kind == review.JobDigest {
					n++
				}
			}
			return err
		}))
		return n
	}
	if n := digests(); n != 0 {
		t.Errorf("review run --dry-run queued %d digests, want none", n)
	}
	if code, _, errOut := runCLI(t, env, "review", "run", "everyone else", "--dry-run", "--post"); code != 0 || digests() != 1 {
		t.Errorf("review run --dry-run --post: exit %d %s; want one digest queued", code, errOut)
	}
	code, out, errOut = runCLI(t, env, "review", "run", "employees")
	if code != 0 || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "pending") {
		t.Errorf("review run employees: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, _ := runCLI(t, env, "review", "run", "nope"); code != exitUsage {
		t.Errorf("review run of an unknown rule: exit %d, want %d", code, exitUsage)
	}

	code, out, _ = runCLI(t, env, "review", "runs")
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.Contains(out, "(dry run)") {
		t.Errorf("review runs: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "review", "report", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "run,rule,email") || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "'=Alice") {
		t.Errorf("review report csv: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "review", "report", "--format", "png")
	if code != 0 || !strings.HasPrefix(out, "\x89PNG") {
		t.Errorf("review report png: exit %d, %d bytes", code, len(out))
	}
	code, out, _ = runCLI(t, env, "review", "report", "--format", "json")
	var rep struct {
		Items []struct{ ID, Email string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Errorf("review report json: exit %d\n%s", code, out)
	}
	// IT answers for alice from the command line.
	for _, it := range rep.Items {
		if it.Email != "alice@example.com" {
			continue
		}
		if code, _, errOut := runCLI(t, env, "review", "answer", it.ID, "--keep"); code != exitFailure || !strings.Contains(errOut, "reason") {
			t.Errorf("keep without a reason: exit %d %q", code, errOut)
		}
		code, out, errOut := runCLI(t, env, "review", "answer", it.ID, "--keep", "--reason", "on leave", "--by", "it@example.com")
		if code != 0 || !strings.Contains(out, "alice@example.com: kept, by it@example.com") {
			t.Errorf("review answer: exit %d\n%s%s", code, out, errOut)
		}
	}

	// Suspend zed for real, then restore him.
	e, code := (&cli{ctx: context.Background(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string { return env[k] }}).
		openReview(&Config{Policy: env["JITBOT_POLICY"], DB: env["JITBOT_DB"]}, "", false, true, 0)
	if code >= 0 {
		t.Fatal("open review")
	}
	rule, _ := e.policy.Review.Rule("everyone else")
	run, err := e.eng.RunReview(context.Background(), rule, review.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = run
	// What the bot's lanes would do.
	for _, k := range review.MessageJobs {
		e.svc.Register(k, approvals.JobType{Lane: approvals.LaneMessage, Run: func(context.Context, *approvals.Job) error { return nil }})
	}
	if _, err := e.svc.RunJobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.db.Close()
	if !org.suspended["acc-zed"] {
		t.Fatal("zed was not suspended")
	}
	today := time.Now().UTC().Format("2006-01-02")
	code, out, _ = runCLI(t, env, "review", "report", "--suspended-on", today)
	if code != 0 || !strings.Contains(out, "zed@partner.io") || !strings.Contains(out, "everyone else") || !strings.Contains(out, "policy") {
		t.Errorf("review report --suspended-on: exit %d\n%s", code, out)
	}
	code, out, errOut = runCLI(t, env, "users", "restore", "zed@partner.io")
	if code != 0 || !strings.Contains(out, "zed@partner.io restored") || !strings.Contains(out, "back with the account: staff") {
		t.Errorf("users restore: exit %d\n%s%s", code, out, errOut)
	}
	if org.suspended["acc-zed"] {
		t.Error("zed is still suspended")
	}
	code, out, _ = runCLI(t, env, "report", "person", "zed@partner.io")
	if code != 0 || !strings.Contains(out, "review.suspended") || !strings.Contains(out, "review.restored") {
		t.Errorf("report person: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, env, "users", "restore", "nobody@example.com"); code != exitFailure {
		t.Errorf("restore of an unknown person: exit %d, want %d", code, exitFailure)
	}
}

func TestCLI_PolicyExplainUser(t *testing.T) {
	env, _ := reviewCLIEnv(t)
	code, out, errOut := runCLI(t, env, "policy", "explain", "--user", "alice@example.com")
	if code != 0 || !strings.Contains(out, "review rule:   employees") || !strings.Contains(out, "employment internal") || !strings.Contains(out, "next run:") {
		t.Errorf("explain alice: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "policy", "explain", "--user", "zed@partner.io")
	if code != 0 || !strings.Contains(out, `not rule "employees:" employment is not known, not internal`) || !strings.Contains(out, "everyone else") {
		t.Errorf("explain zed: exit %d\n%s", code, out)
	}
}

func TestSyncProgress_PlainLines(t *testing.T) {
	var b bytes.Buffer
	p := &syncProgress{w: &b, nextPct: 10, nextN: 1000}
	for n := 100; n <= 1000; n += 100 {
		p.update(review.SyncProgress{Users: n, Expected: 1000, Elapsed: time.Duration(n) * 10 * time.Millisecond})
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 10 || !strings.Contains(lines[0], "10% — 100 of ~1000 users, 100 users/s, about 9s left") {
		t.Errorf("got %d lines:\n%s", len(lines), b.String())
	}
	var tty bytes.Buffer
	p = &syncProgress{w: &tty, tty: true}
	p.update(review.SyncProgress{Users: 50, Expected: 100, Elapsed: time.Second})
	p.finish()
	if !strings.Contains(tty.String(), "syncing users") {
		t.Errorf("bar: %q", tty.String())
	}
}

func TestCLI_ReviewHelp(t *testing.T) {
	for _, args := range [][]string{{"activity", "sync", "--help"}, {"activity", "show", "--help"}, {"review", "list", "--help"},
		{"review", "run", "--help"}, {"review", "runs", "--help"}, {"review", "report", "--help"}, {"review", "answer", "--help"}, {"users", "restore", "--help"},
		{"review", "--help"}, {"activity", "--help"}, {"users", "--help"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	if code, _, _ := runCLI(t, nil, "review", "run"); code != exitUsage {
		t.Errorf("review run without a name: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCLI(t, nil, "review", "report", "--format", "xml"); code != exitUsage {
		t.Errorf("review report --format xml: exit %d, want %d", code, exitUsage)
	}
}
