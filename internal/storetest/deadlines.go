package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

// Conformance of the deadlines, the audit chain and the shared (group-commit) writes.

func testDeadlines(t *testing.T, open func() Store) {
	s := open()
	mk := func(id string, st approvals.State, f func(r *approvals.Request)) *approvals.Request {
		r := newRequest(id, st)
		f(r)
		return r
	}
	insert(t, s,
		mk("active-due", approvals.StateActive, func(r *approvals.Request) { r.EndsAt, r.WarnAt = t0, t0.Add(-time.Minute) }),
		mk("active-later", approvals.StateActive, func(r *approvals.Request) { r.EndsAt, r.WarnAt = t0.Add(time.Hour), t0.Add(45*time.Minute) }),
		mk("active-warned", approvals.StateActive, func(r *approvals.Request) {
			r.EndsAt, r.WarnAt, r.Warned = t0.Add(time.Minute), t0.Add(-time.Minute), true
		}),
		mk("expired", approvals.StateExpired, func(r *approvals.Request) { r.EndsAt = t0.Add(-time.Hour) }),
		mk("started-due", approvals.StateApproved, func(r *approvals.Request) { r.EndsAt = t0.Add(-time.Second) }),
		mk("started-later", approvals.StateApproved, func(r *approvals.Request) { r.EndsAt = t0.Add(time.Hour) }),
		mk("approved-unstarted", approvals.StateApproved, func(r *approvals.Request) {}),
		mk("pending-due", approvals.StatePending, func(r *approvals.Request) { r.ExpiresAt, r.RemindAt = t0, t0.Add(-time.Hour) }),
		mk("pending-remind", approvals.StatePending, func(r *approvals.Request) { r.ExpiresAt, r.RemindAt = t0.Add(time.Hour), t0 }),
		mk("pending-reminded", approvals.StatePending, func(r *approvals.Request) {
			r.ExpiresAt, r.RemindAt, r.Reminded = t0.Add(time.Hour), t0.Add(-time.Minute), true
		}),
	)
	ids := func(f func(tx approvals.Tx) ([]*approvals.Request, error)) []string {
		var out []string
		view(t, s, func(tx approvals.Tx) error {
			rs, err := f(tx)
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return err
		})
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"DueActive", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DueActive(t0, 10) }), []string{"active-due"}},
		{"DueActiveLater", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DueActive(t0.Add(time.Hour), 10) }),
			[]string{"active-due", "active-later", "active-warned"}},
		{"DueActiveLimit", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DueActive(t0.Add(time.Hour), 1) }), []string{"active-due"}},
		{"DueStarted", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DueStarted(t0, 10) }), []string{"started-due"}},
		{"DuePending", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DuePending(t0, 10) }), []string{"pending-due"}},
		{"DueReminders", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DueReminders(t0, 10) }),
			[]string{"pending-due", "pending-remind"}},
		{"DueWarnings", ids(func(tx approvals.Tx) ([]*approvals.Request, error) { return tx.DueWarnings(t0, 10) }), []string{"active-due"}},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func testNextDeadline(t *testing.T, open func() Store) {
	s := open()
	next := func() (time.Time, bool) {
		var (
			at time.Time
			ok bool
		)
		view(t, s, func(tx approvals.Tx) error {
			var err error
			at, ok, err = tx.NextDeadline()
			return err
		})
		return at, ok
	}
	if _, ok := next(); ok {
		t.Fatal("no requests: got a deadline")
	}
	ended := newRequest("ended", approvals.StateExpired)
	ended.EndsAt = t0.Add(-time.Hour)
	insert(t, s, ended)
	if at, ok := next(); ok {
		t.Fatalf("only an ended request: got %v", at)
	}
	for _, tc := range []struct {
		name string
		r    func() *approvals.Request
		want time.Time
	}{
		{"StartedEnds", func() *approvals.Request {
			r := newRequest("s", approvals.StateApproved)
			r.EndsAt = t0.Add(7 * time.Hour)
			return r
		}, t0.Add(7 * time.Hour)},
		{"ActiveEnds", func() *approvals.Request {
			r := newRequest("a", approvals.StateActive)
			r.EndsAt, r.WarnAt, r.Warned = t0.Add(4*time.Hour), t0.Add(3*time.Hour), true
			return r
		}, t0.Add(4 * time.Hour)},
		{"ActiveWarns", func() *approvals.Request {
			r := newRequest("b", approvals.StateActive)
			r.EndsAt, r.WarnAt = t0.Add(5*time.Hour), t0.Add(3*time.Hour)
			return r
		}, t0.Add(3 * time.Hour)},
		{"PendingExpires", func() *approvals.Request {
			r := newRequest("c", approvals.StatePending)
			r.ExpiresAt, r.RemindAt, r.Reminded = t0.Add(2*time.Hour), t0.Add(time.Hour), true
			return r
		}, t0.Add(2 * time.Hour)},
		{"PendingReminds", func() *approvals.Request {
			r := newRequest("d", approvals.StatePending)
			r.ExpiresAt, r.RemindAt = t0.Add(6*time.Hour), t0.Add(time.Hour)
			return r
		}, t0.Add(time.Hour)},
	} {
		insert(t, s, tc.r())
		if at, ok := next(); !ok || !at.Equal(tc.want) {
			t.Errorf("%s: got %v %v, want %v", tc.name, at, ok, tc.want)
		}
	}
}

func testAuditAppend(t *testing.T, open func() Store) {
	s := open()
	if h, err := s.Head(ctx); err != nil || h.Seq != 0 || h.Hash != audit.GenesisHash {
		t.Fatalf("empty head: got %+v %v", h, err)
	}
	var last *approvals.Event
	update(t, s, func(tx approvals.Tx) error {
		for i := range 3 {
			e := &approvals.Event{Time: t0.Add(time.Duration(i) * time.Hour).Add(123456 * time.Nanosecond), Actor: "system", Action: "test.event",
				Subject: "alice@example.com", Resource: "wiki", RequestID: "r1", GrantID: "g1", Reason: "because", Rule: "default",
				CorrelationID: "c1", Data: map[string]string{"b": "2", "a": "1"}}
			if err := tx.Append(e); err != nil {
				return err
			}
			if e.Seq != int64(i+1) || e.ID == "" || e.Hash == "" {
				return fmt.Errorf("appended: got seq %d id %q hash %q", e.Seq, e.ID, e.Hash)
			}
			last = e
		}
		return nil
	})
	update(t, s, func(tx approvals.Tx) error { return tx.Append(&approvals.Event{Actor: "system", Action: "no.time"}) })
	res, err := audit.Verify(ctx, s)
	if err != nil || res.Count != 4 {
		t.Fatalf("verify: got %+v, %v; want 4 events", res, err)
	}
	h, err := s.Head(ctx)
	if err != nil || h.Seq != 4 {
		t.Fatalf("head: got %+v %v", h, err)
	}
	// Read back, the event is the one appended, to the millisecond.
	var got []approvals.Event
	if err := s.Events(ctx, t0.Add(2*time.Hour), t0.Add(3*time.Hour), func(e *approvals.Event) error {
		c := *e
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != 3 || got[0].Hash != last.Hash || got[0].Data["a"] != "1" || !got[0].Time.Equal(last.Time) ||
		got[0].Time.Nanosecond()%int(time.Millisecond) != 0 || audit.Hash(got[0].PrevHash, &got[0]) != got[0].Hash {
		t.Fatalf("events in [t0+2h, t0+3h): got %+v, want event 3 as appended (%+v)", got, last)
	}
	if _, err := audit.Verify(ctx, s, audit.Anchor{Seq: 3, Hash: last.Hash}); err != nil {
		t.Errorf("verify with an anchor: %v", err)
	}
	if _, err := audit.Verify(ctx, s, audit.Anchor{Seq: 3, Hash: audit.GenesisHash}); err == nil {
		t.Error("verify with a wrong anchor passed")
	}
}

// Several instances on one database append at once, alone and in
// transactions that change requests too: the chain stays one line.
func testAuditSeveralAppenders(t *testing.T, open func() Store) {
	stores := []Store{open(), open()}
	const (
		goroutines = 8
		txs        = 15
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[g%2]
			for i := range txs {
				id := fmt.Sprintf("r-%d-%d", g, i)
				err := s.Update(ctx, func(tx approvals.Tx) error {
					if i%3 == 0 {
						if err := tx.InsertRequest(newRequest(id, approvals.StatePending)); err != nil {
							return err
						}
					}
					for k := range 1 + i%3 {
						if err := tx.Append(&approvals.Event{Time: t0, Actor: fmt.Sprint("appender", g), Action: "test.event",
							RequestID: id, Data: map[string]string{"k": fmt.Sprint(k)}}); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := 0
	for i := range txs {
		want += 1 + i%3
	}
	want *= goroutines
	for i, s := range stores {
		res, err := audit.Verify(ctx, s)
		if err != nil {
			t.Fatalf("verify through instance %d: %v", i, err)
		}
		if res.Count != int64(want) {
			t.Fatalf("events: got %d, want %d", res.Count, want)
		}
	}
}

// Many goroutines write at once through UpdateShared, every fifth one
// failing after it wrote: the others' writes are all there, the failed
// ones' are all gone, and the audit chain, appended to by both, verifies
// (a failed write's events must not leave the chain's head behind).
func testSharedFailAlone(t *testing.T, open func() Store) {
	s := open()
	refuse := errors.New("refused")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.UpdateShared(ctx, func(tx approvals.Tx) error {
				if err := tx.Append(&approvals.Event{Time: t0, Actor: "system", Action: "test", Subject: fmt.Sprint(i)}); err != nil {
					return err
				}
				if err := tx.EnqueueJob(&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Note: fmt.Sprint(i), RunAt: t0}); err != nil {
					return err
				}
				if i%5 == 0 {
					return fmt.Errorf("write %d: %w", i, refuse)
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if want := i%5 == 0; errors.Is(err, refuse) != want || (!want && err != nil) {
			t.Errorf("write %d: got %v, want refused=%v", i, err, want)
		}
	}
	var notes []string
	for _, j := range claim(t, s, approvals.LaneMessage, t0, 1000, "test", nil) {
		notes = append(notes, j.Note)
	}
	if len(notes) != n-n/5 {
		t.Errorf("jobs kept: %d, want %d", len(notes), n-n/5)
	}
	for _, note := range notes {
		var i int
		fmt.Sscan(note, &i)
		if i%5 == 0 {
			t.Errorf("the job of failed write %d was kept", i)
		}
	}
	res, err := audit.Verify(ctx, s)
	if err != nil {
		t.Fatalf("the audit chain after shared writes: %v", err)
	}
	if res.Count != n-n/5 {
		t.Errorf("events in the chain: %d, want %d", res.Count, n-n/5)
	}
}

// A write that panics fails alone, with a permanent error that names the
// panic; the writes sharing its transaction are kept, none waits for ever,
// and the next writes go through.
func testSharedPanic(t *testing.T, open func() Store) {
	s := open()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() {
			errs[i] = s.UpdateShared(ctx, func(tx approvals.Tx) error {
				if i == 7 {
					panic("a bug")
				}
				return tx.Append(&approvals.Event{Time: t0, Actor: "system", Action: "test"})
			})
		})
	}
	wg.Wait() // it returns: nobody was left waiting
	for i, err := range errs {
		switch {
		case i == 7 && (err == nil || !strings.Contains(err.Error(), "a bug") || !approvals.IsPermanent(err)):
			t.Errorf("the write that panicked: got %v, want a permanent error naming the panic", err)
		case i != 7 && err != nil:
			t.Errorf("write %d, beside the one that panicked: %v", i, err)
		}
	}
	if err := s.UpdateShared(ctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Time: t0, Actor: "system", Action: "after"})
	}); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	res, err := audit.Verify(ctx, s)
	if err != nil {
		t.Fatalf("the audit chain: %v", err)
	}
	if res.Count != 20 {
		t.Errorf("events in the chain: %d, want the 19 that did not panic and the one after", res.Count)
	}
}

// A write whose context has ended before its turn is not run.
func testSharedCancelled(t *testing.T, open func() Store) {
	s := open()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.UpdateShared(cctx, func(tx approvals.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("got %v, ran=%v; want context.Canceled and not run", err, ran)
	}
}

// Wakes checks approvals.WorkWatcher: runner watches; a write committed by
// announcer (a CLI command) wakes it within a few seconds; a write by
// quiet and a rolled-back write by announcer do not. quiet is a process
// whose writes must not wake the runner: one that does not announce, or
// one that announces for another database. runner's first wake says it is
// watching.
func Wakes(t *testing.T, runner approvals.WorkWatcher, announcer, quiet approvals.Store) {
	t.Helper()
	wakes := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.WatchWork(ctx, func() { wakes <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchWork: %v", err)
		}
	}()
	wait := func(what string, want bool) {
		t.Helper()
		d := 5 * time.Second
		if !want {
			d = 500 * time.Millisecond
		}
		select {
		case <-wakes:
			if !want {
				t.Errorf("%s woke the runner", what)
			}
		case <-time.After(d):
			if want {
				t.Fatalf("%s: the runner was not woken within %v", what, d)
			}
		}
	}
	wait("watching", true)
	if err := quiet.Update(ctx, func(approvals.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	wait("a write by a process that does not announce", false)
	if err := announcer.Update(ctx, func(approvals.Tx) error { return errors.New("no") }); err == nil {
		t.Fatal("the write should have failed")
	}
	wait("a rolled-back write", false)
	if err := announcer.Update(ctx, func(approvals.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	wait("a write the CLI committed", true)
}
