package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/review"
)

// CertStore is what the certification suite needs of a store.
type CertStore interface {
	Store
	certify.Store
	review.Store
}

// RunCertify runs the certifications' part of the contract (package
// certify's Tx) against the store open makes: the schedule, campaigns and
// items as compare-and-set, items inserted once per membership, the due
// queries, and the facts a campaign reads (first seen, ever granted, last
// active).
func RunCertify(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s CertStore)
	}{
		{"Schedule", testCertSchedule},
		{"Campaigns", testCertCampaigns},
		{"Items", testCertItems},
		{"Due", testCertDue},
		{"Facts", testCertFacts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := open(t)().(CertStore)
			if !ok {
				t.Fatal("the store does not implement certify.Store and review.Store")
			}
			tt.fn(t, s)
		})
	}
}

func certUpdate(t *testing.T, s CertStore, fn func(tx certify.Tx) error) {
	t.Helper()
	if err := s.UpdateCert(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func certView(t *testing.T, s CertStore, fn func(tx certify.Tx) error) {
	t.Helper()
	if err := s.ViewCert(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func testCertSchedule(t *testing.T, s CertStore) {
	certView(t, s, func(tx certify.Tx) error {
		if _, _, ok, err := tx.NextCampaign("admins"); ok || err != nil {
			t.Errorf("NextCampaign before any: got ok=%v err=%v, want none", ok, err)
		}
		return nil
	})
	certUpdate(t, s, func(tx certify.Tx) error { return tx.SetNextCampaign("admins", "@daily", t0) })
	certUpdate(t, s, func(tx certify.Tx) error { return tx.SetNextCampaign("admins", "@weekly", t0.Add(time.Hour)) })
	certView(t, s, func(tx certify.Tx) error {
		spec, at, ok, err := tx.NextCampaign("admins")
		if !ok || err != nil || spec != "@weekly" || !at.Equal(t0.Add(time.Hour)) {
			t.Errorf("NextCampaign: got %q %s %v %v, want @weekly at t0+1h", spec, at, ok, err)
		}
		return nil
	})
}

func campaign(id, rule string, at time.Time) *certify.Campaign {
	return &certify.Campaign{ID: id, Rule: rule, State: certify.CampaignBuilding, Trigger: "cli", StartedAt: at, AnswerBy: at.Add(14 * 24 * time.Hour)}
}

func testCertCampaigns(t *testing.T, s CertStore) {
	a := campaign("aaaaaaaa-0000-0000-0000-000000000001", "admins", t0)
	b := campaign("bbbbbbbb-0000-0000-0000-000000000002", "admins", t0.Add(time.Hour))
	c := campaign("cccccccc-0000-0000-0000-000000000003", "finance", t0.Add(2*time.Hour))
	certUpdate(t, s, func(tx certify.Tx) error {
		for _, x := range []*certify.Campaign{a, b, c} {
			if err := tx.InsertCampaign(x); err != nil {
				return err
			}
		}
		return nil
	})
	certUpdate(t, s, func(tx certify.Tx) error {
		got, err := tx.GetCampaign("bbbbbbbb")
		if err != nil || got.ID != b.ID || !got.AnswerBy.Equal(b.AnswerBy) {
			t.Errorf("GetCampaign by prefix: got %+v %v", got, err)
		}
		got.State = certify.CampaignOpen
		if err := tx.UpdateCampaign(got, certify.CampaignBuilding); err != nil {
			return err
		}
		stale := *b
		stale.State = certify.CampaignClosed
		if err := tx.UpdateCampaign(&stale, certify.CampaignBuilding); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("UpdateCampaign from a stale state: got %v, want ErrConflict", err)
		}
		if _, err := tx.GetCampaign("nope-nope-nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("GetCampaign(unknown): got %v, want ErrNotFound", err)
		}
		return nil
	})
	certView(t, s, func(tx certify.Tx) error {
		all, err := tx.Campaigns(certify.CampaignFilter{})
		if err != nil || len(all) != 3 || all[0].ID != c.ID || all[2].ID != a.ID {
			t.Errorf("Campaigns: got %d %v, want 3 newest first", len(all), err)
		}
		building, err := tx.Campaigns(certify.CampaignFilter{Rule: "admins", States: []certify.CampaignState{certify.CampaignBuilding}})
		if err != nil || len(building) != 1 || building[0].ID != a.ID {
			t.Errorf("Campaigns(admins, building): got %v %v, want a", building, err)
		}
		return nil
	})
}

func certItem(id, campaignID, group, person string) *certify.Item {
	return &certify.Item{ID: id, CampaignID: campaignID, Rule: "admins", Resource: group, Provider: "jira", Group: group,
		Person: person, Reviewer: "bob@example.com", State: certify.ItemPending, AnswerBy: t0.Add(14 * 24 * time.Hour),
		EscalateAt: t0.Add(7 * 24 * time.Hour), MemberSince: t0.Add(-time.Hour), EverJIT: true, InDirectory: true}
}

func testCertItems(t *testing.T, s CertStore) {
	c := campaign("c1000000-0000-0000-0000-000000000000", "admins", t0)
	i1 := certItem("i1000000-0000-0000-0000-000000000000", c.ID, "jira-admins", "zoe@example.com")
	i2 := certItem("i2000000-0000-0000-0000-000000000000", c.ID, "jira-admins", "alice@example.com")
	i3 := certItem("i3000000-0000-0000-0000-000000000000", c.ID, "jira-admins", "alice@example.com") // the same membership
	i3.Reviewer = "carol@example.com"
	certUpdate(t, s, func(tx certify.Tx) error {
		if err := tx.InsertCampaign(c); err != nil {
			return err
		}
		ins, err := tx.InsertCertItems([]*certify.Item{i1, i2, i3})
		if err != nil {
			return err
		}
		if !ins[0] || !ins[1] || ins[2] {
			t.Errorf("InsertCertItems: got %v, want [true true false] (one item per membership)", ins)
		}
		return nil
	})
	certUpdate(t, s, func(tx certify.Tx) error {
		got, err := tx.GetCertItem("i2000000")
		if err != nil {
			return err
		}
		if got.Person != "alice@example.com" || !got.EverJIT || got.Standing || !got.InDirectory || !got.MemberSince.Equal(t0.Add(-time.Hour)) {
			t.Errorf("GetCertItem: got %+v", got)
		}
		got.State, got.Answer, got.Reason, got.DecidedBy, got.DecidedAt = certify.ItemKept, "keep", "on call", "bob@example.com", t0
		got.Escalated, got.Unescalated = true, "manager: bob@example.com has no manager in the directory"
		if err := tx.UpdateCertItem(got, certify.ItemPending); err != nil {
			return err
		}
		if got.Version != 1 {
			t.Errorf("version after an update: got %d, want 1", got.Version)
		}
		stale := *i2
		stale.State = certify.ItemRemoving
		if err := tx.UpdateCertItem(&stale, certify.ItemPending); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("a second answer: got %v, want ErrConflict", err)
		}
		return nil
	})
	certView(t, s, func(tx certify.Tx) error {
		all, err := tx.CertItems(certify.ItemFilter{CampaignID: c.ID})
		if err != nil || len(all) != 2 || all[0].Person != "alice@example.com" {
			t.Errorf("CertItems: got %d %v, want 2 by person", len(all), err)
		}
		if all[0].Reason != "on call" || !all[0].DecidedAt.Equal(t0) || !all[0].Escalated ||
			all[0].Unescalated != "manager: bob@example.com has no manager in the directory" {
			t.Errorf("the answer was not stored: %+v", all[0])
		}
		bob := "bob@example.com"
		pending, err := tx.CertItems(certify.ItemFilter{Reviewer: &bob, States: []certify.ItemState{certify.ItemPending}})
		if err != nil || len(pending) != 1 || pending[0].ID != i1.ID {
			t.Errorf("CertItems(bob, pending): got %v %v, want i1", pending, err)
		}
		return nil
	})
}

func testCertDue(t *testing.T, s CertStore) {
	c := campaign("d1000000-0000-0000-0000-000000000000", "admins", t0)
	a := certItem("da000000-0000-0000-0000-000000000000", c.ID, "g", "a@example.com")
	b := certItem("db000000-0000-0000-0000-000000000000", c.ID, "g", "b@example.com")
	b.Escalated = true
	certUpdate(t, s, func(tx certify.Tx) error {
		if err := tx.InsertCampaign(c); err != nil {
			return err
		}
		_, err := tx.InsertCertItems([]*certify.Item{a, b})
		return err
	})
	due := func(at time.Time) []string {
		var ids []string
		certView(t, s, func(tx certify.Tx) error {
			its, err := tx.DueCertItems(at, 10)
			for _, it := range its {
				ids = append(ids, it.Person)
			}
			return err
		})
		return ids
	}
	if got := due(t0); len(got) != 0 {
		t.Errorf("due at t0: got %v, want none", got)
	}
	if got := due(t0.Add(7 * 24 * time.Hour)); len(got) != 1 || got[0] != "a@example.com" {
		t.Errorf("due halfway: got %v, want a (b was escalated)", got)
	}
	if got := due(t0.Add(14 * 24 * time.Hour)); len(got) != 2 {
		t.Errorf("due at the end: got %v, want both", got)
	}
	certView(t, s, func(tx certify.Tx) error {
		at, ok, err := tx.NextCertDeadline()
		if err != nil || !ok || !at.Equal(t0.Add(7*24*time.Hour)) {
			t.Errorf("NextCertDeadline: got %s %v %v, want t0+7d", at, ok, err)
		}
		return nil
	})
}

func testCertFacts(t *testing.T, s CertStore) {
	certUpdate(t, s, func(tx certify.Tx) error {
		if err := tx.MarkStandingSeen("jira", "g", []string{"a@example.com", "b@example.com"}, t0); err != nil {
			return err
		}
		return tx.MarkStandingSeen("jira", "g", []string{"a@example.com"}, t0.Add(time.Hour))
	})
	insert(t, s, newRequest("r1", approvals.StateActive))
	insertGrants(t, s, grant("g1", "r1", "alice@example.com", "g", approvals.GrantEnded))
	if err := s.UpdateReview(ctx, func(tx review.Tx) error {
		_, err := tx.PutUsers([]review.DirectoryUser{{AccountID: "acc-a", Email: "a@example.com", Products: []review.ProductActivity{
			{Key: "confluence", LastActive: t0.Add(-48 * time.Hour)}, {Key: "jira-software", LastActive: t0.Add(-24 * time.Hour)}}}}, t0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	certView(t, s, func(tx certify.Tx) error {
		seen, err := tx.StandingSeen("jira", "g")
		if err != nil || len(seen) != 2 || !seen["a@example.com"].Equal(t0) {
			t.Errorf("StandingSeen: got %v %v, want both at t0 (the first time)", seen, err)
		}
		ever, err := tx.EverGranted("jira", "g")
		if err != nil || !ever["alice@example.com"] || len(ever) != 1 {
			t.Errorf("EverGranted: got %v %v, want alice", ever, err)
		}
		last, err := tx.LastActive([]string{"a@example.com", "nobody@example.com"})
		if err != nil || len(last) != 1 || !last["a@example.com"].Equal(t0.Add(-24*time.Hour)) {
			t.Errorf("LastActive: got %v %v, want a at t0-24h", last, err)
		}
		return nil
	})
}
