package approvals_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
)

func (f *flaky) Members(ctx context.Context, group string) ([]string, error) {
	return f.Provisioner.(approvals.MemberLister).Members(ctx, group)
}

func findings(t *testing.T, e *env, reportOnly bool) []approvals.DriftFinding {
	t.Helper()
	fs, err := e.svc.Reconcile(e.ctx, approvals.ReconcileOptions{Mode: repairOrReport(reportOnly)})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestReconcile(t *testing.T) {
	standing := approvals.Membership{Provider: "jira", Group: "confluence-finance", Person: "carol@example.com"}
	t.Run("LeftoverRemoved", func(t *testing.T) {
		e := newEnv(t)
		e.ledger.DryRunAdd(e.ctx, standing)
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		// The revocation fails for good: the membership stays behind.
		e.jira.fails, e.jira.err = 1, approvals.Permanent(errors.New("403"))
		e.advance(2 * time.Hour)
		if g := e.grants(r.ID)[0]; g.State != approvals.GrantFailed {
			t.Fatalf("grant: got %s, want failed", g.State)
		}
		fs := findings(t, e, false)
		if len(fs) != 1 || fs[0].Kind != approvals.DriftLeftover || fs[0].Action != approvals.DriftRemoved || fs[0].Person != "alice@example.com" {
			t.Fatalf("findings: got %+v, want alice's leftover removed", fs)
		}
		if got := e.ledger.Members(); len(got) != 1 || got[0] != "confluence-finance/carol@example.com" {
			t.Fatalf("members: got %v, want only carol's standing membership", got)
		}
		if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'drift.removed'`); n != 1 {
			t.Errorf("drift events: got %d, want 1", n)
		}
		if fs := findings(t, e, false); len(fs) != 0 {
			t.Errorf("second pass: got %+v, want nothing", fs)
		}
	})
	t.Run("VanishedReprovisioned", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		m := e.grants(r.ID)[0].Membership()
		e.ledger.DryRunRemove(e.ctx, m) // someone removed it by hand
		fs := findings(t, e, false)
		if len(fs) != 1 || fs[0].Kind != approvals.DriftVanished || fs[0].Action != approvals.DriftReprovisioned {
			t.Fatalf("findings: got %+v, want the vanished membership re-provisioned", fs)
		}
		if ok, _ := e.ledger.DryRunIsMember(e.ctx, m); !ok {
			t.Fatal("membership not back")
		}
		e.advance(2 * time.Hour) // and it still expires normally
		if got := e.ledger.Members(); len(got) != 0 {
			t.Fatalf("members after expiry: %v", got)
		}
	})
	t.Run("ReportOnly", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		m := e.grants(r.ID)[0].Membership()
		e.ledger.DryRunRemove(e.ctx, m)
		fs := findings(t, e, true)
		if len(fs) != 1 || fs[0].Action != approvals.DriftReported {
			t.Fatalf("findings: got %+v, want one report", fs)
		}
		if ok, _ := e.ledger.DryRunIsMember(e.ctx, m); ok {
			t.Fatal("report-only changed the membership")
		}
	})
	// The sweep ended the grant and queued its removal; reconciliation runs
	// before the access lane does (the playground's skipped hour): it leaves
	// the membership to the revocation, which removes it and records
	// grant.removed, not a drift.
	t.Run("RevokingLeftToItsJob", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		e.clock.Advance(2 * time.Hour)
		if _, err := e.svc.Sweep(e.ctx); err != nil {
			t.Fatal(err)
		}
		if g := e.grants(r.ID)[0]; g.State != approvals.GrantRevoking {
			t.Fatalf("grant: got %s, want revoking", g.State)
		}
		if fs := findings(t, e, false); len(fs) != 0 {
			t.Fatalf("findings: got %+v, want none while the removal is queued", fs)
		}
		e.settle()
		if got := e.ledger.Members(); len(got) != 0 {
			t.Fatalf("members after the revocation: %v", got)
		}
		if n := e.count(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = 'grant.removed'`, r.ID); n != 1 {
			t.Errorf("grant.removed events: got %d, want 1", n)
		}
	})
	t.Run("StandingLeftAlone", func(t *testing.T) {
		e := newEnv(t)
		e.ledger.DryRunAdd(e.ctx, standing)
		if fs := findings(t, e, false); len(fs) != 0 {
			t.Fatalf("findings: got %+v, want none for a member the bot never added", fs)
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
