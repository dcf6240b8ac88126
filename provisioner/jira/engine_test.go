package jira_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner/jira"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// engine is an approvals.Service over a real store, with the jira
// provider against the fake.
type engine struct {
	t     testing.TB
	fake  *atlassianfake.Server
	db    *store.DB
	clock *clockwork.FakeClock
	svc   *approvals.Service
	jira  *jira.Provider
}

// enginePolicy lets every person in people ask for either group, auto-approved.
func enginePolicy(people []string, reconcile string) string {
	var b strings.Builder
	b.WriteString("directory:\n  people:\n")
	for _, p := range people {
		fmt.Fprintf(&b, "    - {email: %s, department: Engineering, employment: internal}\n", p)
	}
	fmt.Fprintf(&b, `resources:
  - id: confluence-finance
    name: Confluence Finance space
    provider: jira
    group: confluence-finance
    max_duration: 30d
    reconcile: %s
  - id: jira-admins
    name: Jira administrators
    provider: jira
    group: jira-admins
    max_duration: 30d
    reconcile: %s
rules:
  - name: automatic
    then: {auto_approve: true}
`, reconcile, reconcile)
	return b.String()
}

func newEngine(t testing.TB, people []string, reconcile string, faults atlassianfake.Faults) *engine {
	t.Helper()
	f := newFake(t)
	f.AddGroup("confluence-finance")
	f.AddGroup("jira-admins")
	for _, p := range people {
		f.AddUser(p)
	}
	clock := clockwork.NewFakeClockAt(t0)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "jitbot.db"), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pol, err := policies.Parse("policy.yaml", []byte(enginePolicy(people, reconcile)), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, f, db, nil)
	if err := p.CheckGroups(ctx, pol.Groups()["jira"]); err != nil {
		t.Fatal(err)
	}
	f.SetFaults(faults)
	svc := approvals.New(approvals.Config{Store: db, Policy: pol, Clock: clock,
		Providers: map[string]approvals.Provisioner{"jira": p},
		Retry:     approvals.RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 8}})
	return &engine{t: t, fake: f, db: db, clock: clock, svc: svc, jira: p}
}

func (e *engine) submit(person, resource string, d time.Duration) *approvals.Request {
	e.t.Helper()
	r, err := e.svc.Submit(ctx, approvals.SubmitInput{Requester: person, Resource: resource, Duration: d, Reason: "testing"})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *engine) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.ReadDB().QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// settle runs the outbox until no job is pending, moving the fake clock
// past retry delays when only retries are left.
func (e *engine) settle() {
	e.t.Helper()
	for range 100 {
		if _, err := e.svc.RunJobs(ctx); err != nil {
			e.t.Fatal(err)
		}
		if e.count(`SELECT count(*) FROM jobs WHERE state = 'pending'`) == 0 {
			return
		}
		e.clock.Advance(time.Minute) // the retry policy's cap
	}
	e.t.Fatal("jobs did not settle")
}

func (e *engine) grant(id string) *approvals.Grant {
	e.t.Helper()
	gs, err := e.svc.Grants(ctx, id)
	if err != nil || len(gs) != 1 {
		e.t.Fatalf("grants of %s: %v %v", id, gs, err)
	}
	return gs[0]
}

func people(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user%03d@example.com", i)
	}
	return out
}

// With 30% of calls answered 429 or 503, 500 grants are all provisioned,
// then all expire and are all revoked: none is lost.
func TestEngine_FlakyAtlassian(t *testing.T) {
	ps := people(500)
	e := newEngine(t, ps, "remove", atlassianfake.Faults{Throttle: 0.15, Unavailable: 0.15, RetryAfter: 0})
	var ids []string
	for i, p := range ps {
		res := "confluence-finance"
		if i%2 == 1 {
			res = "jira-admins"
		}
		ids = append(ids, e.submit(p, res, 2*time.Hour).ID)
	}
	e.settle()
	for _, id := range ids {
		if g := e.grant(id); g.State != approvals.GrantActive {
			t.Fatalf("grant %s: %s (%s), want active", id, g.State, g.Note)
		}
	}
	if a, b := len(e.fake.Members("confluence-finance")), len(e.fake.Members("jira-admins")); a+b != 500 {
		t.Fatalf("members at Atlassian: %d + %d, want 500", a, b)
	}

	e.clock.Advance(2 * time.Hour)
	res, err := e.svc.Sweep(ctx)
	if err != nil || res.Expired != 500 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	e.settle()
	for _, id := range ids {
		if g := e.grant(id); g.State != approvals.GrantEnded || g.Note != "removed" {
			t.Fatalf("grant %s: %s %q, want ended \"removed\"", id, g.State, g.Note)
		}
	}
	if m := append(e.fake.Members("confluence-finance"), e.fake.Members("jira-admins")...); len(m) != 0 {
		t.Fatalf("lost revocations: %d still members: %v", len(m), m)
	}
	adds, removes := 0, 0
	for _, c := range e.fake.Changes() {
		if c.Op == "add" {
			adds++
		} else {
			removes++
		}
	}
	if adds != 500 || removes != 500 {
		t.Errorf("membership changes: %d adds, %d removes, want 500 each", adds, removes)
	}
	throttled, _ := e.fake.Throttled()
	st := e.jira.Client().Stats()
	if throttled < 100 || st.Retries < 200 {
		t.Errorf("the faults did not bite: %d 429s, %+v", throttled, st)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE state = 'failed'`); n != 0 {
		t.Errorf("failed jobs: %d", n)
	}
	t.Logf("%d requests, %d answered 429, client %+v", e.fake.Requests(), throttled, st)
}

// A 403 is permanent: the grant fails at once, IT is alerted with the
// reason, and the provider is asked once, not in a loop.
func TestEngine_Permanent403(t *testing.T) {
	e := newEngine(t, people(1), "remove", atlassianfake.Faults{DenyWrites: true})
	r := e.submit("user000@example.com", "jira-admins", time.Hour)
	e.settle()
	g := e.grant(r.ID)
	if g.State != approvals.GrantFailed || !strings.HasPrefix(g.Note, "the API token's user is not a site admin") {
		t.Fatalf("grant: %s %q, want failed with the reason", g.State, g.Note)
	}
	got, err := e.svc.Get(ctx, r.ID)
	if err != nil || got.State != approvals.StateFailed {
		t.Fatalf("request: %v %v", got, err)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = ? AND reason LIKE ?`, approvals.ActionAlert,
		"%the API token's user is not a site admin%"); n != 1 {
		t.Errorf("alerts with the reason: got %d, want 1", n)
	}
	if n := e.fake.Calls("POST /rest/api/3/group/user"); n != 1 {
		t.Errorf("add calls: got %d, want 1 (no retry loop)", n)
	}
	if n := e.count(`SELECT attempts FROM jobs WHERE kind = 'provision' AND state = 'failed'`); n != 1 {
		t.Errorf("job attempts: got %d, want 1 (failed at the first)", n)
	}
	// Nothing is pending: nothing will try again.
	e.clock.Advance(24 * time.Hour)
	if _, err := e.svc.RunJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Calls("POST /rest/api/3/group/user"); n != 1 {
		t.Errorf("add calls a day later: got %d, want 1", n)
	}
}

func TestEngine_Drift(t *testing.T) {
	reconcile := func(t *testing.T, e *engine, reportOnly bool) []approvals.DriftFinding {
		t.Helper()
		fs, err := e.svc.Reconcile(ctx, approvals.ReconcileOptions{Mode: repairOrReport(reportOnly)})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	// leftover makes alice's expired grant leave its membership behind:
	// the removal was refused (403) and the grant failed.
	leftover := func(t *testing.T, mode string) *engine {
		e := newEngine(t, []string{"alice@example.com", "carol@example.com"}, mode, atlassianfake.Faults{})
		e.fake.SetMember("confluence-finance", "carol@example.com", true) // standing
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		e.fake.SetFaults(atlassianfake.Faults{DenyWrites: true})
		e.clock.Advance(2 * time.Hour)
		if _, err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		e.settle()
		if g := e.grant(r.ID); g.State != approvals.GrantFailed {
			t.Fatalf("grant: %s, want failed", g.State)
		}
		e.fake.SetFaults(atlassianfake.Faults{})
		return e
	}
	t.Run("LeftoverRemoved", func(t *testing.T) {
		e := leftover(t, "remove")
		fs := reconcile(t, e, false)
		if len(fs) != 1 || fs[0].Kind != approvals.DriftLeftover || fs[0].Action != approvals.DriftRemoved || fs[0].Person != "alice@example.com" {
			t.Fatalf("findings: %+v", fs)
		}
		if got := e.fake.Members("confluence-finance"); fmt.Sprint(got) != "[carol@example.com]" {
			t.Fatalf("members: %v, want only carol's standing membership", got)
		}
		if fs := reconcile(t, e, false); len(fs) != 0 {
			t.Errorf("second pass: %+v", fs)
		}
	})
	t.Run("LeftoverReported", func(t *testing.T) {
		e := leftover(t, "report")
		fs := reconcile(t, e, true)
		if len(fs) != 1 || fs[0].Kind != approvals.DriftLeftover || fs[0].Action != approvals.DriftReported {
			t.Fatalf("findings: %+v", fs)
		}
		if got := e.fake.Members("confluence-finance"); fmt.Sprint(got) != "[alice@example.com carol@example.com]" {
			t.Fatalf("report-only changed the members: %v", got)
		}
		if n := e.count(`SELECT count(*) FROM audit_events WHERE action = ?`, approvals.DriftReported); n != 1 {
			t.Errorf("reported findings recorded: %d", n)
		}
	})
	t.Run("StandingLeftAlone", func(t *testing.T) {
		e := newEngine(t, []string{"carol@example.com", "dave@example.com"}, "remove", atlassianfake.Faults{})
		e.fake.SetMember("jira-admins", "carol@example.com", true)
		hidden := e.fake.PutUser(atlassianfake.User{Email: "ghost@example.com", Active: true, HideEmail: true})
		e.fake.SetMember("jira-admins", "ghost@example.com", true)
		if fs := reconcile(t, e, false); len(fs) != 0 {
			t.Fatalf("findings: %+v, want none for members jitbot never added", fs)
		}
		if got := e.fake.Members("jira-admins"); len(got) != 2 {
			t.Fatalf("members: %v (ghost %s)", got, hidden)
		}
	})
	t.Run("VanishedReprovisioned", func(t *testing.T) {
		e := newEngine(t, []string{"alice@example.com"}, "remove", atlassianfake.Faults{})
		r := e.submit("alice@example.com", "jira-admins", 2*time.Hour)
		e.settle()
		e.fake.SetMember("jira-admins", "alice@example.com", false) // removed by hand in Atlassian
		fs := reconcile(t, e, false)
		if len(fs) != 1 || fs[0].Kind != approvals.DriftVanished || fs[0].Action != approvals.DriftReprovisioned || fs[0].GrantID != e.grant(r.ID).ID {
			t.Fatalf("findings: %+v", fs)
		}
		if !e.fake.IsMember("jira-admins", "alice@example.com") {
			t.Fatal("membership not back")
		}
		e.clock.Advance(2 * time.Hour)
		if _, err := e.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		e.settle()
		if got := e.fake.Members("jira-admins"); len(got) != 0 {
			t.Fatalf("members after expiry: %v", got)
		}
	})
	t.Run("VanishedReported", func(t *testing.T) {
		e := newEngine(t, []string{"alice@example.com"}, "report", atlassianfake.Faults{})
		e.submit("alice@example.com", "jira-admins", 2*time.Hour)
		e.settle()
		e.fake.SetMember("jira-admins", "alice@example.com", false)
		fs := reconcile(t, e, true)
		if len(fs) != 1 || fs[0].Kind != approvals.DriftVanished || fs[0].Action != approvals.DriftReported {
			t.Fatalf("findings: %+v", fs)
		}
		if e.fake.IsMember("jira-admins", "alice@example.com") {
			t.Fatal("report-only added the membership back")
		}
	})
}

// repairOrReport is the reconcile mode of the tests: report only, or
// repair (remove leftovers and add back vanished memberships).
func repairOrReport(reportOnly bool) func(provider, group string) string {
	return func(string, string) string {
		if reportOnly {
			return policies.ReconcileReport
		}
		return policies.ReconcileRepair
	}
}
