package approvals_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
)

// droppedPolicy is the test policy after a change that dropped every jira
// resource (jira-admins, confluence-finance and their bundle).
const droppedPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
resources:
  - id: it-tools
    provider: dryrun
    group: it-tools
rules:
  - name: default
    then:
      approvals:
        - approvers: [manager]
`

func parsePolicy(t *testing.T, src string) *policies.Policy {
	t.Helper()
	p, err := policies.Parse("policy.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Issue 20 finding 1: the groups a policy change left behind are found
// (Unnamed), and reconciliation still covers them: a membership jitbot
// added whose removal failed, in a group the policy no longer names, is
// removed by the next reconciliation. Before, reconciliation looked only at
// the groups the policy names and never at that one again.
func TestUnnamed_ReconciledAfterThePolicyDropsThem(t *testing.T) {
	e := newEnv(t)
	stays := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	ends := e.submit("carol@example.com", "confluence-finance", 8*time.Hour)
	e.settle()
	wantState(t, e.get(ends.ID), approvals.StateActive)
	// alice's removal fails for good; carol's grant lives on.
	e.jira.fails, e.jira.err = 1, approvals.Permanent(errors.New("403"))
	e.advance(2 * time.Hour)
	if g := e.grants(stays.ID)[0]; g.State != approvals.GrantFailed {
		t.Fatalf("alice's grant: got %s, want failed", g.State)
	}
	if err := e.svc.SetPolicy(e.ctx, parsePolicy(t, droppedPolicy)); err != nil {
		t.Fatal(err)
	}
	lgs, err := approvals.Unnamed(e.ctx, e.db, e.svc.Policy())
	if err != nil {
		t.Fatal(err)
	}
	if len(lgs) != 1 || lgs[0].Provider != "jira" || lgs[0].Group != "confluence-finance" || len(lgs[0].Grants) != 1 ||
		lgs[0].Grants[0].Person != "carol@example.com" || lgs[0].Records != 2 {
		t.Fatalf("Unnamed: got %+v, want jira/confluence-finance with carol's grant and two records (alice's, carol's)", lgs)
	}
	fs, err := e.svc.Reconcile(e.ctx, approvals.ReconcileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Kind != approvals.DriftLeftover || fs[0].Action != approvals.DriftRemoved || fs[0].Person != "alice@example.com" {
		t.Fatalf("findings: got %+v, want alice's leftover in the dropped group removed", fs)
	}
	if got := e.ledger.Members(); !slices.Equal(got, []string{"confluence-finance/carol@example.com"}) {
		t.Fatalf("members: got %v, want carol's alone", got)
	}
	// carol's grant is still served: it ends at its deadline, removed.
	e.advance(6 * time.Hour)
	wantState(t, e.get(ends.ID), approvals.StateExpired)
	if got := e.ledger.Members(); len(got) != 0 {
		t.Fatalf("members after carol's deadline: got %v, want none", got)
	}
}

// Issue 20 finding 1: a removal whose provider the process was started
// without (a policy change dropped it, and the environment lost its
// settings) never fails for good: it waits, and is done once jitbot runs
// with the provider again. Before, the grant failed at once ("no provider
// is configured") and the person stayed in the group.
func TestRevoke_NoProviderWaits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	ledger := provisioner.NewMemoryLedger()
	dry := provisioner.NewDryRun(ledger, nil)
	start := func(src string, jira bool) *testenv.Engine {
		return testenv.New(t, testenv.Options{Policy: src, At: t0, Path: path,
			Providers: func(*store.DB) map[string]approvals.Provisioner {
				ps := map[string]approvals.Provisioner{"dryrun": dry}
				if jira {
					ps["jira"] = dry
				}
				return ps
			}})
	}
	before := start(testPolicy, true)
	r := before.Submit(approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour, Reason: "close"})
	before.Settle()
	if got := ledger.Members(); !slices.Equal(got, []string{"confluence-finance/alice@example.com"}) {
		t.Fatalf("members: got %v, want alice in confluence-finance", got)
	}

	without := start(droppedPolicy, false)
	without.Clock.Advance(2*time.Hour + time.Second)
	if _, err := without.Svc.Sweep(without.Ctx); err != nil {
		t.Fatal(err)
	}
	without.Settle()
	g := grantOf(t, without, r.ID)
	if g.State != approvals.GrantRevoking {
		t.Fatalf("grant without its provider: got %s (%s), want revoking, waiting", g.State, g.Note)
	}
	if got := ledger.Members(); len(got) != 1 {
		t.Fatalf("members: got %v, want alice still in (nothing can remove her yet)", got)
	}

	with := start(droppedPolicy, true)
	with.Clock.Advance(2*time.Hour + time.Minute + 2*time.Second)
	with.Settle()
	if g := grantOf(t, with, r.ID); g.State != approvals.GrantEnded || g.Note != "removed" {
		t.Fatalf("grant once the provider is back: got %s (%s), want ended, removed", g.State, g.Note)
	}
	if got := ledger.Members(); len(got) != 0 {
		t.Fatalf("members: got %v, want none", got)
	}
	wantState(t, with.Get(r.ID), approvals.StateExpired)
}

func grantOf(t *testing.T, e *testenv.Engine, requestID string) *approvals.Grant {
	t.Helper()
	gs, err := e.Svc.Grants(e.Ctx, requestID)
	if err != nil || len(gs) != 1 {
		t.Fatalf("grants of %s: %v %v, want one", requestID, gs, err)
	}
	return gs[0]
}
