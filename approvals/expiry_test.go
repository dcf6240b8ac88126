package approvals_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestExpiry_AtDeadline(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour) // auto-approved
	e.settle()
	got := e.get(r.ID)
	wantState(t, got, approvals.StateActive)
	if want := t0.Add(2 * time.Hour); !got.EndsAt.Equal(want) {
		t.Fatalf("ends at: got %s, want %s", got.EndsAt, want)
	}
	if next, ok, _ := e.svc.NextDeadline(e.ctx); !ok || !next.Equal(got.WarnAt) {
		t.Fatalf("next deadline: got %s %v, want the expiry warning at %s", next, ok, got.WarnAt)
	}

	res := e.advance(2*time.Hour - time.Millisecond)
	if res.Warned != 1 || res.Expired != 0 {
		t.Fatalf("a millisecond before the deadline: got %+v, want one warning and no expiry", res)
	}
	wantState(t, e.get(r.ID), approvals.StateActive)
	if len(e.ledger.Members()) != 1 {
		t.Fatal("membership gone before its deadline")
	}

	res = e.advance(time.Millisecond)
	if res.Expired != 1 {
		t.Fatalf("at the deadline: got %+v, want one expiry", res)
	}
	wantState(t, e.get(r.ID), approvals.StateExpired)
	if m := e.ledger.Members(); len(m) != 0 {
		t.Fatalf("members after expiry: got %v, want none", m)
	}
	g := e.grants(r.ID)[0]
	if g.State != approvals.GrantEnded || g.Note != "removed" {
		t.Errorf("grant: got %s %q, want ended \"removed\"", g.State, g.Note)
	}
	if _, ok, _ := e.svc.NextDeadline(e.ctx); ok {
		t.Error("nothing should be left to do")
	}
}

func TestExpiry_OverlappingGrantsKeepMembership(t *testing.T) {
	e := newEnv(t)
	short := e.submit("alice@example.com", "confluence-finance", 2*time.Hour) // auto
	long := e.submit("alice@example.com", "confluence-finance", 72*time.Hour)
	e.approve(long.ID, "bob@example.com")
	e.settle()
	wantState(t, e.get(short.ID), approvals.StateActive)
	wantState(t, e.get(long.ID), approvals.StateActive)
	if adds, _ := e.ledger.Counts(); adds != 1 {
		t.Fatalf("adds: got %d, want 1 (the second grant reuses the membership)", adds)
	}

	e.advance(2 * time.Hour)
	wantState(t, e.get(short.ID), approvals.StateExpired)
	if m := e.ledger.Members(); len(m) != 1 {
		t.Fatalf("the first expiry removed access the second grant still covers: members %v", m)
	}
	if g := e.grants(short.ID)[0]; g.Note != "kept: still covered by request "+approvals.Short(long.ID) {
		t.Errorf("note: got %q", g.Note)
	}

	e.advance(72 * time.Hour)
	wantState(t, e.get(long.ID), approvals.StateExpired)
	if m := e.ledger.Members(); len(m) != 0 {
		t.Fatalf("members after the last grant ended: got %v, want none", m)
	}
}

func TestExpiry_ExtensionOverlaps(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	e.clock.Advance(90 * time.Minute)
	ext, err := e.svc.Extend(e.ctx, r.ID, "alice@example.com", 4*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if ext.ExtendsID != r.ID || ext.CorrelationID != r.CorrelationID {
		t.Errorf("extension: got extends %q correlation %q", ext.ExtendsID, ext.CorrelationID)
	}
	e.settle()
	wantState(t, e.get(ext.ID), approvals.StateActive) // 4h internal: auto-approved by the same rule
	e.advance(30 * time.Minute)
	wantState(t, e.get(r.ID), approvals.StateExpired)
	if len(e.ledger.Members()) != 1 {
		t.Fatal("the original's expiry removed access the extension covers")
	}
	e.advance(4 * time.Hour)
	if len(e.ledger.Members()) != 0 {
		t.Fatal("the extension's expiry left the membership in place")
	}
}

func TestExpiry_StandingAccessIsKept(t *testing.T) {
	e := newEnv(t)
	m := approvals.Membership{Provider: "jira", Group: "confluence-finance", Person: "alice@example.com"}
	if _, err := e.ledger.DryRunAdd(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	if g := e.grants(r.ID)[0]; !g.Standing {
		t.Fatal("grant should record standing access")
	}
	e.advance(2 * time.Hour)
	wantState(t, e.get(r.ID), approvals.StateExpired)
	if got := e.ledger.Members(); len(got) != 1 {
		t.Fatalf("standing membership removed: members %v", got)
	}
	if g := e.grants(r.ID)[0]; g.Note != "kept: standing access from before the grant" {
		t.Errorf("note: got %q", g.Note)
	}
}

func TestExpiry_PendingTimesOutAfterReminder(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "confluence-finance", 72*time.Hour) // default: ttl 24h
	if res := e.advance(12*time.Hour - time.Second); res.Reminded != 0 {
		t.Fatalf("reminded too early: %+v", res)
	}
	if res := e.advance(time.Second); res.Reminded != 1 {
		t.Fatalf("halfway: got %+v, want one reminder", res)
	}
	if res := e.advance(time.Hour); res.Reminded != 0 {
		t.Fatalf("reminded twice: %+v", res)
	}
	res := e.advance(11 * time.Hour)
	if res.TimedOut != 1 {
		t.Fatalf("at the TTL: got %+v, want one timeout", res)
	}
	wantState(t, e.get(r.ID), approvals.StateTimedOut)
	_, err := e.svc.Approve(e.ctx, r.ID, "bob@example.com", "")
	wantCode(t, err, approvals.EConflict)
}

func TestExpiry_RevokeBeforeProvisioned(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	if _, err := e.svc.Revoke(e.ctx, r.ID, "security@example.com", "leaver"); err != nil {
		t.Fatal(err)
	}
	e.settle()
	wantState(t, e.get(r.ID), approvals.StateRevoked)
	if adds, _ := e.ledger.Counts(); adds != 0 {
		t.Errorf("a revoked grant was provisioned anyway: %d adds", adds)
	}
}

// The loop itself: woken by the fake clock at the next deadline.
func TestRun_WakesAtNextDeadline(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	r := e.submit("alice@example.com", "confluence-finance", time.Hour)
	go func() { done <- e.svc.Run(ctx) }()
	waitFor(t, func() bool { return e.get(r.ID).State == approvals.StateActive })
	waitFor(t, func() bool { return e.clock.BlockUntilContext(ctx, 1) == nil })
	e.clock.Advance(time.Hour)
	waitFor(t, func() bool { return e.get(r.ID).State == approvals.StateExpired && len(e.ledger.Members()) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls a condition that another goroutine makes true; it bounds a
// wait on real concurrency, not on time passing in the domain.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A burst of expiries a few hundred milliseconds apart is one info line,
// not a line per sweep: each sweep that changed something is a debug line,
// and the info line sums what the sweeps did since the last one, at most
// every ten seconds.
func TestExpiry_SweepLogsQuietly(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	e := newEnvConfig(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy, func(c *approvals.Config) { c.Log = zap.New(core) })
	const n = 20
	for i := range n {
		e.submit("alice@example.com", "confluence-finance", 2*time.Hour+time.Duration(i)*300*time.Millisecond)
	}
	e.settle()
	e.advance(2*time.Hour - 300*time.Millisecond) // the warnings
	if info := logs.FilterMessage("swept").All(); len(info) != 1 || info[0].ContextMap()["warned"] != int64(n) {
		t.Fatalf("the first sweep that changed something: %v, want an info line with warned=%d", info, n)
	}
	logs.TakeAll()
	for range n {
		if res := e.advance(300 * time.Millisecond); res.Expired != 1 {
			t.Fatalf("a sweep expired %d, want one each 300ms", res.Expired)
		}
	}
	if debug, info := logs.FilterMessage("sweep").Len(), logs.FilterMessage("swept").Len(); debug != n || info != 0 {
		t.Fatalf("%d expiries over 6s, within 10s of the last info line: %d debug lines and %d info lines, want %d and none", n, debug, info, n)
	}
	e.advance(10 * time.Second)
	e.submit("carol@example.com", "confluence-finance", time.Minute)
	e.settle()
	e.advance(time.Minute)
	info := logs.FilterMessage("swept").All()
	if len(info) != 1 || info[0].ContextMap()["expired"] != int64(n+1) {
		t.Errorf("ten seconds on, the next info line: %v, want the sums since the last, expired=%d", info, n+1)
	}
}
