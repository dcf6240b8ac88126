package approvals_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// testPolicy is the example policy with the directory inline and
// a few more rules and people to exercise quorum and self-approval.
const testPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
    - {email: erin@partner.io, department: Engineering, manager: bob@example.com, employment: external}
    - {email: carol@example.com, department: Finance, manager: bob@example.com, employment: internal}
    - {email: dave@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: frank@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: gina@example.com, department: Sales, manager: bob@example.com, employment: internal}
resources:
  - id: jira-admins
    name: Jira administrators
    provider: jira
    group: jira-admins
    kind: admin
    max_duration: 4h
  - id: confluence-finance
    name: Confluence Finance space
    provider: jira
    group: confluence-finance
    max_duration: 30d
    owners: [carol@example.com]
  - id: incident-bundle
    name: Incident responder
    bundle: [jira-admins, confluence-finance]
    max_duration: 8h
  - id: sales-wiki
    name: Sales wiki
    provider: dryrun
    group: sales-wiki
    max_duration: 7d
  - id: it-tools
    name: IT tools
    provider: dryrun
    group: it-tools
    max_duration: 7d
rules:
  - name: admin escalation
    if: {resource_kind: admin}
    then:
      approvals:
        - approvers: [manager]
        - approvers: [group:it-leads]
          quorum: 1
      notify: ["#it-access-log"]
      max_duration: 2h
      require_ticket: true
  - name: externals need the owner
    if: {requester: {employment: external}}
    then:
      approvals:
        - approvers: [manager]
        - approvers: [owner]
  - name: short internal access is automatic
    if: {requester: {employment: internal}, resource: [confluence-finance], duration_at_most: 8h}
    then: {auto_approve: true, notify: ["#access-log"]}
  - name: two of IT
    if: {resource: [it-tools]}
    then:
      approvals:
        - approvers: [dave@example.com, frank@example.com, gina@example.com]
          quorum: 2
  - name: sales self service
    if: {resource: [sales-wiki]}
    then:
      allow_self_approval: true
      approvals:
        - approvers: [group:sales]
  - name: default
    then:
      approvals:
        - approvers: [manager]
      request_ttl: 24h
`

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type groups map[string][]string

func (g groups) GroupMembers(_ context.Context, handle string) ([]string, error) {
	m, ok := g[handle]
	if !ok {
		return nil, errors.New("no such group " + handle)
	}
	return m, nil
}

// flaky wraps a provisioner and fails the first n calls of each method.
type flaky struct {
	approvals.Provisioner
	mu    sync.Mutex
	fails int
	err   error
	calls int
}

func (f *flaky) fail() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fails > 0 {
		f.fails--
		return f.err
	}
	return nil
}

func (f *flaky) AddMember(ctx context.Context, m approvals.Membership) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Provisioner.AddMember(ctx, m)
}

func (f *flaky) RemoveMember(ctx context.Context, m approvals.Membership) error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.Provisioner.RemoveMember(ctx, m)
}

type env struct {
	t      testing.TB
	ctx    context.Context
	db     *store.DB
	clock  *clockwork.FakeClock
	ledger *provisioner.MemoryLedger
	jira   *flaky
	svc    *approvals.Service
	policy *policies.Policy
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAt(t, filepath.Join(t.TempDir(), "jitbot.db"))
}

// newEnvAt is newEnv on the database file at path.
func newEnvAt(t testing.TB, path string) *env {
	t.Helper()
	return newEnvPolicy(t, path, testPolicy)
}

// newEnvPolicy is newEnv on the database at path with the policy src.
func newEnvPolicy(t testing.TB, path, src string) *env {
	t.Helper()
	return newEnvConfig(t, path, src, nil)
}

// newEnvConfig is newEnvPolicy with the engine's configuration adjusted by mod.
func newEnvConfig(t testing.TB, path, src string, mod func(*approvals.Config)) *env {
	t.Helper()
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(t0)
	db, err := store.Open(ctx, path, store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := policies.Parse("policy.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	ledger := provisioner.NewMemoryLedger()
	dry := provisioner.NewDryRun(ledger, nil)
	jira := &flaky{Provisioner: dry}
	cfg := approvals.Config{
		Store:  db,
		Policy: p,
		Clock:  clock,
		Groups: groups{"it-leads": {"dave@example.com", "frank@example.com"}, "sales": {"gina@example.com"}},
		Providers: map[string]approvals.Provisioner{
			"jira":   jira,
			"dryrun": dry,
		},
		Retry: approvals.RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 4},
	}
	if mod != nil {
		mod(&cfg)
	}
	svc := approvals.New(cfg)
	return &env{t: t, ctx: ctx, db: db, clock: clock, ledger: ledger, jira: jira, svc: svc, policy: p}
}

func (e *env) submit(requester, resource string, d time.Duration) *approvals.Request {
	e.t.Helper()
	r, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: requester, Resource: resource, Duration: d, Reason: "testing", Ticket: "OPS-1"})
	if err != nil {
		e.t.Fatalf("submit %s %s: %v", requester, resource, err)
	}
	return r
}

func (e *env) approve(id, who string) {
	e.t.Helper()
	if _, err := e.svc.Approve(e.ctx, id, who, ""); err != nil {
		e.t.Fatalf("approve by %s: %v", who, err)
	}
}

// settle runs every due job until none is left.
func (e *env) settle() {
	e.t.Helper()
	for i := 0; i < 20; i++ {
		n, err := e.svc.RunJobs(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("jobs did not settle")
}

func (e *env) get(id string) *approvals.Request {
	e.t.Helper()
	r, err := e.svc.Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) grants(id string) []*approvals.Grant {
	e.t.Helper()
	gs, err := e.svc.Grants(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return gs
}

func (e *env) advance(d time.Duration) approvals.SweepResult {
	e.t.Helper()
	e.clock.Advance(d)
	res, err := e.svc.Sweep(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	e.settle()
	return res
}

// count returns a single integer from a query against the database.
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.ReadDB().QueryRowContext(e.ctx, q, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func wantState(t testing.TB, r *approvals.Request, want approvals.State) {
	t.Helper()
	if r.State != want {
		t.Fatalf("request state: got %s, want %s (%s)", r.State, want, r.StateReason)
	}
}

func wantCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := approvals.ErrorCode(err); got != want {
		t.Fatalf("error code: got %q (%v), want %q", got, err, want)
	}
}
