package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Conformance of the outbox jobs: enqueue, claims, leases, coalescing, outcomes.

// enqueue adds jobs and returns their ids.
func enqueue(t *testing.T, s Store, jobs ...*approvals.Job) []int64 {
	t.Helper()
	var ids []int64
	update(t, s, func(tx approvals.Tx) error {
		for _, j := range jobs {
			if j.Lane == "" {
				j.Lane = approvals.LaneAccess
			}
			if err := tx.EnqueueJob(j); err != nil {
				return err
			}
			ids = append(ids, j.ID)
		}
		return nil
	})
	return ids
}

func claim(t *testing.T, s Store, lane approvals.Lane, now time.Time, limit int, owner string, skip []int64) []*approvals.Job {
	t.Helper()
	var out []*approvals.Job
	update(t, s, func(tx approvals.Tx) error {
		var err error
		out, err = tx.ClaimJobs(lane, now, limit, owner, now.Add(time.Minute), skip)
		return err
	})
	return out
}

func jobIDs(js []*approvals.Job) []int64 {
	out := make([]int64, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func testClaimOrder(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s,
		&approvals.Job{Kind: approvals.JobRevoke, RequestID: "r1", GrantID: "g1", RunAt: t0.Add(2 * time.Second)},
		&approvals.Job{Kind: approvals.JobProvision, RequestID: "r2", GrantID: "g2", Ref: "ref", Note: "n", RunAt: t0},
		&approvals.Job{Kind: approvals.JobProvision, RunAt: t0.Add(time.Second)},
		&approvals.Job{Kind: approvals.JobProvision, RunAt: t0.Add(time.Hour)},            // not due
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, RunAt: t0}, // another lane
	)
	if ids[0] == 0 || ids[0] == ids[1] {
		t.Fatalf("ids: %v", ids)
	}
	got := claim(t, s, approvals.LaneAccess, t0.Add(5*time.Second), 2, "w1", nil)
	if want := []int64{ids[1], ids[2]}; !slices.Equal(jobIDs(got), want) {
		t.Fatalf("first claim: got %v, want %v (run_at order, limit 2)", jobIDs(got), want)
	}
	j := got[0]
	if j.Kind != approvals.JobProvision || j.Lane != approvals.LaneAccess || j.RequestID != "r2" || j.GrantID != "g2" ||
		j.Ref != "ref" || j.Note != "n" || !j.RunAt.Equal(t0) || j.Attempts != 0 {
		t.Errorf("claimed job: got %+v", j)
	}
	got = claim(t, s, approvals.LaneAccess, t0.Add(5*time.Second), 10, "w2", nil)
	if want := []int64{ids[0]}; !slices.Equal(jobIDs(got), want) {
		t.Fatalf("second claim: got %v, want %v", jobIDs(got), want)
	}
	if got := claim(t, s, approvals.LaneMessage, t0, 10, "w2", nil); !slices.Equal(jobIDs(got), []int64{ids[4]}) {
		t.Errorf("message lane: got %v, want %v", jobIDs(got), ids[4:5])
	}
	if got := claim(t, s, approvals.LaneAccess, t0, 0, "w3", nil); len(got) != 0 {
		t.Errorf("limit 0: got %v", jobIDs(got))
	}
}

func testLease(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0})
	var got []*approvals.Job
	update(t, s, func(tx approvals.Tx) error {
		var err error
		got, err = tx.ClaimJobs(approvals.LaneAccess, t0, 10, "dead", t0.Add(30*time.Second), nil)
		return err
	})
	if len(got) != 1 {
		t.Fatalf("claim: got %d jobs, want 1", len(got))
	}
	// Another owner waits for the lease; on another instance too.
	other := open()
	if got := claim(t, other, approvals.LaneAccess, t0.Add(29*time.Second), 10, "alive", nil); len(got) != 0 {
		t.Fatalf("during the lease: got %v, want nothing", jobIDs(got))
	}
	if got[0].Claims != 1 {
		t.Errorf("claims after the first claim: got %d, want 1", got[0].Claims)
	}
	// The holder may take its own job again (it restarted its lane).
	if got := claim(t, s, approvals.LaneAccess, t0.Add(time.Second), 10, "dead", nil); !slices.Equal(jobIDs(got), ids) || got[0].Claims != 2 {
		t.Fatalf("the holder again: got %v, want %v claimed a second time", jobIDs(got), ids)
	}
	// Its holder died: once the lease has run out, another takes it.
	if got := claim(t, other, approvals.LaneAccess, t0.Add(time.Second+time.Minute), 10, "alive", nil); !slices.Equal(jobIDs(got), ids) {
		t.Fatalf("after the lease: got %v, want %v", jobIDs(got), ids)
	}
	// A stopping lane releases what it holds: another owner takes it at
	// once, long before the lease would run out. Only the owner's own
	// leases are released.
	var held []*approvals.Job
	update(t, s, func(tx approvals.Tx) error {
		var err error
		held, err = tx.ClaimJobs(approvals.LaneAccess, t0.Add(10*time.Minute), 10, "stopping", t0.Add(time.Hour), nil)
		return err
	})
	if len(held) != 1 {
		t.Fatalf("claim before release: got %d jobs, want 1", len(held))
	}
	update(t, other, func(tx approvals.Tx) error { return tx.ReleaseJobs("someone else", ids) })
	if got := claim(t, other, approvals.LaneAccess, t0.Add(11*time.Minute), 10, "alive", nil); len(got) != 0 {
		t.Fatalf("another owner's release freed the job: %v", jobIDs(got))
	}
	update(t, s, func(tx approvals.Tx) error { return tx.ReleaseJobs("stopping", ids) })
	if got := claim(t, other, approvals.LaneAccess, t0.Add(11*time.Minute), 10, "alive", nil); !slices.Equal(jobIDs(got), ids) {
		t.Fatalf("after the release: got %v, want %v", jobIDs(got), ids)
	}
	update(t, other, func(tx approvals.Tx) error { return tx.CompleteJob(ids[0]) })
	update(t, other, func(tx approvals.Tx) error { return tx.ReleaseJobs("alive", nil) }) // nothing to release
	err := s.Update(ctx, func(tx approvals.Tx) error { return tx.CompleteJob(ids[0]) })
	if !errors.Is(err, approvals.ErrConflict) {
		t.Errorf("completing twice: got %v, want ErrConflict", err)
	}
	if got := claim(t, s, approvals.LaneAccess, t0.Add(time.Hour), 10, "dead", nil); len(got) != 0 {
		t.Errorf("a done job claimed: %v", jobIDs(got))
	}
}

// A lane renews the leases of the jobs it holds while they wait and run:
// no other owner takes them until the renewed lease runs out. A renewal by
// another owner, or of a job another owner took once the lease had run
// out, changes nothing; a renewal never shortens a lease.
func testRenew(t *testing.T, open func() Store) {
	s, other := open(), open()
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0}, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0})
	if got := claim(t, s, approvals.LaneAccess, t0, 10, "slow", nil); !slices.Equal(jobIDs(got), ids) { // leased for a minute
		t.Fatalf("claim: got %v, want %v", jobIDs(got), ids)
	}
	renew := func(s Store, owner string, ids []int64, until time.Time) {
		t.Helper()
		update(t, s, func(tx approvals.Tx) error { return tx.RenewJobs(owner, ids, until) })
	}
	renew(s, "slow", ids[:1], t0.Add(3*time.Minute))
	renew(other, "someone else", ids[1:], t0.Add(time.Hour))
	if got := claim(t, other, approvals.LaneAccess, t0.Add(2*time.Minute), 10, "fast", nil); !slices.Equal(jobIDs(got), ids[1:]) {
		t.Fatalf("two minutes on: got %v, want only %v (the first renewed, the second's renewal by another owner ignored)", jobIDs(got), ids[1:])
	}
	renew(s, "slow", ids, t0.Add(10*time.Minute)) // the second is fast's now
	renew(s, "slow", ids[:1], t0)                 // never shorter
	renew(s, "slow", nil, t0.Add(time.Hour))      // nothing to renew
	if got := claim(t, other, approvals.LaneAccess, t0.Add(4*time.Minute), 10, "third", nil); !slices.Equal(jobIDs(got), ids[1:]) {
		t.Fatalf("four minutes on: got %v, want %v (fast's lease ran out; slow's renewal did not take it back)", jobIDs(got), ids[1:])
	}
	if got := claim(t, other, approvals.LaneAccess, t0.Add(11*time.Minute), 10, "fourth", []int64{ids[1]}); !slices.Equal(jobIDs(got), ids[:1]) {
		t.Fatalf("after the renewed lease: got %v, want %v", jobIDs(got), ids[:1])
	}
}

// holds asks HoldsJob in a write transaction, as provisioning does.
func holds(t *testing.T, s Store, id int64, claims int) bool {
	t.Helper()
	var held bool
	update(t, s, func(tx approvals.Tx) error {
		var err error
		held, err = tx.HoldsJob(id, claims)
		return err
	})
	return held
}

func testHoldsJob(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobProvision, RunAt: t0})
	first := claim(t, s, approvals.LaneAccess, t0, 10, "slow", nil)
	if len(first) != 1 || !holds(t, s, ids[0], first[0].Claims) {
		t.Fatalf("the holder of the only claim: got %d jobs, holds=false, want it held", len(first))
	}
	// Its lease runs out and another process takes the job: the first
	// holder no longer holds it, the second does.
	other := open()
	second := claim(t, other, approvals.LaneAccess, t0.Add(time.Hour), 10, "fast", nil)
	if len(second) != 1 {
		t.Fatalf("after the lease: got %d jobs, want 1", len(second))
	}
	if holds(t, s, ids[0], first[0].Claims) {
		t.Error("the first claim still holds the job after another worker took it")
	}
	if !holds(t, other, ids[0], second[0].Claims) {
		t.Error("the second claim does not hold the job")
	}
	update(t, other, func(tx approvals.Tx) error { return tx.CompleteJob(ids[0]) })
	if holds(t, other, ids[0], second[0].Claims) {
		t.Error("a done job is still held")
	}
	if holds(t, s, 1<<40, 1) {
		t.Error("a job that does not exist is held")
	}
}

func testSkip(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0}, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0},
		&approvals.Job{Kind: approvals.JobRevoke, RunAt: t0})
	got := claim(t, s, approvals.LaneAccess, t0, 10, "w", []int64{ids[0], ids[2]})
	if !slices.Equal(jobIDs(got), ids[1:2]) {
		t.Fatalf("got %v, want %v", jobIDs(got), ids[1:2])
	}
}

func testKeyOrder(t *testing.T, open func() Store) {
	s := open()
	key := approvals.Membership{Provider: "jira", Group: "wiki", Person: "alice@example.com"}.JobKey()
	ids := enqueue(t, s,
		&approvals.Job{Kind: approvals.JobProvision, Key: key, RunAt: t0.Add(time.Second)},
		&approvals.Job{Kind: approvals.JobRevoke, Key: key, RunAt: t0}, // due sooner, but queued after
		&approvals.Job{Kind: approvals.JobRevoke, Key: "other", RunAt: t0},
	)
	got := claim(t, s, approvals.LaneAccess, t0, 10, "w", nil)
	if !slices.Equal(jobIDs(got), ids[2:3]) {
		t.Fatalf("before the first of the key is due: got %v, want only %v", jobIDs(got), ids[2:3])
	}
	got = claim(t, s, approvals.LaneAccess, t0.Add(time.Second), 10, "w", []int64{ids[2]})
	if !slices.Equal(jobIDs(got), ids[0:1]) {
		t.Fatalf("the key's first: got %v, want %v", jobIDs(got), ids[0:1])
	}
	// While the first is held, by this owner or another, the second waits.
	other := open()
	if got := claim(t, other, approvals.LaneAccess, t0.Add(2*time.Minute), 10, "w2", []int64{ids[2]}); slices.Contains(jobIDs(got), ids[1]) {
		t.Fatalf("the key's second ran while its first is pending: %v", jobIDs(got))
	}
	update(t, s, func(tx approvals.Tx) error { return tx.CompleteJob(ids[0]) })
	got = claim(t, other, approvals.LaneAccess, t0.Add(3*time.Minute), 10, "w2", []int64{ids[2]})
	if !slices.Equal(jobIDs(got), ids[1:2]) {
		t.Fatalf("after the first is done: got %v, want %v", jobIDs(got), ids[1:2])
	}
	// A failed job no longer holds its key.
	ids = enqueue(t, s, &approvals.Job{Kind: approvals.JobRevoke, Key: "k3", RunAt: t0}, &approvals.Job{Kind: approvals.JobRevoke, Key: "k3", RunAt: t0})
	update(t, s, func(tx approvals.Tx) error { return tx.FailJob(ids[0], "gave up") })
	got = claim(t, s, approvals.LaneAccess, t0.Add(4*time.Minute), 10, "w3", nil)
	if !slices.Contains(jobIDs(got), ids[1]) {
		t.Fatalf("after the first failed: got %v, want %d among them", jobIDs(got), ids[1])
	}
}

func testCoalesce(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s,
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r1", Note: "submitted", RunAt: t0},
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r1", Note: "approved", Coalesce: true, RunAt: t0},
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r1", Note: "", Coalesce: true, RunAt: t0},
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r2", Note: "x", Coalesce: true, RunAt: t0},
		&approvals.Job{Kind: approvals.JobAlert, Lane: approvals.LaneMessage, Key: "request:r1", Note: "y", Coalesce: true, RunAt: t0},
	)
	if ids[1] != ids[0] || ids[2] != ids[0] {
		t.Fatalf("coalesced ids: got %v, want the first three the same", ids)
	}
	if ids[3] == ids[0] || ids[4] == ids[0] {
		t.Fatalf("another key or kind was folded in: %v", ids)
	}
	got := claim(t, s, approvals.LaneMessage, t0, 10, "w", nil)
	// The alert shares the key: it waits behind the notification.
	if !slices.Equal(jobIDs(got), []int64{ids[0], ids[3]}) || got[0].Note != "submitted,approved" {
		t.Fatalf("claim: got %v (first note %q), want %v, the first noting submitted,approved", jobIDs(got), got[0].Note, []int64{ids[0], ids[3]})
	}
	// A job a worker holds is not folded into: the new one waits behind it.
	more := enqueue(t, s, &approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r1", Note: "active", Coalesce: true, RunAt: t0})
	if more[0] == ids[0] {
		t.Fatalf("folded into a held job")
	}
	again := enqueue(t, s, &approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, Key: "request:r1", Note: "ended", Coalesce: true, RunAt: t0})
	if again[0] != more[0] {
		t.Fatalf("the next update of the waiting job: got id %d, want %d", again[0], more[0])
	}
}

func testDeferRetryFail(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0}, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0},
		&approvals.Job{Kind: approvals.JobRevoke, RunAt: t0})
	if got := claim(t, s, approvals.LaneAccess, t0, 10, "w", nil); len(got) != 3 {
		t.Fatalf("claim: got %d, want 3", len(got))
	}
	update(t, s, func(tx approvals.Tx) error {
		if err := tx.DeferJob(ids[0], t0.Add(10*time.Second), "429"); err != nil {
			return err
		}
		if err := tx.RetryJob(ids[1], 1, t0.Add(20*time.Second), "boom"); err != nil {
			return err
		}
		return tx.FailJob(ids[2], "gave up")
	})
	// Deferred and retried jobs are free again (no lease) at their new run_at.
	if got := claim(t, s, approvals.LaneAccess, t0.Add(9*time.Second), 10, "w2", nil); len(got) != 0 {
		t.Fatalf("before the new run_at: got %v", jobIDs(got))
	}
	got := claim(t, s, approvals.LaneAccess, t0.Add(10*time.Second), 10, "w2", nil)
	if len(got) != 1 || got[0].ID != ids[0] || got[0].Attempts != 0 || got[0].LastError != "429" || !got[0].RunAt.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("deferred: got %+v", got)
	}
	got = claim(t, s, approvals.LaneAccess, t0.Add(20*time.Second), 10, "w2", []int64{ids[0]})
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 1 || got[0].LastError != "boom" {
		t.Fatalf("retried: got %+v", got)
	}
	for _, id := range ids {
		id := id
		err := s.Update(ctx, func(tx approvals.Tx) error { return tx.CompleteJob(id) })
		if id == ids[2] && !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("completing a failed job: got %v, want ErrConflict", err)
		}
		if id != ids[2] && err != nil {
			t.Errorf("complete %d: %v", id, err)
		}
	}
	for _, f := range []func(tx approvals.Tx) error{
		func(tx approvals.Tx) error { return tx.DeferJob(ids[0], t0, "x") },
		func(tx approvals.Tx) error { return tx.RetryJob(ids[0], 2, t0, "x") },
		func(tx approvals.Tx) error { return tx.FailJob(ids[0], "x") },
	} {
		if err := s.Update(ctx, f); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("changing a done job: got %v, want ErrConflict", err)
		}
	}
}

func testNextJobAt(t *testing.T, open func() Store) {
	s := open()
	next := func(now time.Time, skip []int64) (time.Time, bool) {
		var (
			at time.Time
			ok bool
		)
		view(t, s, func(tx approvals.Tx) error {
			var err error
			at, ok, err = tx.NextJobAt(approvals.LaneAccess, now, skip)
			return err
		})
		return at, ok
	}
	if _, ok := next(t0, nil); ok {
		t.Fatal("empty outbox: got a next run_at")
	}
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0},
		&approvals.Job{Kind: approvals.JobRevoke, RunAt: t0.Add(time.Minute)},
		&approvals.Job{Kind: approvals.JobRevoke, RunAt: t0.Add(2 * time.Minute)},
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, RunAt: t0.Add(time.Second)})
	if at, ok := next(t0, nil); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("after t0: got %v %v, want t0+1m (after now, this lane)", at, ok)
	}
	if at, ok := next(t0, ids[1:2]); !ok || !at.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("skipping the next: got %v %v, want t0+2m", at, ok)
	}
	update(t, s, func(tx approvals.Tx) error { return tx.CompleteJob(ids[1]) })
	if at, ok := next(t0, nil); !ok || !at.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after completing it: got %v %v, want t0+2m", at, ok)
	}
}

func testHurry(t *testing.T, open func() Store) {
	s := open()
	ids := enqueue(t, s, &approvals.Job{Kind: approvals.JobProvision, GrantID: "g1", RunAt: t0.Add(10 * time.Minute)},
		&approvals.Job{Kind: approvals.JobProvision, GrantID: "g2", RunAt: t0.Add(10 * time.Minute)},
		&approvals.Job{Kind: approvals.JobProvision, RunAt: t0.Add(10 * time.Minute)})
	update(t, s, func(tx approvals.Tx) error { return tx.HurryGrantJobs("g1", t0) })
	update(t, s, func(tx approvals.Tx) error { return tx.HurryGrantJobs("", t0) }) // no grant: nothing
	got := claim(t, s, approvals.LaneAccess, t0, 10, "w", nil)
	if !slices.Equal(jobIDs(got), ids[:1]) || !got[0].RunAt.Equal(t0) {
		t.Fatalf("got %v, want only %d, due at t0", jobIDs(got), ids[0])
	}

	// HurryDeferred: only the lane's jobs put back for that reason.
	msgs := enqueue(t, s, &approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, RequestID: "r1", Key: "r1", RunAt: t0},
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, RequestID: "r2", Key: "r2", RunAt: t0},
		&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, RequestID: "r3", Key: "r3", RunAt: t0})
	update(t, s, func(tx approvals.Tx) error {
		for i, why := range []string{"held", "channel pace", "held"} {
			if err := tx.DeferJob(msgs[i], t0.Add(time.Minute), why); err != nil {
				return err
			}
		}
		return tx.DeferJob(ids[1], t0.Add(time.Minute), "held") // another lane
	})
	var n int
	update(t, s, func(tx approvals.Tx) error {
		var err error
		n, err = tx.HurryDeferred(approvals.LaneMessage, "held", t0.Add(time.Second))
		return err
	})
	got = claim(t, s, approvals.LaneMessage, t0.Add(time.Second), 10, "w", nil)
	if want := []int64{msgs[0], msgs[2]}; n != 2 || !slices.Equal(jobIDs(got), want) {
		t.Fatalf("HurryDeferred said %d and made %v due, want 2: %v", n, jobIDs(got), want)
	}
}

// Several instances claim one outbox at once: every job is claimed once.
func testClaimsNeverShared(t *testing.T, open func() Store) {
	stores := []Store{open(), open()}
	const n = 300
	jobs := make([]*approvals.Job, n)
	for i := range jobs {
		jobs[i] = &approvals.Job{Kind: approvals.JobRevoke, RunAt: t0}
		if i%3 == 0 {
			jobs[i].Key = fmt.Sprint("k", i%7)
		}
	}
	enqueue(t, stores[0], jobs...)
	var (
		mu   sync.Mutex
		seen = map[int64]string{}
		wg   sync.WaitGroup
	)
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			owner := fmt.Sprint("worker", w)
			for range 200 {
				var got []*approvals.Job
				err := s.Update(ctx, func(tx approvals.Tx) error {
					var err error
					got, err = tx.ClaimJobs(approvals.LaneAccess, t0, 7, owner, t0.Add(time.Hour), nil)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				for _, j := range got {
					mu.Lock()
					if prev, dup := seen[j.ID]; dup {
						t.Errorf("job %d claimed by %s and %s", j.ID, prev, owner)
					}
					seen[j.ID] = owner
					mu.Unlock()
					if err := s.Update(ctx, func(tx approvals.Tx) error { return tx.CompleteJob(j.ID) }); err != nil {
						t.Error(err)
					}
				}
				mu.Lock()
				done := len(seen) == n
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d of %d jobs", len(seen), n)
	}
}
