package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// incidents returns tx's approvals.IncidentTx, failing the test when the
// store has none.
func incidents(t *testing.T, tx approvals.Tx) approvals.IncidentTx {
	t.Helper()
	it, ok := tx.(approvals.IncidentTx)
	if !ok {
		t.Fatalf("%T does not implement approvals.IncidentTx", tx)
	}
	return it
}

// testStepsUpdated: UpdateRequest writes the steps (escalation and
// delegation add approvers to a waiting step).
func testStepsUpdated(t *testing.T, open func() Store) {
	s := open()
	r := newRequest("r1", approvals.StatePending)
	insert(t, s, r)
	r.Steps[0].Approvers = append(r.Steps[0].Approvers, "carol@example.com")
	r.Steps[0].Added = map[string]string{"carol@example.com": approvals.AddedEscalation}
	r.Steps[0].Escalated = true
	update(t, s, func(tx approvals.Tx) error { return tx.UpdateRequest(r, approvals.StatePending) })
	got := getRequest(t, s, "r1")
	if !slices.Equal(got.Steps[0].Approvers, []string{"bob@example.com", "carol@example.com"}) || !got.Steps[0].Escalated ||
		got.Steps[0].Added["carol@example.com"] != approvals.AddedEscalation {
		t.Fatalf("steps after update: %+v", got.Steps[0])
	}
	var list []*approvals.Request
	view(t, s, func(tx approvals.Tx) (err error) {
		list, err = tx.ListRequests(approvals.RequestFilter{Approver: "carol@example.com"})
		return err
	})
	if len(list) != 1 {
		t.Fatalf("carol's waiting requests: got %d, want 1", len(list))
	}
}

func testFilings(t *testing.T, open func() Store) {
	s := open()
	var rs []*approvals.Request
	for i, id := range []string{"r1", "r2", "r3", "r4"} {
		r := newRequest(id, approvals.StateActive)
		r.CreatedAt = t0.Add(time.Duration(i) * 24 * time.Hour)
		rs = append(rs, r)
	}
	insert(t, s, rs...)
	update(t, s, func(tx approvals.Tx) error {
		it := incidents(t, tx)
		for i, r := range rs {
			f := &approvals.Filing{RequestID: r.ID, Requester: r.Requester, BreakGlass: i != 1, CreatedAt: r.CreatedAt}
			if i == 1 {
				f.Filer = "bob@example.com"
			}
			if err := it.InsertFiling(f); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx approvals.Tx) error {
		it := incidents(t, tx)
		f, err := it.GetFiling("r2")
		if err != nil || f.Filer != "bob@example.com" || f.BreakGlass || !f.CreatedAt.Equal(t0.Add(24*time.Hour)) {
			t.Errorf("filing r2: %+v, %v", f, err)
		}
		if _, err := it.GetFiling("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("filing of an unknown request: %v, want ErrNotFound", err)
		}
		for _, c := range []struct {
			since time.Time
			want  int
		}{{t0, 3}, {t0.Add(time.Hour), 2}, {t0.Add(72 * time.Hour), 1}, {t0.Add(73 * time.Hour), 0}} {
			n, err := it.BreakGlassUses("alice@example.com", c.since)
			if err != nil || n != c.want {
				t.Errorf("break-glass uses since %s: %d, %v; want %d", c.since, n, err, c.want)
			}
		}
		if n, _ := it.BreakGlassUses("bob@example.com", t0); n != 0 {
			t.Errorf("bob's break-glass uses: %d, want 0", n)
		}
		return nil
	})
}

func testDelegations(t *testing.T, open func() Store) {
	s := open()
	update(t, s, func(tx approvals.Tx) error {
		it := incidents(t, tx)
		if err := it.PutDelegation(&approvals.Delegation{Person: "bob@example.com", Delegate: "carol@example.com", Until: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
			return err
		}
		if err := it.PutDelegation(&approvals.Delegation{Person: "dave@example.com", Delegate: "carol@example.com", Until: t0.Add(2 * time.Hour), CreatedAt: t0}); err != nil {
			return err
		}
		// Replaced, not added.
		return it.PutDelegation(&approvals.Delegation{Person: "bob@example.com", Delegate: "erin@example.com", Until: t0.Add(3 * time.Hour), CreatedAt: t0})
	})
	view(t, s, func(tx approvals.Tx) error {
		it := incidents(t, tx)
		d, err := it.DelegationOf("bob@example.com")
		if err != nil || d.Delegate != "erin@example.com" || !d.Until.Equal(t0.Add(3*time.Hour)) {
			t.Errorf("bob's delegation: %+v, %v", d, err)
		}
		ds, err := it.DelegationsTo("carol@example.com")
		if err != nil || len(ds) != 1 || ds[0].Person != "dave@example.com" {
			t.Errorf("delegations to carol: %+v, %v", ds, err)
		}
		return nil
	})
	update(t, s, func(tx approvals.Tx) error { return incidents(t, tx).DeleteDelegation("bob@example.com") })
	view(t, s, func(tx approvals.Tx) error {
		if _, err := incidents(t, tx).DelegationOf("bob@example.com"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("bob's delegation after delete: %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testBreakGlassReviews(t *testing.T, open func() Store) {
	s := open()
	insert(t, s, newRequest("r1", approvals.StateActive))
	v := &approvals.BreakGlassReview{RequestID: "r1", Reviewers: []string{"dave@example.com"}, State: approvals.BreakGlassOpen, DueAt: t0.Add(24 * time.Hour)}
	update(t, s, func(tx approvals.Tx) error { return incidents(t, tx).InsertBreakGlassReview(v) })
	stale := *v
	v.State, v.AnsweredBy, v.Reason, v.AnsweredAt = approvals.BreakGlassFlagged, "dave@example.com", "no incident that night", t0.Add(time.Hour)
	update(t, s, func(tx approvals.Tx) error { return incidents(t, tx).UpdateBreakGlassReview(v) })
	if v.Version != 1 {
		t.Errorf("version after update: %d, want 1", v.Version)
	}
	stale.State = approvals.BreakGlassAcknowledged
	err := s.Update(ctx, func(tx approvals.Tx) error { return incidents(t, tx).UpdateBreakGlassReview(&stale) })
	if !errors.Is(err, approvals.ErrConflict) {
		t.Errorf("stale update: %v, want ErrConflict", err)
	}
	view(t, s, func(tx approvals.Tx) error {
		got, err := incidents(t, tx).GetBreakGlassReview("r1")
		if err != nil || got.State != approvals.BreakGlassFlagged || got.Reason != "no incident that night" ||
			!got.DueAt.Equal(t0.Add(24*time.Hour)) || !slices.Equal(got.Reviewers, []string{"dave@example.com"}) {
			t.Errorf("review: %+v, %v", got, err)
		}
		if _, err := incidents(t, tx).GetBreakGlassReview("r2"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("review of a request without one: %v, want ErrNotFound", err)
		}
		return nil
	})
}
