package approvals_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// testPolicy is the shared test policy (internal/testenv) with the jira
// provider a test double, plus a few more rules and people to exercise
// quorum and self-approval.
var testPolicy = testenv.Policy(testenv.PolicyParts{
	Provider: "jira",
	People:   "    - {email: gina@example.com, department: Sales, manager: bob@example.com, employment: internal}\n",
	Resources: `  - id: sales-wiki
    name: Sales wiki
    provider: dryrun
    group: sales-wiki
    max_duration: 7d
`,
	ITApprovers: []string{"dave@example.com", "frank@example.com", "gina@example.com"},
	RulesBeforeDefault: `  - name: sales self service
    if: {resource: [sales-wiki]}
    then:
      allow_self_approval: true
      approvals:
        - approvers: [group:sales]
`,
})

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
	ledger := provisioner.NewMemoryLedger()
	dry := provisioner.NewDryRun(ledger, nil)
	jira := &flaky{Provisioner: dry}
	te := testenv.New(t, testenv.Options{Policy: src, At: t0, Path: path,
		Providers: func(*store.DB) map[string]approvals.Provisioner {
			return map[string]approvals.Provisioner{"jira": jira, "dryrun": dry}
		},
		Config: func(cfg *approvals.Config) {
			cfg.Groups = groups{"it-leads": {"dave@example.com", "frank@example.com"}, "sales": {"gina@example.com"}}
			if mod != nil {
				mod(cfg)
			}
		}})
	ctx, db, clock, svc, p := te.Ctx, te.DB, te.Clock, te.Svc, te.Policy
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
	testenv.Settle(e.t, e.ctx, e.svc)
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
