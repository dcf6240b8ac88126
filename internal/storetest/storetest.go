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
	"strings"
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

func grant(id, req, person, group string, state approvals.GrantState) *approvals.Grant {
	return &approvals.Grant{ID: id, RequestID: req, Person: person, Resource: group, Provider: "jira", Group: group,
		State: state, CreatedAt: t0, UpdatedAt: t0}
}

func insertGrants(t *testing.T, s Store, gs ...*approvals.Grant) {
	t.Helper()
	update(t, s, func(tx approvals.Tx) error {
		for _, g := range gs {
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
}

func testGrants(t *testing.T, open func() Store) {
	s := open()
	insert(t, s, newRequest("r1", approvals.StateApproved))
	insertGrants(t, s, grant("g2", "r1", "alice@example.com", "wiki", approvals.GrantProvisioning),
		grant("g1", "r1", "alice@example.com", "jira-admins", approvals.GrantProvisioning))
	var g *approvals.Grant
	view(t, s, func(tx approvals.Tx) error {
		gs, err := tx.GrantsOf("r1")
		if err != nil {
			return err
		}
		if len(gs) != 2 || gs[0].Resource != "jira-admins" || gs[1].Resource != "wiki" {
			t.Errorf("GrantsOf: got %v, want jira-admins then wiki", gs)
		}
		g, err = tx.GetGrant("g2")
		return err
	})
	if g.Person != "alice@example.com" || g.Group != "wiki" || g.State != approvals.GrantProvisioning || !g.CreatedAt.Equal(t0) {
		t.Fatalf("GetGrant: got %+v", g)
	}
	g.State, g.Standing, g.Note, g.UpdatedAt = approvals.GrantActive, true, "standing", t0.Add(time.Second)
	update(t, s, func(tx approvals.Tx) error { return tx.UpdateGrant(g, approvals.GrantProvisioning) })
	err := s.Update(ctx, func(tx approvals.Tx) error { return tx.UpdateGrant(g, approvals.GrantProvisioning) })
	if !errors.Is(err, approvals.ErrConflict) {
		t.Errorf("UpdateGrant from a state it left: got %v, want ErrConflict", err)
	}
	view(t, s, func(tx approvals.Tx) error {
		got, err := tx.GetGrant("g2")
		if err == nil && (got.State != approvals.GrantActive || !got.Standing || got.Note != "standing" || !got.UpdatedAt.Equal(t0.Add(time.Second))) {
			t.Errorf("after UpdateGrant: got %+v", got)
		}
		if _, err := tx.GetGrant("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("GetGrant(nope): got %v, want ErrNotFound", err)
		}
		return err
	})
	// A request is live while any of its grants is provisioning, active or
	// revoking; once all have ended or failed it is not.
	live := func() bool {
		var got bool
		view(t, s, func(tx approvals.Tx) error {
			var err error
			got, err = tx.RequestLive("r1")
			return err
		})
		return got
	}
	for _, step := range []struct {
		id   string
		from approvals.GrantState
		to   approvals.GrantState
		want bool
	}{
		{"g2", approvals.GrantActive, approvals.GrantRevoking, true}, // g1 provisioning, g2 revoking
		{"g1", approvals.GrantProvisioning, approvals.GrantFailed, true},
		{"g2", approvals.GrantRevoking, approvals.GrantEnded, false},
	} {
		update(t, s, func(tx approvals.Tx) error {
			g, err := tx.GetGrant(step.id)
			if err != nil {
				return err
			}
			g.State = step.to
			return tx.UpdateGrant(g, step.from)
		})
		if got := live(); got != step.want {
			t.Errorf("RequestLive after %s became %s: got %v, want %v", step.id, step.to, got, step.want)
		}
	}
	view(t, s, func(tx approvals.Tx) error {
		if got, err := tx.RequestLive("nope"); err != nil || got {
			t.Errorf("RequestLive of a request without grants: %v %v, want false", got, err)
		}
		return nil
	})
}

func testCoveringGrants(t *testing.T, open func() Store) {
	s := open()
	insert(t, s, newRequest("r1", approvals.StateActive), newRequest("r2", approvals.StateActive), newRequest("r3", approvals.StateExpired))
	insertGrants(t, s,
		grant("g1", "r1", "alice@example.com", "wiki", approvals.GrantActive),
		grant("g2", "r2", "alice@example.com", "wiki", approvals.GrantProvisioning),
		grant("g3", "r3", "alice@example.com", "wiki", approvals.GrantEnded),
		grant("g4", "r1", "alice@example.com", "other", approvals.GrantActive),
		grant("g5", "r2", "bob@example.com", "wiki", approvals.GrantRevoking),
	)
	m := approvals.Membership{Provider: "jira", Group: "wiki", Person: "alice@example.com"}
	view(t, s, func(tx approvals.Tx) error {
		gs, err := tx.CoveringGrants(m, "g1")
		if err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].ID != "g2" {
			t.Errorf("CoveringGrants(not g1): got %v, want g2 only", gs)
		}
		gs, err = tx.CoveringGrants(m, "g3")
		if err != nil {
			return err
		}
		if len(gs) != 2 {
			t.Errorf("CoveringGrants(not g3): got %d, want g1 and g2", len(gs))
		}
		live, err := tx.LiveGrants("jira", "wiki")
		if err != nil {
			return err
		}
		var ids []string
		for _, g := range live {
			ids = append(ids, g.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"g1", "g2"}) {
			t.Errorf("LiveGrants: got %v, want g1 g2", ids)
		}
		for who, want := range map[string]bool{"alice@example.com": false, "bob@example.com": true} {
			got, err := tx.Revoking(approvals.Membership{Provider: "jira", Group: "wiki", Person: who})
			if err != nil {
				return err
			}
			if got != want {
				t.Errorf("Revoking(%s in wiki): %v, want %v", who, got, want)
			}
		}
		return nil
	})
}

// The groups jitbot still has business in are those of live grants and of
// membership records, whatever the policy says now; a group whose grants
// all ended (or are ending: the record stands for the removal) is not.
func testLiveGroups(t *testing.T, open func() Store) {
	s := open()
	insert(t, s, newRequest("r1", approvals.StateActive))
	tools := grant("g3", "r1", "alice@example.com", "tools", approvals.GrantProvisioning)
	tools.Provider = "dryrun"
	insertGrants(t, s, grant("g1", "r1", "alice@example.com", "wiki", approvals.GrantActive),
		grant("g1b", "r1", "bob@example.com", "wiki", approvals.GrantActive),
		grant("g2", "r1", "alice@example.com", "gone", approvals.GrantEnded), tools,
		grant("g4", "r1", "alice@example.com", "ending", approvals.GrantRevoking))
	update(t, s, func(tx approvals.Tx) error {
		for _, rec := range []approvals.MembershipRecord{
			{Membership: approvals.Membership{Provider: "jira", Group: "legacy", Person: "bob@example.com"}, Origin: approvals.OriginBot, Since: t0},
			{Membership: approvals.Membership{Provider: "jira", Group: "wiki", Person: "alice@example.com"}, Origin: approvals.OriginBot, Since: t0},
			{Membership: approvals.Membership{Provider: "atlassian-admin", Group: "Admins", Person: "carol@example.com"}, Origin: approvals.OriginStanding, Since: t0},
		} {
			if _, err := tx.InsertMembership(&rec); err != nil {
				return err
			}
		}
		return nil
	})
	var got []approvals.GroupRef
	view(t, s, func(tx approvals.Tx) error {
		var err error
		got, err = tx.LiveGroups()
		return err
	})
	want := []approvals.GroupRef{{Provider: "atlassian-admin", Group: "Admins"}, {Provider: "dryrun", Group: "tools"},
		{Provider: "jira", Group: "legacy"}, {Provider: "jira", Group: "wiki"}}
	if !slices.Equal(got, want) {
		t.Errorf("LiveGroups: got %v, want %v", got, want)
	}
}

func testMemberships(t *testing.T, open func() Store) {
	s := open()
	m := approvals.Membership{Provider: "jira", Group: "wiki", Person: "alice@example.com"}
	view(t, s, func(tx approvals.Tx) error {
		if _, err := tx.GetMembership(m); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("before: got %v, want ErrNotFound", err)
		}
		return nil
	})
	update(t, s, func(tx approvals.Tx) error {
		for i, give := range []struct {
			rec  approvals.MembershipRecord
			want bool
		}{
			{approvals.MembershipRecord{Membership: m, Origin: approvals.OriginBot, Since: t0}, true},
			{approvals.MembershipRecord{Membership: approvals.Membership{Provider: "jira", Group: "wiki", Person: "aaron@example.com"},
				Origin: approvals.OriginStanding, Since: t0}, true},
			// Insert-or-nothing: a record is never overwritten.
			{approvals.MembershipRecord{Membership: m, Origin: approvals.OriginStanding, Since: t0.Add(time.Hour)}, false},
		} {
			got, err := tx.InsertMembership(&give.rec)
			if err != nil {
				return err
			}
			if got != give.want {
				t.Errorf("insert %d: got inserted=%v, want %v", i, got, give.want)
			}
		}
		return nil
	})
	view(t, s, func(tx approvals.Tx) error {
		rec, err := tx.GetMembership(m)
		if err != nil {
			return err
		}
		if rec.Origin != approvals.OriginBot || !rec.Since.Equal(t0) {
			t.Errorf("after inserting twice: got %+v, want the first record", rec)
		}
		all, err := tx.Memberships("jira", "wiki")
		if err != nil {
			return err
		}
		if len(all) != 2 || all[0].Person != "aaron@example.com" || all[1].Person != "alice@example.com" {
			t.Errorf("Memberships: got %v", all)
		}
		return nil
	})
	update(t, s, func(tx approvals.Tx) error { return tx.DeleteMembership(m) })
	update(t, s, func(tx approvals.Tx) error { return tx.DeleteMembership(m) }) // deleting twice is fine
	view(t, s, func(tx approvals.Tx) error {
		if _, err := tx.GetMembership(m); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("after delete: got %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testRollback(t *testing.T, open func() Store) {
	s := open()
	err := s.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(newRequest("r1", approvals.StatePending)); err != nil {
			return err
		}
		if err := tx.EnqueueJob(&approvals.Job{Kind: approvals.JobNotify, Lane: approvals.LaneMessage, RunAt: t0}); err != nil {
			return err
		}
		if err := tx.Append(&approvals.Event{Time: t0, Actor: "system", Action: "test"}); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("got %v, want the callback's error", err)
	}
	view(t, s, func(tx approvals.Tx) error {
		if _, err := tx.GetRequest("r1"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("request after rollback: got %v, want ErrNotFound", err)
		}
		return nil
	})
	if h, err := s.Head(ctx); err != nil || h.Seq != 0 || h.Hash != audit.GenesisHash {
		t.Errorf("head after rollback: got %+v, %v; want the genesis", h, err)
	}
	if got := claim(t, s, approvals.LaneMessage, t0, 10, "w", nil); len(got) != 0 {
		t.Errorf("jobs after rollback: got %d, want none", len(got))
	}
	// The chain goes on from the genesis.
	update(t, s, func(tx approvals.Tx) error {
		return tx.Append(&approvals.Event{Time: t0, Actor: "system", Action: "test"})
	})
	if h, _ := s.Head(ctx); h.Seq != 1 {
		t.Errorf("first event after rollback: seq %d, want 1", h.Seq)
	}
}

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
