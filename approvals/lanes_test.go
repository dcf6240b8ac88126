package approvals_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// stuckNotifier never answers: it holds every notification until its
// context ends, as a hanging Slack would hold a worker that waited on it.
type stuckNotifier struct {
	mu    sync.Mutex
	calls []approvals.Notification
}

func (n *stuckNotifier) Notify(ctx context.Context, note approvals.Notification) error {
	n.mu.Lock()
	n.calls = append(n.calls, note)
	n.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// run starts the engine's loops until the test ends.
func (e *env) run() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.svc.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Every message worker is held by a notification that never ends and a
// hundred more wait behind them: an approval is still provisioned at once,
// and an expiry removed at once. Access changes never wait for a message.
func TestLanes_AccessNeverWaitsForMessages(t *testing.T) {
	e := newEnvPolicy(t, filepath.Join(t.TempDir(), "jitbot.db"), testPolicy+"limits: {pending_per_requester: 1000}\n")
	stuck := &stuckNotifier{}
	e.svc.SetNotifier(stuck)
	var queued []*approvals.Request
	for range 100 {
		queued = append(queued, e.submit("carol@example.com", "confluence-finance", 10*24*time.Hour)) // needs bob: a notification each
	}
	e.run()
	waitFor(t, func() bool { stuck.mu.Lock(); defer stuck.mu.Unlock(); return len(stuck.calls) >= 8 })

	start := time.Now()
	r := e.submit("alice@example.com", "confluence-finance", time.Hour) // auto-approved
	waitFor(t, func() bool { return e.get(r.ID).State == approvals.StateActive })
	if d := time.Since(start); d > time.Second {
		t.Errorf("provisioned %v after approval behind a stuck message lane, want well within 1s", d)
	}
	e.clock.Advance(time.Hour)
	start = time.Now()
	waitFor(t, func() bool { return e.get(r.ID).State == approvals.StateExpired && len(e.ledger.Members()) == 0 })
	if d := time.Since(start); d > time.Second {
		t.Errorf("removed %v after the deadline behind a stuck message lane, want well within 1s", d)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE state = 'pending' AND lane = 'message'`); n < len(queued) {
		t.Errorf("%d message jobs pending, want the %d queued behind the stuck ones still there (none lost)", n, len(queued))
	}
}

// holdingProvider blocks AddMember for one person until released.
type holdingProvider struct {
	approvals.Provisioner
	person  string
	release chan struct{}
	held    atomic.Int32
}

func (p *holdingProvider) AddMember(ctx context.Context, m approvals.Membership) error {
	if m.Person == p.person {
		p.held.Add(1)
		select {
		case <-p.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return p.Provisioner.AddMember(ctx, m)
}

// The expiry sweep runs on its own timer: a provisioning job that hangs at
// the provider does not stop another grant's expiry from being recorded on
// time (the sweep used to wait for the batch of jobs it ran after it).
func TestLanes_SweepNotBlockedByJobs(t *testing.T) {
	e := newEnv(t)
	e.settle()
	first := e.submit("alice@example.com", "confluence-finance", time.Hour)
	e.settle()
	wantState(t, e.get(first.ID), approvals.StateActive)

	hold := &holdingProvider{Provisioner: e.jira.Provisioner, person: "carol@example.com", release: make(chan struct{})}
	e.jira.Provisioner = hold
	defer close(hold.release)
	e.run()
	e.submit("carol@example.com", "confluence-finance", time.Hour)
	waitFor(t, func() bool { return hold.held.Load() == 1 })
	e.clock.Advance(time.Hour)
	waitFor(t, func() bool { return e.get(first.ID).State == approvals.StateExpired })
}

// recNotifier records notifications; block, when set, is closed to let
// them through.
type recNotifier struct {
	mu    sync.Mutex
	calls []approvals.Notification
	gate  chan struct{}
}

func (n *recNotifier) Notify(ctx context.Context, note approvals.Notification) error {
	if n.gate != nil {
		select {
		case <-n.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.mu.Lock()
	n.calls = append(n.calls, note)
	n.mu.Unlock()
	return nil
}

// Several notifications of one request that wait together are delivered by
// one call carrying all of them, in order.
func TestJobs_NotificationsCoalesce(t *testing.T) {
	e := newEnv(t)
	n := &recNotifier{}
	e.svc.SetNotifier(n)
	r := e.submit("alice@example.com", "it-tools", time.Hour) // two of dave, frank, gina
	e.approve(r.ID, "dave@example.com")
	e.approve(r.ID, "frank@example.com")
	e.settle()
	var got []approvals.Notification
	for _, c := range n.calls {
		if c.RequestID == r.ID {
			got = append(got, c)
		}
	}
	if len(got) != 2 {
		t.Fatalf("notifications of one request: got %+v, want 2 (the first three folded, then activated)", got)
	}
	want := []string{approvals.NoteSubmitted, approvals.NoteApproval, approvals.NoteApproved}
	if !slices.Equal(got[0].Kinds, want) {
		t.Errorf("first notification kinds: got %v, want %v", got[0].Kinds, want)
	}
	if !slices.Equal(got[1].Kinds, []string{approvals.NoteActivated}) {
		t.Errorf("second notification kinds: got %v, want [activated]", got[1].Kinds)
	}
}

// laterNotifier puts every notification back until a time.
type laterNotifier struct {
	mu    sync.Mutex
	until time.Time
	calls int
}

func (n *laterNotifier) Notify(ctx context.Context, note approvals.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls++
	return approvals.Later(n.until, "the channel's pace")
}

// A job put back with Later waits until then without counting an attempt
// or an audit event, and the worker does not wait for it.
func TestJobs_LaterPutsBack(t *testing.T) {
	e := newEnv(t)
	n := &laterNotifier{until: t0.Add(20 * time.Second)}
	e.svc.SetNotifier(n)
	r := e.submit("carol@example.com", "confluence-finance", 10*24*time.Hour)
	start := time.Now()
	e.settle()
	if d := time.Since(start); d > time.Second {
		t.Errorf("settling took %v: a worker waited on Later", d)
	}
	if n.calls != 1 {
		t.Fatalf("notify calls: got %d, want 1", n.calls)
	}
	if got := e.count(`SELECT attempts FROM jobs WHERE kind = 'notify' AND request_id = ?`, r.ID); got != 0 {
		t.Errorf("attempts after Later: got %d, want 0", got)
	}
	if got := e.count(`SELECT count(*) FROM audit_events WHERE action = ?`, approvals.ActionJobRetry); got != 0 {
		t.Errorf("job.retry events after Later: got %d, want 0", got)
	}
	e.clock.Advance(19 * time.Second)
	e.settle()
	if n.calls != 1 {
		t.Errorf("notify calls before the time: got %d, want 1", n.calls)
	}
	n.until = time.Time{}
	e.svc.SetNotifier(&recNotifier{})
	e.clock.Advance(time.Second)
	e.settle()
	if got := e.count(`SELECT count(*) FROM jobs WHERE state = 'pending'`); got != 0 {
		t.Errorf("pending jobs after the time: got %d, want 0", got)
	}
}

// Jobs of one key run one at a time in the order queued, even when a later
// one is due first; jobs of other keys do not wait for them.
func TestJobs_KeyOrder(t *testing.T) {
	e := newEnv(t)
	var (
		mu  sync.Mutex
		ran []string
	)
	e.svc.Register("test.step", approvals.JobType{Lane: approvals.LaneAccess, Run: func(ctx context.Context, j *approvals.Job) error {
		mu.Lock()
		ran = append(ran, j.Ref)
		mu.Unlock()
		return nil
	}})
	err := e.db.Update(e.ctx, func(tx approvals.Tx) error {
		for _, j := range []*approvals.Job{
			{Kind: "test.step", Key: "k", Ref: "k1", RunAt: t0.Add(time.Minute)},
			{Kind: "test.step", Key: "k", Ref: "k2", RunAt: t0},
			{Kind: "test.step", Key: "other", Ref: "o1", RunAt: t0},
		} {
			if err := e.svc.Enqueue(tx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.settle()
	if !slices.Equal(ran, []string{"o1"}) {
		t.Fatalf("ran %v before k1 was due, want only o1 (k2 waits behind k1)", ran)
	}
	e.clock.Advance(time.Minute)
	e.settle()
	if !slices.Equal(ran, []string{"o1", "k1", "k2"}) {
		t.Errorf("ran %v, want [o1 k1 k2]", ran)
	}
}

// A revocation is not held behind the backoff of its grant's provisioning
// retry: ending the request makes the waiting retry due at once, and it
// finds the grant revoking.
func TestJobs_RevokeNotHeldByProvisioningBackoff(t *testing.T) {
	e := newEnv(t)
	e.jira.fails, e.jira.err = 1, errors.New("503 service unavailable")
	r := e.submit("alice@example.com", "confluence-finance", time.Hour)
	e.settle() // the first attempt fails; the retry waits its backoff
	if _, err := e.svc.Release(e.ctx, r.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	e.settle() // no clock advance
	if got := e.count(`SELECT count(*) FROM jobs WHERE state = 'pending'`); got != 0 {
		t.Fatalf("pending jobs after the release: got %d, want 0", got)
	}
	wantState(t, e.get(r.ID), approvals.StateReleased)
	if m := e.ledger.Members(); len(m) != 0 {
		t.Errorf("members after the release: %v", m)
	}
}

// A lane that stops lets go of the jobs it holds — claimed and waiting, or
// interrupted — so that another replica takes them at once, not when their
// leases run out.
func TestLanes_StopReleasesLeases(t *testing.T) {
	e := newEnv(t)
	hold := &holdingProvider{Provisioner: e.jira.Provisioner, person: "alice@example.com", release: make(chan struct{})}
	e.jira.Provisioner = hold
	defer close(hold.release)
	e.submit("alice@example.com", "confluence-finance", time.Hour)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = e.svc.Run(ctx) }()
	waitFor(t, func() bool { return hold.held.Load() == 1 })
	if n := e.count(`SELECT count(*) FROM jobs WHERE state = 'pending' AND lease_owner <> ''`); n == 0 {
		t.Fatal("the provisioning job is not leased while it runs")
	}
	cancel()
	<-done
	if n := e.count(`SELECT count(*) FROM jobs WHERE state = 'pending' AND lease_owner <> ''`); n != 0 {
		t.Errorf("%d jobs still leased after the lanes stopped, want 0", n)
	}
	if n := e.count(`SELECT count(*) FROM jobs WHERE state = 'pending' AND kind = 'provision'`); n != 1 {
		t.Errorf("the interrupted provisioning job: %d pending, want it still there", n)
	}
}
