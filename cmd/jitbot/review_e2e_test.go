package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

const e2eDay = 24 * time.Hour

const e2ePolicy = `directory:
  people:
    - {email: boss@example.com, department: Engineering, employment: internal}
    - {email: alice@example.com, department: Engineering, manager: boss@example.com, employment: internal}
    - {email: ghost@example.com, department: Sales, manager: boss@example.com, employment: internal}
    - {email: erin@partner.io, department: Engineering, manager: boss@example.com, employment: external}
    - {email: ida@partner.io, department: Engineering, manager: boss@example.com, employment: external}
    - {email: svc-build@partner.io, department: IT, employment: external}
resources:
  - {id: confluence-finance, provider: atlassian-admin, group: confluence-finance, max_duration: 30d}
rules:
  - {name: all, then: {auto_approve: true, max_duration: 30d}}
reviews:
  - name: employees
    if: {user: {employment: internal}}
    products: [jira-software, confluence]
    inactive_for: 30d
    schedule: "0 9 * * MON"
    action: prompt_manager
    answer_within: 5d
    default: keep
    keep_for: 90d
    digest: "#it-licences"
  - name: external consultants
    if: {user: {email_domain: [partner.io]}}
    inactive_for: 2d
    schedule: "@daily"
    action: suspend
    warn_before: 1d
    exclude: [svc-*@partner.io, group:jira-admins-standing]
    dry_run: false
    digest: "#it-licences"
licence_costs: {jira-software: 8.60, confluence: 6.05}
`

// e2e is the review engine and the approvals engine wired as jitbot run
// wires them, against the local Admin API, on a fake clock.
type e2e struct {
	t     *testing.T
	clock *clockwork.FakeClock
	fake  *atlassianfake.Server
	db    *store.DB
	svc   *approvals.Service
	eng   *review.Engine

	mu   sync.Mutex
	sent []approvals.JobKind
}

func newE2E(t *testing.T) *e2e {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	x := &e2e{t: t, clock: clockwork.NewFakeClockAt(t0)}
	x.fake = atlassianfake.New(t, atlassianfake.Options{Now: x.clock.Now})
	o := x.fake.Options()
	env := map[string]string{"ATLASSIAN_API_URL": x.fake.URL(), "ATLASSIAN_ORG_ID": o.OrgID,
		"ATLASSIAN_ADMIN_API_KEY": o.APIKey, "ATLASSIAN_DIRECTORY_ID": o.Directory}
	getenv := func(k string) string { return env[k] }
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(e2ePolicy), 0o600)
	p, err := policies.Load(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if x.db, err = store.Open(context.Background(), filepath.Join(dir, "jitbot.db"), store.Options{Now: x.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.db.Close() })
	prov, err := atlassianProvider(getenv, provisioner.NameAtlassianAdmin, x.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.svc = approvals.New(approvals.Config{Store: x.db, Policy: p, Clock: x.clock,
		Providers: map[string]approvals.Provisioner{provisioner.NameAtlassianAdmin: prov}})
	d, acc, err := reviewAdmin(getenv, x.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.eng = review.New(review.Config{Store: x.db, Policy: p, Directory: d, Accounts: acc, Access: x.svc, Clock: x.clock})
	x.eng.RegisterJobs(x.svc)
	for _, k := range review.MessageJobs {
		x.svc.Register(k, approvals.JobType{Lane: approvals.LaneMessage, Run: func(_ context.Context, j *approvals.Job) error {
			x.mu.Lock()
			x.sent = append(x.sent, j.Kind)
			x.mu.Unlock()
			return nil
		}})
	}
	return x
}

func (x *e2e) ago(d time.Duration) time.Time { return x.clock.Now().Add(-d) }

func (x *e2e) jobs() {
	x.t.Helper()
	if _, err := x.svc.RunJobs(context.Background()); err != nil {
		x.t.Fatal(err)
	}
}

func (x *e2e) items(runID string) map[string]*review.Item {
	its, err := x.eng.Items(context.Background(), review.ItemFilter{RunID: runID})
	if err != nil {
		x.t.Fatal(err)
	}
	out := map[string]*review.Item{}
	for _, it := range its {
		out[it.Email] = it
	}
	return out
}

// TestReviewE2E_AdminAPI runs the example rules against the local
// Admin API: the sync pages the v2 users search, a manager keeps someone,
// a consultant with an active JIT grant is warned and then suspended
// through v2 suspend (the grant revoked, the membership removed), an
// IdP-managed account is refused and reported, a pattern and a group
// exclude, and the restore brings back what today's policy allows after a
// membership was removed and a group deleted meanwhile. The fake fails
// the test on any call to the switched-off v1 endpoints.
func TestReviewE2E_AdminAPI(t *testing.T) {
	x := newE2E(t)
	ctx := context.Background()
	f := x.fake
	for _, g := range []string{"staff", "design", "old-project", "confluence-finance", "jira-admins-standing"} {
		f.AddGroup(g)
	}
	put := func(email string, added time.Duration, products []atlassianfake.Product, mod func(*atlassianfake.User)) {
		u := atlassianfake.User{Email: email, Name: strings.Split(email, "@")[0], Active: true, AddedToOrg: x.ago(added), Products: products}
		if mod != nil {
			mod(&u)
		}
		f.PutUser(u)
	}
	put("boss@example.com", 400*e2eDay, []atlassianfake.Product{{Key: "confluence", LastActive: x.ago(e2eDay)}}, nil)
	put("alice@example.com", 300*e2eDay, []atlassianfake.Product{{Key: "jira-software", LastActive: x.ago(40 * e2eDay)}, {Key: "confluence"}}, nil)
	put("erin@partner.io", 100*e2eDay, []atlassianfake.Product{{Key: "jira-software", LastActive: x.ago(3 * e2eDay)}}, nil)
	put("ida@partner.io", 100*e2eDay, []atlassianfake.Product{{Key: "confluence"}}, func(u *atlassianfake.User) { u.ManagementSource = "synced" })
	put("svc-build@partner.io", 100*e2eDay, nil, nil)
	put("kim@partner.io", 100*e2eDay, nil, nil) // not in jitbot's directory: unassigned
	put("lee@partner.io", 100*e2eDay, nil, nil)
	put("bot@partner.io", 900*e2eDay, nil, func(u *atlassianfake.User) { u.AccountType = "app" })
	for _, g := range []string{"staff", "design", "old-project"} {
		f.SetMember(g, "erin@partner.io", true)
	}
	f.SetMember("jira-admins-standing", "lee@partner.io", true)

	// erin holds a JIT grant through jitbot.
	req, err := x.svc.Submit(ctx, approvals.SubmitInput{Requester: "erin@partner.io", Resource: "confluence-finance", Duration: 10 * e2eDay, Reason: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	x.jobs()
	if !f.IsMember("confluence-finance", "erin@partner.io") {
		t.Fatal("the grant was not provisioned")
	}

	rec, err := x.eng.Sync(ctx, nil)
	if err != nil || rec.Users != 8 {
		t.Fatalf("sync: %+v, %v; want 8 users", rec, err)
	}

	// employees: alice is asked about; her manager keeps her.
	run, err := x.eng.RunReview(ctx, x.rule("employees"), review.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items := x.items(run.ID)
	alice := items["alice@example.com"]
	if alice == nil || alice.State != review.ItemPending || alice.Manager != "boss@example.com" {
		t.Fatalf("alice: %+v", alice)
	}
	if it := items["ghost@example.com"]; it == nil || it.State != review.ItemNotInAtlassian {
		t.Errorf("ghost: %+v, want not in Atlassian", it)
	}
	if _, err := x.eng.Answer(ctx, review.AnswerInput{ItemID: alice.ID, By: "boss@example.com", Keep: true, Reason: "month-end close"}); err != nil {
		t.Fatal(err)
	}

	// external consultants: warned, then suspended a day later.
	run, err = x.eng.RunReview(ctx, x.rule("external consultants"), review.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items = x.items(run.ID)
	for email, want := range map[string]review.ItemState{"erin@partner.io": review.ItemWarned, "ida@partner.io": review.ItemWarned,
		"kim@partner.io": review.ItemWarned, "svc-build@partner.io": review.ItemExcluded, "lee@partner.io": review.ItemExcluded} {
		if it := items[email]; it == nil || it.State != want {
			t.Errorf("%s: got %+v, want %s", email, it, want)
		}
	}
	if it := items["kim@partner.io"]; it == nil || !it.Unassigned {
		t.Errorf("kim: want unassigned, got %+v", it)
	}
	if _, ok := items["bot@partner.io"]; ok {
		t.Error("the app account was reviewed")
	}
	x.jobs()
	if f.Suspended("erin@partner.io") {
		t.Fatal("erin suspended before warn_before ran out")
	}
	x.clock.Advance(e2eDay)
	if _, err := x.eng.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	x.jobs()
	items = x.items(run.ID)
	if it := items["erin@partner.io"]; it.State != review.ItemSuspended {
		t.Fatalf("erin: %s (%s)", it.State, it.Reason)
	}
	if !f.Suspended("erin@partner.io") || !f.Suspended("kim@partner.io") {
		t.Error("erin and kim are not suspended at Atlassian")
	}
	if it := items["ida@partner.io"]; it.State != review.ItemIdPManaged || f.Suspended("ida@partner.io") {
		t.Errorf("ida: %s (%s), suspended %v; want deactivate at the IdP", it.State, it.Reason, f.Suspended("ida@partner.io"))
	}
	if r, _ := x.svc.Get(ctx, req.ID); r.State != approvals.StateRevoked {
		t.Errorf("erin's grant: %s, want revoked", r.State)
	}
	if f.IsMember("confluence-finance", "erin@partner.io") {
		t.Error("erin's JIT membership is still there")
	}
	rep, _ := x.eng.Report(ctx, run.ID)
	var csv strings.Builder
	rep.WriteCSV(&csv)
	if !strings.Contains(csv.String(), "deactivate at the IdP") {
		t.Errorf("the CSV does not tell IT about ida:\n%s", csv.String())
	}

	// Meanwhile an admin removes erin from design and deletes old-project.
	f.SetMember("design", "erin@partner.io", false)
	f.DeleteGroup("old-project")
	x.clock.Advance(3 * e2eDay)
	restored, err := x.eng.Restore(ctx, "erin@partner.io", "it@example.com")
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
	if f.Suspended("erin@partner.io") {
		t.Error("erin is still suspended")
	}
	if got := names(restored.Back); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("back: %v, want staff", got)
	}
	if got := names(restored.ReAdded); !slices.Equal(got, []string{"design"}) {
		t.Errorf("re-added: %v, want design", got)
	}
	if got := names(restored.Deleted); !slices.Equal(got, []string{"old-project"}) {
		t.Errorf("deleted: %v, want old-project; failed: %+v", got, restored.Failed)
	}
	if len(restored.Forbidden) != 1 || restored.Forbidden[0].Name != "confluence-finance" {
		t.Errorf("forbidden: %+v, want confluence-finance (granted just in time)", restored.Forbidden)
	}
	if !f.IsMember("design", "erin@partner.io") || f.IsMember("confluence-finance", "erin@partner.io") {
		t.Error("memberships after the restore are not what the report says")
	}
	if v := f.Violations(); len(v) > 0 {
		t.Errorf("the fake saw calls outside the API: %v", v)
	}
}

func (x *e2e) rule(name string) *policies.ReviewRule {
	r, ok := x.eng.Policy().Review.Rule(name)
	if !ok {
		x.t.Fatalf("no rule %s", name)
	}
	return r
}

// TestMain_ReviewOnTheAccessLane starts jitbot run (in-process, fake clock)
// with the review rules, the local Slack and the local Admin API: a review
// run from the CLI warns a consultant, and once warn_before has passed the
// bot's own scheduler and access lane suspend them through v2 suspend.
func TestMain_ReviewOnTheAccessLane(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	clock := clockwork.NewFakeClockAt(start)
	fake := atlassianfake.New(t, atlassianfake.Options{Now: clock.Now})
	fake.PutUser(atlassianfake.User{Email: "erin@partner.io", Active: true, AddedToOrg: start.Add(-100 * e2eDay),
		Products: []atlassianfake.Product{{Key: "jira-software", LastActive: start.Add(-5 * e2eDay)}}})
	srv := localslack.New(t, localslack.Options{})
	o := fake.Options()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(e2ePolicy), 0o600)
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL(),
		"ATLASSIAN_API_URL": fake.URL(), "ATLASSIAN_ORG_ID": o.OrgID, "ATLASSIAN_ADMIN_API_KEY": o.APIKey, "ATLASSIAN_DIRECTORY_ID": o.Directory,
		"JITBOT_POLICY": pol, "JITBOT_DB": filepath.Join(dir, "jitbot.db")}
	dry := provisioner.NewDryRun(nil, nil)
	m := &Main{Config: Config{Policy: pol, DB: env["JITBOT_DB"], LogLevel: "error", LogFormat: "json"}, Clock: clock,
		Getenv: func(k string) string { return env[k] }, Providers: map[string]approvals.Provisioner{provisioner.NameAtlassianAdmin: dry}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Review == nil || m.Service.LaneOf(review.JobSuspend) != approvals.LaneAccess {
		t.Fatal("jitbot run did not register the suspension on the access lane")
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	if code, out, errOut := runCLI(t, env, "activity", "sync"); code != 0 {
		t.Fatalf("activity sync: %d\n%s%s", code, out, errOut)
	}
	// The CLI's run measures inactivity on the real clock; the bot's is fake
	// but starts at the same moment.
	if code, out, errOut := runCLI(t, env, "review", "run", "external consultants"); code != 0 || !strings.Contains(out, "warned") {
		t.Fatalf("review run: %d\n%s%s", code, out, errOut)
	}
	if fake.Suspended("erin@partner.io") {
		t.Fatal("suspended before warn_before ran out")
	}
	clock.Advance(e2eDay + time.Minute)
	waitUntil(t, func() bool { return fake.Suspended("erin@partner.io") })
	cancel()
	<-done
}

// The per-user fallback: a person the bulk v2 search sends without any
// productAccess is asked about through v1 last-active-dates, so they are
// not taken for someone who never used anything.
func TestReviewE2E_PerUserActivityFallback(t *testing.T) {
	x := newE2E(t)
	recent := x.ago(3 * e2eDay)
	x.fake.PutUser(atlassianfake.User{Email: "alice@example.com", Name: "Alice", Active: true, AddedToOrg: x.ago(400 * e2eDay),
		Products: []atlassianfake.Product{{Key: "jira-software", LastActive: recent}}, NoBulkActivity: true})
	d, _, err := reviewAdmin(func(k string) string {
		o := x.fake.Options()
		return map[string]string{"ATLASSIAN_API_URL": x.fake.URL(), "ATLASSIAN_ORG_ID": o.OrgID,
			"ATLASSIAN_ADMIN_API_KEY": o.APIKey, "ATLASSIAN_DIRECTORY_ID": o.Directory}[k]
	}, x.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []review.DirectoryUser
	if err := d.Users(context.Background(), func(page []review.DirectoryUser) error { got = append(got, page...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Products) != 1 || !got[0].Products[0].LastActive.Equal(recent) {
		t.Fatalf("alice's activity: %+v, want jira-software last active %v (from v1)", got, recent)
	}
}
