package approvals_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

type alertCall struct{ RequestID, Message string }

// recAlerter records Alert calls; hook, when set, runs inside each call.
type recAlerter struct {
	mu   sync.Mutex
	got  []alertCall
	hook func(ctx context.Context, requestID, message string)
}

func (a *recAlerter) Alert(ctx context.Context, requestID, message string) error {
	a.mu.Lock()
	a.got = append(a.got, alertCall{requestID, message})
	hook := a.hook
	a.mu.Unlock()
	if hook != nil {
		hook(ctx, requestID, message)
	}
	return nil
}

func (a *recAlerter) calls() []alertCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

// alertReasons returns the reasons of the recorded alert.raised events, in order.
func (e *env) alertReasons() []string {
	e.t.Helper()
	rows, err := e.db.ReadDB().QueryContext(e.ctx, `SELECT reason FROM audit_events WHERE action = ? ORDER BY seq`, approvals.ActionAlert)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// writeOutsideTx makes an alerter prove it is not called inside a write
// transaction: the store has one write connection, so a write from inside
// would block until the deadline.
func writeOutsideTx(t *testing.T, e *env) func(context.Context, string, string) {
	return func(ctx context.Context, _, _ string) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := e.svc.SetPolicy(ctx, e.policy); err != nil {
			t.Errorf("write from inside Alert: %v (called inside a transaction?)", err)
		}
	}
}

func TestAlerter_PermanentProviderError(t *testing.T) {
	e := newEnv(t)
	a := &recAlerter{}
	a.hook = writeOutsideTx(t, e)
	e.svc.SetAlerter(a)
	e.jira.fails, e.jira.err = 100, approvals.Permanent(errors.New("the API token's user is not a site admin"))
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	wantState(t, e.get(r.ID), approvals.StateFailed)

	reasons := e.alertReasons()
	if len(reasons) != 1 {
		t.Fatalf("alert events: got %q, want one", reasons)
	}
	got := a.calls()
	if len(got) != 1 {
		t.Fatalf("Alert calls: got %+v, want exactly one", got)
	}
	if got[0].RequestID != r.ID {
		t.Errorf("Alert request id: got %q, want %q", got[0].RequestID, r.ID)
	}
	if got[0].Message != reasons[0] {
		t.Errorf("Alert message: got %q, want the event's reason %q", got[0].Message, reasons[0])
	}
	if !strings.Contains(got[0].Message, "not a site admin") {
		t.Errorf("Alert message %q does not carry the provider's error", got[0].Message)
	}
	// Nothing more happens later: no second alert for the same failure.
	e.advance(time.Hour)
	if n := len(a.calls()); n != 1 {
		t.Errorf("Alert calls after an hour: got %d, want 1", n)
	}
}

func TestAlerter_RetryableErrors(t *testing.T) {
	t.Run("RecoverNoAlert", func(t *testing.T) {
		e := newEnv(t)
		a := &recAlerter{}
		e.svc.SetAlerter(a)
		e.jira.fails, e.jira.err = 2, errors.New("503 service unavailable")
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		for i := 0; i < 3 && e.get(r.ID).State == approvals.StateApproved; i++ {
			e.advance(time.Minute)
		}
		wantState(t, e.get(r.ID), approvals.StateActive)
		if got := a.calls(); len(got) != 0 {
			t.Errorf("Alert calls: got %+v, want none for errors that were retried away", got)
		}
	})
	t.Run("AlertOnlyOnFinalAttempt", func(t *testing.T) {
		e := newEnv(t) // MaxAttempts: 4
		a := &recAlerter{}
		e.svc.SetAlerter(a)
		e.jira.fails, e.jira.err = 100, errors.New("connection refused")
		r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
		e.settle()
		for i := 0; i < 10 && e.get(r.ID).State == approvals.StateApproved; i++ {
			if e.jira.calls >= 4 {
				t.Fatalf("request still approved after %d provider calls", e.jira.calls)
			}
			if got := a.calls(); len(got) != 0 {
				t.Fatalf("after attempt %d of 4: Alert calls %+v, want none before the final attempt", e.jira.calls, got)
			}
			e.advance(time.Minute)
		}
		wantState(t, e.get(r.ID), approvals.StateFailed)
		if e.jira.calls != 4 {
			t.Errorf("provider calls: got %d, want 4", e.jira.calls)
		}
		if n := e.count(`SELECT count(*) FROM audit_events WHERE action='job.retry'`); n != 3 {
			t.Errorf("retries recorded: got %d, want 3", n)
		}
		reasons := e.alertReasons()
		got := a.calls()
		if len(got) != 1 || len(reasons) != 1 || got[0].Message != reasons[0] || got[0].RequestID != r.ID {
			t.Fatalf("Alert calls %+v, alert events %q: want one call carrying the event's reason", got, reasons)
		}
		if !strings.Contains(got[0].Message, "connection refused") {
			t.Errorf("Alert message %q does not carry the last error", got[0].Message)
		}
	})
}

// failNotifier fails every notification for good.
type failNotifier struct{}

func (failNotifier) Notify(context.Context, approvals.Notification) error {
	return approvals.Permanent(errors.New("channel_not_found"))
}

func TestAlerter_NotificationFailure(t *testing.T) {
	e := newEnv(t)
	a := &recAlerter{}
	a.hook = writeOutsideTx(t, e)
	e.svc.SetAlerter(a)
	e.svc.SetNotifier(failNotifier{})
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	wantState(t, e.get(r.ID), approvals.StateActive) // a failed notification fails nothing else

	reasons := e.alertReasons()
	if len(reasons) == 0 {
		t.Fatal("no alert events for failed notifications")
	}
	var msgs []string
	for _, c := range a.calls() {
		if c.RequestID != r.ID {
			t.Errorf("Alert request id: got %q, want %q", c.RequestID, r.ID)
		}
		msgs = append(msgs, c.Message)
	}
	// Notify jobs run concurrently: compare as multisets.
	slices.Sort(msgs)
	slices.Sort(reasons)
	if !slices.Equal(msgs, reasons) {
		t.Fatalf("Alert messages %q, want the alert events' reasons %q", msgs, reasons)
	}
	for _, m := range msgs {
		if !strings.HasPrefix(m, "notification could not be delivered: ") || !strings.Contains(m, "channel_not_found") {
			t.Errorf("Alert message %q", m)
		}
	}
}

func TestAlerter_DriftRepairFailure(t *testing.T) {
	e := newEnv(t)
	a := &recAlerter{}
	e.svc.SetAlerter(a)
	r := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	// The revocation fails for good (one alert) and the membership stays.
	e.jira.fails, e.jira.err = 1, approvals.Permanent(errors.New("403"))
	e.advance(2 * time.Hour)
	if got := a.calls(); len(got) != 1 || got[0].RequestID != r.ID || !strings.Contains(got[0].Message, "could not remove") {
		t.Fatalf("Alert calls after the failed revocation: got %+v", got)
	}
	// Reconcile cannot remove it either: a second alert, raised with the
	// membership's lock released (the hook reconciles the same group).
	nested := make(chan error, 1)
	a.mu.Lock()
	a.hook = func(ctx context.Context, _, _ string) {
		done := make(chan error, 1)
		go func() {
			_, err := e.svc.Reconcile(ctx, approvals.ReconcileOptions{Mode: repairOrReport(true)})
			done <- err
		}()
		select {
		case err := <-done:
			nested <- err
		case <-time.After(5 * time.Second):
			nested <- errors.New("nested reconcile blocked: Alert called holding the membership lock?")
		}
	}
	a.mu.Unlock()
	e.jira.fails, e.jira.err = 1, errors.New("502 bad gateway")
	fs := findings(t, e, false)
	if len(fs) != 1 || fs[0].Action != approvals.DriftFailed {
		t.Fatalf("findings: got %+v, want one failed repair", fs)
	}
	e.settle() // alerts are delivered by the message lane
	select {
	case err := <-nested:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the alerter was not called for the failed repair")
	}
	got, reasons := a.calls(), e.alertReasons()
	if len(got) != 2 || len(reasons) != 2 {
		t.Fatalf("Alert calls %+v, alert events %q: want two of each", got, reasons)
	}
	if got[1].Message != reasons[1] || !strings.HasPrefix(got[1].Message, "drift in jira/confluence-finance for alice@example.com") {
		t.Errorf("drift Alert message: got %q, want the event's reason %q", got[1].Message, reasons[1])
	}
}

// panicAlerter panics on every call.
type panicAlerter struct {
	mu sync.Mutex
	n  int
}

func (p *panicAlerter) Alert(context.Context, string, string) error {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
	panic("alerter is broken")
}

func TestAlerter_PanicDoesNotBreakEngine(t *testing.T) {
	e := newEnv(t)
	p := &panicAlerter{}
	e.svc.SetAlerter(p)
	e.jira.fails, e.jira.err = 1, approvals.Permanent(errors.New("403"))
	bad := e.submit("alice@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	wantState(t, e.get(bad.ID), approvals.StateFailed)
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("Alert calls: got %d, want 1", n)
	}
	// The engine carries on.
	good := e.submit("carol@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	wantState(t, e.get(good.ID), approvals.StateActive)
}

func TestAlerter_SetWhileRunning(t *testing.T) {
	e := newEnv(t)
	e.jira.fails, e.jira.err = 1000, approvals.Permanent(errors.New("403"))
	a := &recAlerter{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the Slack front end arrives while jobs run
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				e.svc.SetAlerter(a)
			} else {
				e.svc.SetAlerter(nil)
			}
		}
	}()
	var ids []string
	for _, who := range []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "frank@example.com"} {
		ids = append(ids, e.submit(who, "confluence-finance", 2*time.Hour).ID)
	}
	e.settle()
	close(stop)
	<-done
	reasons := e.alertReasons()
	if len(reasons) != len(ids) {
		t.Fatalf("alert events: got %d, want %d", len(reasons), len(ids))
	}
	for _, c := range a.calls() {
		if !slices.Contains(reasons, c.Message) {
			t.Errorf("Alert message %q matches no alert event", c.Message)
		}
	}
	// Once set, every later alert arrives.
	e.svc.SetAlerter(a)
	before := len(a.calls())
	r := e.submit("gina@example.com", "confluence-finance", 2*time.Hour)
	e.settle()
	if got := a.calls(); len(got) != before+1 || got[len(got)-1].RequestID != r.ID {
		t.Errorf("Alert calls: got %+v, want %d ending with one for %s", got, before+1, r.ID)
	}
}
