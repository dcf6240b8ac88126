package main

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/postgres"
)

// foldedTables are the tables of issues 24 (directory), 25
// (certifications) and 26 (incidents), which seedFolded fills.
var foldedTables = []string{"request_filings", "delegations", "breakglass_reviews", "directory_people", "directory_state",
	"cert_schedule", "cert_campaigns", "cert_items", "standing_seen"}

// seedFolded writes a row in each of foldedTables of the SQLite file at
// path, a seeded installation, through the store: every flag set, so that
// a copy that lost SQLite's integer booleans would show.
func seedFolded(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, path, store.Options{})
	must(t, err)
	defer db.Close()
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	must(t, db.Update(ctx, func(atx approvals.Tx) error {
		tx := atx.(*store.Tx)
		rs, err := tx.ListRequests(approvals.RequestFilter{})
		if err != nil || len(rs) == 0 {
			t.Fatalf("the seed has no request: %v", err)
		}
		id := rs[0].ID
		must(t, tx.InsertFiling(&approvals.Filing{RequestID: id, Requester: rs[0].Requester, Filer: "bob@example.com", BreakGlass: true, CreatedAt: at}))
		must(t, tx.PutDelegation(&approvals.Delegation{Person: "bob@example.com", Delegate: "carol@example.com", Until: at.Add(time.Hour), CreatedAt: at}))
		must(t, tx.InsertBreakGlassReview(&approvals.BreakGlassReview{RequestID: id, Reviewers: []string{"carol@example.com"},
			State: approvals.BreakGlassOpen, DueAt: at.Add(time.Hour), Escalated: true}))
		must(t, tx.SetNextCampaign("admins", "quarterly", at.Add(90*24*time.Hour)))
		must(t, tx.InsertCampaign(&certify.Campaign{ID: "cmp-00000001", Rule: "admins", State: certify.CampaignOpen, Trigger: "cli",
			StartedAt: at, AnswerBy: at.Add(7 * 24 * time.Hour)}))
		_, err = tx.InsertCertItems([]*certify.Item{{ID: "itm-00000001", CampaignID: "cmp-00000001", Rule: "admins", Resource: "jira-admins",
			Provider: "atlassian", Group: "jira-admins", Person: "alice@example.com", Reviewer: "bob@example.com", State: certify.ItemPending,
			Defaulted: true, Escalated: true, EverJIT: true, Standing: true, InDirectory: true, MemberSince: at, AnswerBy: at.Add(time.Hour)}})
		must(t, err)
		return tx.MarkStandingSeen("atlassian", "jira-admins", []string{"alice@example.com"}, at)
	}))
	people := []directory.Person{{Person: policies.Person{Email: "alice@example.com", Department: "Finance", Employment: "internal"},
		Sources: map[string]string{"department": "okta"}, Suspended: true, IDs: "okta=00u1"}}
	must(t, db.SaveDirectory(ctx, people, []string{"alice@example.com"}, nil, at))
}

// foldedRows reads back what seedFolded wrote, from either engine.
func foldedRows(t *testing.T, db interface {
	approvals.Store
	certify.Store
	directory.Store
}) []any {
	t.Helper()
	ctx := context.Background()
	var out []any
	must(t, db.View(ctx, func(atx approvals.Tx) error {
		tx := atx.(approvals.IncidentTx)
		rs, err := atx.ListRequests(approvals.RequestFilter{})
		must(t, err)
		f, err := tx.GetFiling(rs[0].ID)
		must(t, err)
		d, err := tx.DelegationOf("bob@example.com")
		must(t, err)
		v, err := tx.GetBreakGlassReview(rs[0].ID)
		must(t, err)
		out = append(out, f, d, v)
		return nil
	}))
	must(t, db.ViewCert(ctx, func(tx certify.Tx) error {
		spec, next, ok, err := tx.NextCampaign("admins")
		must(t, err)
		cs, err := tx.Campaigns(certify.CampaignFilter{})
		must(t, err)
		items, err := tx.CertItems(certify.ItemFilter{})
		must(t, err)
		seen, err := tx.StandingSeen("atlassian", "jira-admins")
		must(t, err)
		out = append(out, spec, next, ok, cs, items, seen)
		return nil
	}))
	people, at, err := db.Directory(ctx)
	must(t, err)
	return append(out, people, at)
}

// checkFolded compares the folded tables of the SQLite source and the
// PostgreSQL copy, row for row.
func checkFolded(t *testing.T, path, url string) {
	t.Helper()
	ctx := context.Background()
	src, err := store.Open(ctx, path, store.Options{})
	must(t, err)
	defer src.Close()
	dst, err := postgres.Open(ctx, url, postgres.Options{})
	must(t, err)
	defer dst.Close()
	want, got := foldedRows(t, src), foldedRows(t, dst)
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("copied row %d: PostgreSQL reads %+v, SQLite %+v", i, got[i], want[i])
		}
	}
}
