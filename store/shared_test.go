package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

// Many goroutines write at once through UpdateShared, every fifth one
// failing after it wrote: the others' writes are all there, the failed
// ones' are all gone, and the audit chain, appended to by both, verifies
// (a failed write's events must not leave the chain's head behind).
func TestUpdateShared_FailuresUndoOnlyTheirOwn(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	refuse := errors.New("refused")
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = db.UpdateShared(ctx, func(tx approvals.Tx) error {
				if err := tx.Append(&approvals.Event{Actor: "system", Action: "test", Subject: fmt.Sprint(i)}); err != nil {
					return err
				}
				if err := tx.EnqueueJob(&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Note: fmt.Sprint(i)}); err != nil {
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
	var events, jobs int
	db.ReadDB().QueryRow(`SELECT count(*) FROM audit_events WHERE action = 'test'`).Scan(&events)
	db.ReadDB().QueryRow(`SELECT count(*) FROM jobs`).Scan(&jobs)
	if events != n-n/5 || jobs != n-n/5 {
		t.Errorf("events %d, jobs %d: want %d each (the failed writes undone, the others kept)", events, jobs, n-n/5)
	}
	var refusedLeft int
	db.ReadDB().QueryRow(`SELECT count(*) FROM jobs WHERE CAST(note AS INTEGER) % 5 = 0`).Scan(&refusedLeft)
	if refusedLeft != 0 {
		t.Errorf("%d jobs of failed writes were kept", refusedLeft)
	}
	if _, err := audit.Verify(ctx, db); err != nil {
		t.Errorf("the audit chain after shared writes: %v", err)
	}
}

// A write that panics fails the others of its transaction with an error,
// none waits forever, and the next writes go through.
func TestUpdateShared_PanicAnswersEveryone(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panicked: %v", p)
				}
			}()
			errs[i] = db.UpdateShared(ctx, func(tx approvals.Tx) error {
				if i == 7 {
					panic("a bug")
				}
				return tx.Append(&approvals.Event{Actor: "system", Action: "test"})
			})
		})
	}
	wg.Wait() // returns: nobody was left waiting
	if errs[7] == nil || !strings.Contains(errs[7].Error(), "a bug") {
		t.Errorf("the write that panicked: got %v", errs[7])
	}
	if err := db.UpdateShared(ctx, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Actor: "system", Action: "after"})
	}); err != nil {
		t.Fatalf("a write after the panic: %v", err)
	}
	if _, err := audit.Verify(ctx, db); err != nil {
		t.Errorf("the audit chain: %v", err)
	}
}

// A write whose context has ended before its turn is not run.
func TestUpdateShared_CancelledNotRun(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "j.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := db.UpdateShared(ctx, func(tx approvals.Tx) error { ran = true; return nil })
	if !errors.Is(err, context.Canceled) || ran {
		t.Errorf("got %v, ran=%v; want context.Canceled and not run", err, ran)
	}
}
