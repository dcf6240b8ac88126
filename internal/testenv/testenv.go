// Package testenv is the test setup the engine's packages share: the test
// policy, built from the example with each package's additions, and
// an engine — a real SQLite store in a temporary folder, the approvals
// service, a fake clock — that approvals, store and bot tests drive.
package testenv

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// PolicyParts are what a package adds to the shared test policy.
type PolicyParts struct {
	// Provider serves jira-admins and confluence-finance: "jira" (a test
	// double of the package's choosing) or "dryrun".
	Provider string
	// People, Resources: more directory lines and resources (YAML list
	// items, indented as under `people:` and `resources:`).
	People, Resources string
	// RulesFirst come before the shared rules; RulesBeforeDefault after
	// them, before the catch-all default rule (first match wins).
	RulesFirst, RulesBeforeDefault string
	// ITApprovers approve it-tools, two of them (default dave and frank).
	ITApprovers []string
}

// Policy is the shared test policy: the example (an admin
// escalation in two steps, externals approved by manager and owner, short
// internal access automatic), a two-of-IT quorum, a default rule, and the
// parts given.
func Policy(p PolicyParts) string {
	if p.Provider == "" {
		p.Provider = "dryrun"
	}
	it := p.ITApprovers
	if len(it) == 0 {
		it = []string{"dave@example.com", "frank@example.com"}
	}
	var b strings.Builder
	b.WriteString(`
directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
    - {email: erin@partner.io, department: Engineering, manager: bob@example.com, employment: external}
    - {email: carol@example.com, department: Finance, manager: bob@example.com, employment: internal}
    - {email: dave@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: frank@example.com, department: IT, manager: bob@example.com, employment: internal}
`)
	b.WriteString(p.People)
	b.WriteString(`resources:
  - id: jira-admins
    name: Jira administrators
    provider: ` + p.Provider + `
    group: jira-admins
    kind: admin
    max_duration: 4h
  - id: confluence-finance
    name: Confluence Finance space
    provider: ` + p.Provider + `
    group: confluence-finance
    max_duration: 30d
    owners: [carol@example.com]
  - id: incident-bundle
    name: Incident responder
    bundle: [jira-admins, confluence-finance]
    max_duration: 8h
  - id: it-tools
    name: IT tools
    provider: dryrun
    group: it-tools
    max_duration: 7d
`)
	b.WriteString(p.Resources)
	b.WriteString("rules:\n")
	b.WriteString(p.RulesFirst)
	b.WriteString(`  - name: admin escalation
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
        - approvers: [` + strings.Join(it, ", ") + `]
          quorum: 2
`)
	b.WriteString(p.RulesBeforeDefault)
	b.WriteString(`  - name: default
    then:
      approvals:
        - approvers: [manager]
      request_ttl: 24h
`)
	return b.String()
}

// Options shape an Engine.
type Options struct {
	Policy string    // the policy's YAML (required)
	At     time.Time // the fake clock's start
	Path   string    // the database file; default a new one in t.TempDir()
	Store  store.Options
	// Providers builds the engine's providers on the store.
	Providers func(db *store.DB) map[string]approvals.Provisioner
	// Config adjusts the engine's configuration before it is built.
	Config func(*approvals.Config)
}

// Engine is the approvals service over a real store, on a fake clock.
type Engine struct {
	T      testing.TB
	Ctx    context.Context
	DB     *store.DB
	Clock  *clockwork.FakeClock
	Svc    *approvals.Service
	Policy *policies.Policy
}

// TestRetry retries quickly and gives up after four attempts.
var TestRetry = approvals.RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 4}

// New opens the store and builds the engine; both close when the test ends.
func New(t testing.TB, o Options) *Engine {
	t.Helper()
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(o.At)
	path := o.Path
	if path == "" {
		path = filepath.Join(t.TempDir(), "jitbot.db")
	}
	so := o.Store
	so.Now = clock.Now
	db, err := store.Open(ctx, path, so)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := policies.Parse("policy.yaml", []byte(o.Policy), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := approvals.Config{Store: db, Policy: p, Clock: clock, Retry: TestRetry}
	if o.Providers != nil {
		cfg.Providers = o.Providers(db)
	}
	if o.Config != nil {
		o.Config(&cfg)
	}
	return &Engine{T: t, Ctx: ctx, DB: db, Clock: clock, Svc: approvals.New(cfg), Policy: p}
}

// Submit files a request or fails the test.
func (e *Engine) Submit(in approvals.SubmitInput) *approvals.Request {
	e.T.Helper()
	r, err := e.Svc.Submit(e.Ctx, in)
	if err != nil {
		e.T.Fatalf("submit %s %s: %v", in.Requester, in.Resource, err)
	}
	return r
}

// Approve records an approval or fails the test.
func (e *Engine) Approve(id, who string) {
	e.T.Helper()
	if _, err := e.Svc.Approve(e.Ctx, id, who, ""); err != nil {
		e.T.Fatalf("approve by %s: %v", who, err)
	}
}

// Settle runs every due job until none is left.
func (e *Engine) Settle() {
	e.T.Helper()
	Settle(e.T, e.Ctx, e.Svc)
}

// Settle runs every due job of svc until none is left.
func Settle(t testing.TB, ctx context.Context, svc *approvals.Service) {
	t.Helper()
	for range 20 {
		n, err := svc.RunJobs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("jobs did not settle")
}

// Get returns request id or fails the test.
func (e *Engine) Get(id string) *approvals.Request {
	e.T.Helper()
	r, err := e.Svc.Get(e.Ctx, id)
	if err != nil {
		e.T.Fatal(err)
	}
	return r
}
