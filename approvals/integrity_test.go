package approvals_test

// The integrity issue's scenarios, each a test named after its item: paths
// by which access could outlive its deadline, or one person count as two
// approvers. Each fails on the code before the fix.

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// Item 1: the worker wrote the membership row and added upstream; then the
// row's commit was lost (a power cut under synchronous=NORMAL, a restored
// backup). The replayed job finds the person a member and no record: it
// must not call that standing access (never removed), but keep it as the
// bot's, remove it at the deadline, and tell IT.
func TestIntegrity1_LostIntentNotStanding(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "jitbot.db")
	runChildUntilKilled(t, path, "after-add", t0) // killed right after the provider's add
	ctx := context.Background()
	raw, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := raw.WriteDB().ExecContext(ctx, `DELETE FROM memberships`); n == nil {
		t.Fatal("no memberships table")
	}
	raw.Close()

	svc, db := crashService(t, path, t0, nil)
	if err := svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := svc.List(ctx, approvals.RequestFilter{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("requests: %d %v", len(rs), err)
	}
	wantState(t, rs[0], approvals.StateActive)
	gs, _ := svc.Grants(ctx, rs[0].ID)
	if gs[0].Standing {
		t.Fatal("the replayed job recorded the bot's own membership as standing access")
	}
	var standingEvents, alerts int
	db.ReadDB().QueryRow(`SELECT count(*) FROM audit_events WHERE data LIKE '%already a member before this grant%'`).Scan(&standingEvents)
	db.ReadDB().QueryRow(`SELECT count(*) FROM audit_events WHERE action = ? AND reason LIKE '%no record of who added it%'`, approvals.ActionAlert).Scan(&alerts)
	if standingEvents != 0 {
		t.Error("the audit trail says the person was a member before the grant")
	}
	if alerts != 1 {
		t.Errorf("alerts about the doubtful membership: got %d, want 1", alerts)
	}

	// At the deadline it is removed.
	db.Close()
	svc2, db2 := crashService(t, path, t0.Add(2*time.Hour+time.Minute), nil)
	defer db2.Close()
	if err := svc2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db2.DryRunIsMember(ctx, approvals.Membership{Provider: "jira", Group: "confluence-finance", Person: "alice@example.com"}); ok {
		t.Error("the membership outlived its deadline")
	}
}

// gatedMember makes IsMember wait at a gate for one service, so that two
// services can be interleaved.
type gatedMember struct {
	approvals.Provisioner
	gate    chan struct{}
	reached chan struct{}
}

func (g *gatedMember) IsMember(ctx context.Context, m approvals.Membership) (bool, error) {
	close(g.reached)
	<-g.gate
	return g.Provisioner.IsMember(ctx, m)
}

// Item 2: two processes on one database both run the same provision job
// (a rolling deploy: the first one's lease ran out). The slower one sees the
// faster one's add as pre-existing; it must not turn the bot's record into
// standing access. Both ways a provider is asked: membership first, then
// the add (AskFirst), or the add's own answer (AddAnswers, approvals.Adder).
func TestIntegrity2_NeverStandingOverBot(t *testing.T) {
	t.Run("AskFirst", func(t *testing.T) {
		slow := &gatedMember{gate: make(chan struct{}), reached: make(chan struct{})}
		neverStandingOverBot(t, func(p approvals.Provisioner) (approvals.Provisioner, chan struct{}, chan struct{}) {
			slow.Provisioner = p
			return slow, slow.gate, slow.reached
		}, 1) // the slower one cannot tell who added it, and says so
	})
	t.Run("AddAnswers", func(t *testing.T) {
		slow := &gatedAdder{gate: make(chan struct{}), reached: make(chan struct{})}
		neverStandingOverBot(t, func(p approvals.Provisioner) (approvals.Provisioner, chan struct{}, chan struct{}) {
			slow.Provisioner = p
			return slow, slow.gate, slow.reached
		}, 1) // the slower one cannot tell who added it, and says so
	})
}

// gatedAdder makes Add wait at a gate, after jitbot wrote its intent.
type gatedAdder struct {
	approvals.Provisioner // an approvals.Adder
	gate                  chan struct{}
	reached               chan struct{}
}

func (g *gatedAdder) Add(ctx context.Context, m approvals.Membership) (bool, error) {
	close(g.reached)
	<-g.gate
	return g.Provisioner.(approvals.Adder).Add(ctx, m)
}

func neverStandingOverBot(t *testing.T, gated func(approvals.Provisioner) (approvals.Provisioner, chan struct{}, chan struct{}), wantAlerts int) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	ctx := context.Background()
	open := func(now time.Time, prov func(approvals.Provisioner) approvals.Provisioner) (*approvals.Service, *store.DB) {
		clock := clockwork.NewFakeClockAt(now)
		db, err := store.Open(ctx, path, store.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		e := newEnvAt(t, filepath.Join(t.TempDir(), "unused.db")) // for the policy
		dry := provisioner.NewDryRun(db, nil)
		return approvals.New(approvals.Config{Store: db, Policy: e.policy, Clock: clock,
			Providers: map[string]approvals.Provisioner{"jira": prov(dry), "dryrun": dry}}), db
	}
	var gate, reached chan struct{}
	a, db := open(t0, func(p approvals.Provisioner) approvals.Provisioner {
		slow, g, r := gated(p)
		gate, reached = g, r
		return slow
	})
	r, err := a.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour, Reason: "x"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); a.RunJobs(ctx) }()
	<-reached // a holds the job, before it asks the provider

	// b starts when a's lease has run out, and does the whole job.
	b, _ := open(t0.Add(10*time.Minute), func(p approvals.Provisioner) approvals.Provisioner { return p })
	if _, err := b.RunJobs(ctx); err != nil {
		t.Fatal(err)
	}
	close(gate) // a goes on: the person is a member now
	<-done

	var origin string
	if err := db.ReadDB().QueryRow(`SELECT origin FROM memberships`).Scan(&origin); err != nil {
		t.Fatal(err)
	}
	if origin != string(approvals.OriginBot) {
		t.Fatalf("membership origin after both ran: got %q, want bot", origin)
	}
	gs, _ := b.Grants(ctx, r.ID)
	if gs[0].Standing {
		t.Error("the grant says the membership was standing")
	}
	var alerts int
	db.ReadDB().QueryRow(`SELECT count(*) FROM audit_events WHERE action = ? AND reason LIKE '%no record of who added it%'`, approvals.ActionAlert).Scan(&alerts)
	if alerts != wantAlerts {
		t.Errorf("alerts about the membership: got %d, want %d", alerts, wantAlerts)
	}
}

// Item 3: reconciliation decided from a snapshot. A grant that ends between
// the snapshot and the repair must not be re-added, and a membership IT
// removed in an emergency is only reported unless the policy says repair.
func TestIntegrity3_ReconcileRechecksUnderLock(t *testing.T) {
	t.Run("VanishedReportedByDefault", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		e.ledger.DryRunRemove(e.ctx, e.grants(r.ID)[0].Membership()) // IT removed it
		fs, err := e.svc.Reconcile(e.ctx, approvals.ReconcileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) != 1 || fs[0].Kind != approvals.DriftVanished || fs[0].Action != approvals.DriftReported {
			t.Fatalf("findings: got %+v, want the vanished membership reported", fs)
		}
		if m := e.ledger.Members(); len(m) != 0 {
			t.Errorf("members: got %v, want IT's removal to stand", m)
		}
	})
	t.Run("GrantEndsAfterSnapshot", func(t *testing.T) {
		var hook func()
		e := newEnvConfig(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy, func(c *approvals.Config) {
			c.Hooks = &approvals.Hooks{AfterReconcileSnapshot: func(provider, group string) {
				if group == "confluence-finance" && hook != nil {
					hook()
				}
			}}
		})
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		e.ledger.DryRunRemove(e.ctx, e.grants(r.ID)[0].Membership())
		hook = func() { hook = nil; e.advance(2 * time.Hour) } // the grant expires meanwhile
		fs, err := e.svc.Reconcile(e.ctx, approvals.ReconcileOptions{Mode: repairOrReport(false)})
		if err != nil {
			t.Fatal(err)
		}
		wantState(t, e.get(r.ID), approvals.StateExpired)
		if m := e.ledger.Members(); len(m) != 0 {
			t.Fatalf("members: got %v — re-added with no grant behind it", m)
		}
		if len(fs) != 0 {
			t.Errorf("findings: got %+v, want none (it no longer held under the lock)", fs)
		}
	})
	t.Run("GrantBeginsAfterSnapshot", func(t *testing.T) {
		var hook func()
		e := newEnvConfig(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy, func(c *approvals.Config) {
			c.Hooks = &approvals.Hooks{AfterReconcileSnapshot: func(provider, group string) {
				if group == "confluence-finance" && hook != nil {
					hook()
				}
			}}
		})
		e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		// The revocation fails for good: a leftover.
		e.jira.fails, e.jira.err = 1, approvals.Permanent(errors.New("403"))
		e.advance(2 * time.Hour)
		var again *approvals.Request
		hook = func() { // alice is granted it again meanwhile
			hook = nil
			again = e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
			e.settle()
		}
		if _, err := e.svc.Reconcile(e.ctx, approvals.ReconcileOptions{}); err != nil {
			t.Fatal(err)
		}
		wantState(t, e.get(again.ID), approvals.StateActive)
		if m := e.ledger.Members(); len(m) != 1 {
			t.Fatalf("members: got %v — the new grant's access was removed as a leftover", m)
		}
	})
}

// Item 4: a bundle's clock starts when its first membership is in, not its
// last; and provisioning stops trying after ProvisionFor, removing what was
// added.
func TestIntegrity4_BundleClockFromFirstAdd(t *testing.T) {
	t.Run("ClockFromFirstAdd", func(t *testing.T) {
		e := newEnv(t)
		r := e.submit("alice@example.com", "incident-bundle", 2*time.Hour)
		e.approve(r.ID, "bob@example.com")
		e.jira.fails, e.jira.err = 1, errors.New("503 service unavailable")
		e.approve(r.ID, "dave@example.com")
		first := e.clock.Now()
		e.settle() // one membership in, the other waits for its retry
		if got := e.get(r.ID); got.State != approvals.StateApproved || !got.StartsAt.Equal(first) {
			t.Fatalf("after the first add: state %s starts %v, want approved with the clock started at %v", got.State, got.StartsAt, first)
		}
		e.advance(10 * time.Minute) // the retry succeeds
		got := e.get(r.ID)
		wantState(t, got, approvals.StateActive)
		if want := first.Add(2 * time.Hour); !got.EndsAt.Equal(want) {
			t.Errorf("ends at %v, want %v: 2h from the first membership", got.EndsAt, want)
		}
		e.clock.Advance(2*time.Hour - 10*time.Minute)
		e.settle()
		e.advance(0)
		wantState(t, e.get(r.ID), approvals.StateExpired)
		if m := e.ledger.Members(); len(m) != 0 {
			t.Errorf("members after the 2h: %v", m)
		}
	})
	t.Run("ProvisioningGivesUp", func(t *testing.T) {
		e := newEnvConfig(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy, func(c *approvals.Config) {
			c.Retry = approvals.RetryPolicy{Base: time.Minute, Cap: time.Minute, MaxAttempts: 1000}
			c.ProvisionFor = 15 * time.Minute
		})
		r := e.submit("alice@example.com", "incident-bundle", 2*time.Hour)
		e.approve(r.ID, "bob@example.com")
		e.approve(r.ID, "dave@example.com")
		e.jira.fails, e.jira.err = 1, errors.New("503")
		e.settle()
		e.jira.fails = 1000 // the other one never gets in
		for i := 0; i < 20 && e.get(r.ID).State == approvals.StateApproved; i++ {
			e.advance(time.Minute)
		}
		got := e.get(r.ID)
		wantState(t, got, approvals.StateFailed)
		if d := got.EndedAt.Sub(got.DecidedAt); d > 16*time.Minute {
			t.Errorf("gave up %v after approval, want within ProvisionFor (15m)", d)
		}
		e.jira.fails = 0
		e.advance(time.Minute)
		if m := e.ledger.Members(); len(m) != 0 {
			t.Errorf("members after the request failed: %v, want what was added removed", m)
		}
	})
}

// Item 5: a decision at or after the request's timeout is refused, even
// before the sweep moved it.
func TestIntegrity5_DecisionAfterTimeout(t *testing.T) {
	e := newEnv(t)
	r := e.submit("alice@example.com", "confluence-finance", 10*24*time.Hour) // bob decides, 24h to do it
	e.clock.Advance(24 * time.Hour)
	_, err := e.svc.Approve(e.ctx, r.ID, "bob@example.com", "")
	wantCode(t, err, approvals.EConflict)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("message: %q, want it to say the request expired", err)
	}
	wantState(t, e.get(r.ID), approvals.StatePending)
	e.advance(0)
	wantState(t, e.get(r.ID), approvals.StateTimedOut)
}

// panicky panics when asked to add one person.
type panicky struct {
	approvals.Provisioner
	person string
}

func (p panicky) AddMember(ctx context.Context, m approvals.Membership) error {
	if m.Person == p.person {
		panic("provider bug")
	}
	return p.Provisioner.AddMember(ctx, m)
}

// Item 6: a panic in a job fails that job and alerts; it does not take the
// process down, and the other jobs run.
func TestIntegrity6_PanicInJob(t *testing.T) {
	e := newEnv(t)
	e.jira.Provisioner = panicky{Provisioner: e.jira.Provisioner, person: "alice@example.com"}
	bad := e.submit("alice@example.com", "confluence-finance", time.Hour)
	good := e.submit("carol@example.com", "confluence-finance", time.Hour)
	e.settle()
	wantState(t, e.get(bad.ID), approvals.StateFailed)
	wantState(t, e.get(good.ID), approvals.StateActive)
	reasons := e.alertReasons()
	if len(reasons) != 1 || !strings.Contains(reasons[0], "crashed") {
		t.Errorf("alerts: %q, want one about the crashed job", reasons)
	}
}

// brokenWrites fails every write while broken, as a full disk or a
// database locked by another process would.
type brokenWrites struct {
	approvals.Store
	broken atomic.Bool
}

func (b *brokenWrites) Update(ctx context.Context, fn func(approvals.Tx) error) error {
	if b.broken.Load() {
		return errors.New("database or disk is full")
	}
	return b.Store.Update(ctx, fn)
}

// countingFail fails AddMember and breaks the store's writes, counting calls.
type countingFail struct {
	approvals.Provisioner
	mu    sync.Mutex
	calls int
	fail  bool
	store *brokenWrites
}

func (c *countingFail) AddMember(ctx context.Context, m approvals.Membership) error {
	c.mu.Lock()
	c.calls++
	fail := c.fail
	c.mu.Unlock()
	if fail {
		c.store.broken.Store(true)
		return errors.New("503")
	}
	return c.Provisioner.AddMember(ctx, m)
}

func (c *countingFail) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// Item 7: when a job's outcome cannot be written, the job is not rerun at
// once, thousands of times a second: it waits in memory, with backoff.
func TestIntegrity7_UnrecordableOutcomeBacksOff(t *testing.T) {
	broken := &brokenWrites{}
	prov := &countingFail{fail: true, store: broken}
	e := newEnvConfig(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy, func(c *approvals.Config) {
		broken.Store = c.Store
		c.Store = broken
		prov.Provisioner = c.Providers["dryrun"]
		c.Providers["jira"] = prov
	})
	r := e.submit("alice@example.com", "confluence-finance", time.Hour)
	e.run()
	waitFor(t, func() bool { return prov.count() >= 1 })
	time.Sleep(300 * time.Millisecond) // a hot loop would call thousands of times meanwhile
	if n := prov.count(); n != 1 {
		t.Fatalf("provider calls while the outcome could not be written: got %d, want 1", n)
	}
	// The disk has room again: after the backoff the job runs and succeeds.
	prov.mu.Lock()
	prov.fail = false
	prov.mu.Unlock()
	broken.broken.Store(false)
	for i := 0; i < 100 && e.get(r.ID).State != approvals.StateActive; i++ {
		e.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	wantState(t, e.get(r.ID), approvals.StateActive)
}

// Item 8: when a grant ends while a later grant of the same membership is
// approved but not yet provisioned, the membership is kept for the later
// one — whose clock starts then, not when its own add finally runs.
func TestIntegrity8_KeptMembershipStartsLaterClock(t *testing.T) {
	e := newEnv(t)
	first := e.submit("alice@example.com", "confluence-finance", 2*time.Hour) // automatic
	e.settle()
	e.clock.Advance(time.Hour)
	later := e.submit("alice@example.com", "confluence-finance", 10*24*time.Hour) // bob decides
	e.jira.fails, e.jira.err = 1000, errors.New("503")
	e.approve(later.ID, "bob@example.com")
	e.settle() // its add fails and waits for a retry
	e.clock.Advance(time.Hour)
	ended := e.clock.Now()
	if _, err := e.svc.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(first.ID), approvals.StateExpired)
	got := e.get(later.ID)
	if !got.StartsAt.Equal(ended) {
		t.Fatalf("the later grant's clock: starts %v, want %v (when the membership was kept for it)", got.StartsAt, ended)
	}
	e.jira.fails = 0
	e.advance(5 * time.Minute) // its add runs at last
	got = e.get(later.ID)
	wantState(t, got, approvals.StateActive)
	if want := ended.Add(10 * 24 * time.Hour); !got.EndsAt.Equal(want) {
		t.Errorf("later grant ends %v, want %v", got.EndsAt, want)
	}
	if m := e.ledger.Members(); len(m) != 1 {
		t.Errorf("members: %v, want alice kept", m)
	}
}

// Item 9: one person cannot file requests without limit.
func TestIntegrity9_PendingPerRequesterCap(t *testing.T) {
	e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy+"limits: {pending_per_requester: 3}\n")
	for range 3 {
		e.submit("alice@example.com", "confluence-finance", 10*24*time.Hour)
	}
	_, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
		Duration: 10 * 24 * time.Hour, Reason: "one more"})
	wantCode(t, err, approvals.ETooMany)
	if !strings.Contains(err.Error(), "3 requests waiting") {
		t.Errorf("message: %q", err)
	}
	if n := e.count(`SELECT count(*) FROM requests`); n != 3 {
		t.Errorf("requests stored: %d, want 3", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'request.refused'`); n != 1 {
		t.Errorf("refusals recorded: %d, want 1", n)
	}
	// Automatic requests wait for nobody: they are not capped.
	e.submit("alice@example.com", "confluence-finance", time.Hour)
}

const twoPersonPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
    - {email: dave@example.com, department: IT, employment: internal}
resources:
  - {id: jira-admins, name: Jira administrators, provider: dryrun, group: jira-admins, kind: admin, max_duration: 4h}
rules:
  - name: manager then IT
    then:
      approvals:
        - approvers: [manager]
        - approvers: [bob@example.com, dave@example.com]
`

// Item 10: a manager who is also in the second step's approvers cannot
// meet both steps alone (the two-person rule), unless the rule opts out —
// which is recorded when used.
func TestIntegrity10_OnePersonNotTwoApprovers(t *testing.T) {
	t.Run("Refused", func(t *testing.T) {
		e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), twoPersonPolicy)
		r := e.submit("alice@example.com", "jira-admins", time.Hour)
		e.approve(r.ID, "bob@example.com")
		_, err := e.svc.Approve(e.ctx, r.ID, "bob@example.com", "")
		wantCode(t, err, approvals.ERepeatApprover)
		waiting, err := e.svc.List(e.ctx, approvals.RequestFilter{Approver: "bob@example.com"})
		if err != nil || len(waiting) != 0 {
			t.Errorf("bob's waiting list: %d (%v), want the request not shown to him for step 2", len(waiting), err)
		}
		e.approve(r.ID, "dave@example.com")
		wantState(t, e.get(r.ID), approvals.StateApproved)
	})
	t.Run("OptOutRecorded", func(t *testing.T) {
		src := strings.Replace(twoPersonPolicy, "    then:\n", "    then:\n      allow_repeat_approver: true\n", 1)
		e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), src)
		r := e.submit("alice@example.com", "jira-admins", time.Hour)
		e.approve(r.ID, "bob@example.com")
		e.approve(r.ID, "bob@example.com")
		wantState(t, e.get(r.ID), approvals.StateApproved)
		if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'approval.recorded' AND data LIKE '%allow_repeat_approver%'`); n != 1 {
			t.Errorf("repeat approvals recorded: %d, want 1", n)
		}
	})
}
