package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
)

// Conformance of grants, memberships and rollback.

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
