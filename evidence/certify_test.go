package evidence_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/evidence"
	"github.com/jitbot/jitbot/store"
)

// A quarter with a certification campaign: its answers are counted, listed
// in certifications.csv (formula-escaped) with what each removal found,
// and the review controls gain two checks; a Remove not carried out by the
// end of the chain fails the first.
func TestPack_Certifications(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	item := func(id, group string) map[string]string {
		return map[string]string{"campaign_id": "c1", "item_id": id, "rule": "admins", "provider": "jira", "group": group}
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	events := []*approvals.Event{
		{Time: at, Actor: approvals.ActorSystem, Action: certify.ActionStarted, Rule: "admins", Data: map[string]string{"campaign_id": "c1"}},
		{Time: at.Add(time.Hour), Actor: "carol@example.com", Action: certify.ActionAnswered, Subject: "alice@example.com", Rule: "admins",
			Reason: "=HYPERLINK(\"x\") on call", Data: with(item("i1", "jira-admins"), "answer", "keep", "escalated", "false")},
		{Time: at.Add(2 * time.Hour), Actor: "carol@example.com", Action: certify.ActionAnswered, Subject: "dave@example.com", Rule: "admins",
			Data: with(item("i2", "jira-admins"), "answer", "remove")},
		{Time: at.Add(2*time.Hour + time.Minute), Actor: approvals.ActorSystem, Action: certify.ActionRemoved, Subject: "dave@example.com",
			Rule: "admins", Data: with(item("i2", "jira-admins"), "answer", "remove", "outcome", "removed")},
		{Time: at.Add(14 * 24 * time.Hour), Actor: approvals.ActorSystem, Action: certify.ActionDefaulted, Subject: "erin@partner.io",
			Rule: "admins", Data: with(item("i3", "jira-admins"), "answer", "convert", "escalated", "true", "unescalated", "manager")},
	}
	if err := db.Update(context.Background(), func(tx approvals.Tx) error {
		for _, e := range events {
			if err := tx.Append(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p := build(t, db)
	s := p.Stats()
	if p.Campaigns != 1 || s.CertAnswers != 3 || s.CertKept != 1 || s.CertRemoved != 2 || len(s.CertSelf) != 0 {
		t.Fatalf("figures: campaigns %d, answers %d, kept %d, removed %d, self %d", p.Campaigns, s.CertAnswers, s.CertKept, s.CertRemoved, len(s.CertSelf))
	}
	var review evidence.Control
	for _, c := range p.Controls() {
		if c.ID == "sox-review" {
			review = c
		}
	}
	var certified *evidence.Check
	for i, c := range review.Checks {
		if strings.HasPrefix(c.Name, "Standing access was certified") {
			certified = &review.Checks[i]
		}
	}
	if certified == nil || certified.Pass || len(certified.Items) != 1 || !strings.Contains(certified.Items[0], "erin@partner.io") {
		t.Fatalf("the certification check: got %+v, want it failed on erin's Convert, never carried out", certified)
	}
	dir := filepath.Join(t.TempDir(), "q4")
	if err := evidence.Write(dir, p); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, dir, "certifications.csv")
	if got := strings.Join(rows[0], ","); got != "time,campaign_id,item_id,person,rule,provider,group,answer,answered_by,reason,defaulted,escalated,self,outcome,outcome_at,unescalated" {
		t.Errorf("certifications.csv header: %s", got)
	}
	if len(rows) != 4 || rows[1][9] != `'=HYPERLINK("x") on call` || rows[2][13] != "removed" || rows[3][10] != "yes" || rows[3][11] != "yes" || rows[3][15] != "manager" || rows[1][15] != "" {
		t.Errorf("certifications.csv: %q", rows)
	}
	if html := read(t, dir, "index.html"); !strings.Contains(html, "Nobody certified their own standing access") {
		t.Error("index.html lacks the certification checks")
	}
	checkManifest(t, dir)
}
