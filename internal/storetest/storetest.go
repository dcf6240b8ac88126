// Package storetest is the contract of approvals.Store, as one suite of
// tests that every store passes: SQLite's (package store) and PostgreSQL's
// (store/postgres). It covers what the engine relies on: the
// compare-and-set transitions, one decision per approver and step, the
// covering grants, the membership records, the outbox (leases, skips, key
// order, coalescing, deferral, retries, failure, the next run_at), the
// deadline queries, and the audit chain, appended from several store
// instances on one database at once.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

// Store is what the suite needs of a store.
type Store interface {
	approvals.Store
	approvals.SharedUpdater
	audit.Source
	Head(ctx context.Context) (audit.Anchor, error)
}

// Opener makes a new, empty database for one test and returns a function
// that opens a store on it. Each call of that function opens another
// instance on the same database (as another process would), closed when
// the test ends.
type Opener func(t *testing.T) func() Store

var ctx = context.Background()

// t0 is the suite's clock: every time is relative to it.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// Run runs the whole suite against the store open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() Store)
	}{
		{"RequestCompareAndSet", testRequestCAS},
		{"RequestByPrefix", testRequestByPrefix},
		{"ListRequests", testListRequests},
		{"DecisionsUnique", testDecisionsUnique},
		{"Grants", testGrants},
		{"CoveringGrants", testCoveringGrants},
		{"Memberships", testMemberships},
		{"LiveGroups", testLiveGroups},
		{"RollbackLeavesNothing", testRollback},
		{"JobClaimOrderAndLimit", testClaimOrder},
		{"JobLease", testLease},
		{"JobLeaseRenewed", testRenew},
		{"JobHolds", testHoldsJob},
		{"JobSkip", testSkip},
		{"JobKeyOrder", testKeyOrder},
		{"JobCoalesce", testCoalesce},
		{"JobDeferRetryFail", testDeferRetryFail},
		{"JobNextRunAt", testNextJobAt},
		{"JobHurry", testHurry},
		{"JobClaimsNeverShared", testClaimsNeverShared},
		{"DeadlineQueries", testDeadlines},
		{"NextDeadline", testNextDeadline},
		{"AuditAppendVerify", testAuditAppend},
		{"AuditSeveralAppenders", testAuditSeveralAppenders},
		{"SharedWritesFailAlone", testSharedFailAlone},
		{"SharedWritePanics", testSharedPanic},
		{"SharedWriteCancelled", testSharedCancelled},
		{"StepsUpdated", testStepsUpdated},           // incidents.go
		{"Filings", testFilings},                     // incidents.go
		{"Delegations", testDelegations},             // incidents.go
		{"BreakGlassReviews", testBreakGlassReviews}, // incidents.go
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func update(t *testing.T, s Store, fn func(tx approvals.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s Store, fn func(tx approvals.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

var errRollback = errors.New("roll back")

func newRequest(id string, state approvals.State) *approvals.Request {
	return &approvals.Request{ID: id, Requester: "alice@example.com", Resource: "wiki", Duration: time.Hour, Reason: "x",
		Rule: "default", Steps: []approvals.Step{{Approvers: []string{"bob@example.com"}, Quorum: 1}}, CorrelationID: "c-" + id,
		State: state, CreatedAt: t0}
}

func insert(t *testing.T, s Store, rs ...*approvals.Request) {
	t.Helper()
	update(t, s, func(tx approvals.Tx) error {
		for _, r := range rs {
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func getRequest(t *testing.T, s Store, id string) *approvals.Request {
	t.Helper()
	var r *approvals.Request
	view(t, s, func(tx approvals.Tx) error {
		var err error
		r, err = tx.GetRequest(id)
		return err
	})
	return r
}

func testRequestCAS(t *testing.T, open func() Store) {
	s := open()
	r := newRequest("r1", approvals.StatePending)
	r.Notify = []string{"#access"}
	r.Ticket, r.Admin, r.AllowSelf, r.AllowRepeat = "IT-1", true, true, true
	r.ExpiresAt, r.RemindAt = t0.Add(24*time.Hour), t0.Add(12*time.Hour)
	insert(t, s, r)
	got := getRequest(t, s, "r1")
	if got.Requester != r.Requester || got.Duration != time.Hour || got.Ticket != "IT-1" || !got.Admin || !got.AllowSelf ||
		!got.AllowRepeat || !got.ExpiresAt.Equal(r.ExpiresAt) || !got.CreatedAt.Equal(t0) || len(got.Steps) != 1 || got.Steps[0].Quorum != 1 ||
		!slices.Equal(got.Notify, r.Notify) || !got.StartsAt.IsZero() || got.Version != 0 {
		t.Fatalf("read back: got %+v, want %+v", got, r)
	}
	stale := *got
	got.State, got.DecidedBy, got.DecidedAt = approvals.StateApproved, "bob@example.com", t0.Add(time.Minute)
	update(t, s, func(tx approvals.Tx) error { return tx.UpdateRequest(got, approvals.StatePending) })
	if got.Version != 1 {
		t.Errorf("version after update: got %d, want 1", got.Version)
	}
	t.Run("ErrConflictOnStaleVersion", func(t *testing.T) {
		stale.State = approvals.StateDeclined
		err := s.Update(ctx, func(tx approvals.Tx) error { return tx.UpdateRequest(&stale, approvals.StatePending) })
		if !errors.Is(err, approvals.ErrConflict) {
			t.Fatalf("got %v, want ErrConflict", err)
		}
	})
	t.Run("ErrConflictOnWrongState", func(t *testing.T) {
		again := getRequest(t, s, "r1")
		again.State = approvals.StateActive
		err := s.Update(ctx, func(tx approvals.Tx) error { return tx.UpdateRequest(again, approvals.StatePending) })
		if !errors.Is(err, approvals.ErrConflict) {
			t.Fatalf("got %v, want ErrConflict", err)
		}
	})
	if final := getRequest(t, s, "r1"); final.State != approvals.StateApproved || final.DecidedBy != "bob@example.com" || final.Version != 1 {
		t.Errorf("stored: got state %s by %q version %d, want approved by bob version 1", final.State, final.DecidedBy, final.Version)
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		err := s.View(ctx, func(tx approvals.Tx) error { _, err := tx.GetRequest("nope"); return err })
		if !errors.Is(err, approvals.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Two instances move one request from one version at once: one wins.
		other := open()
		insert(t, s, newRequest("r2", approvals.StatePending))
		var wins, conflicts int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, st := range []Store{s, other, s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := st.Update(ctx, func(tx approvals.Tx) error {
					r := newRequest("r2", approvals.StatePending) // version 0, as first read
					r.State, r.DecidedBy = approvals.StateApproved, fmt.Sprint("approver", i)
					return tx.UpdateRequest(r, approvals.StatePending)
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, approvals.ErrConflict):
					conflicts++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != 3 {
			t.Fatalf("got %d wins and %d conflicts, want 1 and 3", wins, conflicts)
		}
	})
}

func testRequestByPrefix(t *testing.T, open func() Store) {
	s := open()
	insert(t, s, newRequest("0a1b2c3d-1111-4000-8000-000000000001", approvals.StatePending),
		newRequest("0a1b2c3d-2222-4000-8000-000000000002", approvals.StatePending),
		newRequest("9f8e7d6c-3333-4000-8000-000000000003", approvals.StatePending),
		newRequest("9f8e7d6_-3333-4000-8000-000000000004", approvals.StatePending))
	for _, tc := range []struct{ give, want string }{
		{"9f8e7d6c", "9f8e7d6c-3333-4000-8000-000000000003"},
		{"0a1b2c3d-1", "0a1b2c3d-1111-4000-8000-000000000001"},
		{"0a1b2c3d", ""}, // ambiguous
		{"9f8e7d6", ""},  // shorter than 8
		{"9f8e7d6_", "9f8e7d6_-3333-4000-8000-000000000004"},
		{"ffffffff", ""},
	} {
		var got string
		err := s.View(ctx, func(tx approvals.Tx) error {
			r, err := tx.GetRequest(tc.give)
			if err == nil {
				got = r.ID
			}
			return err
		})
		if tc.want == "" && !errors.Is(err, approvals.ErrNotFound) || tc.want != "" && got != tc.want {
			t.Errorf("GetRequest(%q): got %q, %v; want %q", tc.give, got, err, tc.want)
		}
	}
}

func testListRequests(t *testing.T, open func() Store) {
	s := open()
	a := newRequest("a", approvals.StatePending)
	b := newRequest("b", approvals.StateActive)
	b.CreatedAt = t0.Add(time.Minute)
	c := newRequest("c", approvals.StatePending)
	c.Requester, c.CreatedAt = "carol@example.com", t0.Add(2*time.Minute)
	c.Steps = []approvals.Step{{Approvers: []string{"dave@example.com"}, Quorum: 1}}
	self := newRequest("d", approvals.StatePending)
	self.Requester, self.CreatedAt = "bob@example.com", t0.Add(3*time.Minute)
	// Two steps, both bob's: once he approved the first, the second is
	// not his to decide, unless the rule allows a repeat approver.
	twice := newRequest("e", approvals.StatePending)
	twice.CreatedAt, twice.CurrentStep = t0.Add(4*time.Minute), 1
	twice.Steps = []approvals.Step{{Approvers: []string{"bob@example.com"}, Quorum: 1}, {Approvers: []string{"bob@example.com"}, Quorum: 1}}
	repeat := newRequest("f", approvals.StatePending)
	repeat.CreatedAt, repeat.CurrentStep, repeat.AllowRepeat = t0.Add(5*time.Minute), 1, true
	repeat.Steps = twice.Steps
	insert(t, s, a, b, c, self, twice, repeat)
	update(t, s, func(tx approvals.Tx) error {
		for _, id := range []string{"e", "f"} {
			if err := tx.InsertDecision(&approvals.Decision{RequestID: id, Step: 0, Approver: "bob@example.com", Approve: true, At: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(f approvals.RequestFilter) []string {
		var out []string
		view(t, s, func(tx approvals.Tx) error {
			rs, err := tx.ListRequests(f)
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return err
		})
		return out
	}
	for _, tc := range []struct {
		name string
		give approvals.RequestFilter
		want []string
	}{
		{"All", approvals.RequestFilter{}, []string{"f", "e", "d", "c", "b", "a"}},
		{"Requester", approvals.RequestFilter{Requester: "ALICE@example.com"}, []string{"f", "e", "b", "a"}},
		{"States", approvals.RequestFilter{States: []approvals.State{approvals.StateActive}}, []string{"b"}},
		{"Approver", approvals.RequestFilter{Approver: "bob@example.com"}, []string{"f", "a"}}, // not his own, not twice
		{"Limit", approvals.RequestFilter{Limit: 2}, []string{"f", "e"}},
	} {
		if got := ids(tc.give); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testDecisionsUnique(t *testing.T, open func() Store) {
	s := open()
	insert(t, s, newRequest("r1", approvals.StatePending))
	d := &approvals.Decision{RequestID: "r1", Step: 0, Approver: "bob@example.com", Approve: true, Reason: "ok", At: t0}
	update(t, s, func(tx approvals.Tx) error { return tx.InsertDecision(d) })
	// A second answer is ErrDuplicate, and the transaction goes on: the
	// engine turns it into a sentence and may write more.
	update(t, s, func(tx approvals.Tx) error {
		again := *d
		again.Approve = false
		if err := tx.InsertDecision(&again); !errors.Is(err, approvals.ErrDuplicate) {
			return fmt.Errorf("same step and approver: got %v, want ErrDuplicate", err)
		}
		if err := tx.InsertDecision(&approvals.Decision{RequestID: "r1", Step: 1, Approver: "bob@example.com", Approve: true, At: t0.Add(time.Second)}); err != nil {
			return fmt.Errorf("next step after a duplicate: %w", err)
		}
		return tx.InsertDecision(&approvals.Decision{RequestID: "r1", Step: 0, Approver: "carol@example.com", Approve: false, Reason: "no", At: t0.Add(2 * time.Second)})
	})
	view(t, s, func(tx approvals.Tx) error {
		ds, err := tx.Decisions("r1")
		if err != nil {
			return err
		}
		var got []string
		for _, d := range ds {
			got = append(got, fmt.Sprintf("%d:%s:%v", d.Step, d.Approver, d.Approve))
		}
		if want := []string{"0:bob@example.com:true", "0:carol@example.com:false", "1:bob@example.com:true"}; !slices.Equal(got, want) {
			t.Errorf("decisions: got %v, want %v", got, want)
		}
		if !ds[0].At.Equal(t0) || ds[0].Reason != "ok" {
			t.Errorf("first decision: got %+v", ds[0])
		}
		return nil
	})
	t.Run("Concurrent", func(t *testing.T) {
		other := open()
		var ok, dup int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, st := range []Store{s, other, s, other, s, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := st.Update(ctx, func(tx approvals.Tx) error {
					return tx.InsertDecision(&approvals.Decision{RequestID: "r1", Step: 2, Approver: "erin@example.com", Approve: true, At: t0})
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, approvals.ErrDuplicate):
					dup++
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 1 || dup != 5 {
			t.Fatalf("got %d recorded and %d duplicates, want 1 and 5", ok, dup)
		}
	})
}
