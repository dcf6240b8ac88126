package evidence_test

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/evidence"
	"github.com/jitbot/jitbot/store"
)

// A quarter with three break-glass uses: one acknowledged, one flagged
// (filed on behalf), one nobody reviewed that escalated. The uses are
// listed with their reviews in break-glass.csv and on the page, and the
// privileged-access controls' check fails on the unreviewed one alone.
func TestPack_BreakGlass(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC)
	used := func(t time.Time, id, actor, person, reason string) *approvals.Event {
		return &approvals.Event{Time: t, Actor: actor, Action: approvals.ActionBreakGlassUsed, Subject: person, Resource: "jira-admins",
			RequestID: id, Rule: "incident", Reason: reason, Data: map[string]string{"duration": "30m", "reviewers": "frank@example.com",
				"uses_in_30d": "1", "max_uses": "2"}}
	}
	events := []*approvals.Event{
		used(at, "r1", "dave@example.com", "dave@example.com", "prod is down"),
		{Time: at.Add(2 * time.Hour), Actor: "frank@example.com", Action: approvals.ActionBreakGlassAcknowledged, Subject: "dave@example.com", RequestID: "r1"},
		used(at.Add(24*time.Hour), "r2", "frank@example.com", "alice@example.com", "=cmd|' /C calc'!A0"),
		{Time: at.Add(30 * time.Hour), Actor: "bob@example.com", Action: approvals.ActionBreakGlassFlagged, Subject: "alice@example.com", RequestID: "r2",
			Reason: "no incident that night"},
		used(at.Add(48*time.Hour), "r3", "carol@example.com", "carol@example.com", "db locked"),
		{Time: at.Add(72 * time.Hour), Actor: approvals.ActorSystem, Action: approvals.ActionBreakGlassEscalated, Subject: "carol@example.com", RequestID: "r3"},
		used(period1.Add(time.Hour), "r4", "dave@example.com", "dave@example.com", "after the period"),
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
	if len(p.BreakGlass) != 3 {
		t.Fatalf("%d break-glass uses in the period, want 3: %+v", len(p.BreakGlass), p.BreakGlass)
	}
	if u := p.BreakGlass[1]; u.Filer != "frank@example.com" || u.Review != "flagged" || u.ReviewedBy != "bob@example.com" || u.FlagReason != "no incident that night" {
		t.Errorf("the flagged use: %+v", u)
	}
	if u := p.BreakGlass[2]; u.Review != "" || !u.Escalated {
		t.Errorf("the unreviewed use: %+v", u)
	}
	for _, c := range p.Controls() {
		if c.ID != "iso-a-8-2" && c.ID != "dora-9-4-c" {
			continue
		}
		var check *evidence.Check
		for i := range c.Checks {
			if strings.HasPrefix(c.Checks[i].Name, "Every break-glass use was reviewed") {
				check = &c.Checks[i]
			}
		}
		if check == nil || check.Pass || len(check.Items) != 1 || !strings.Contains(check.Items[0], "carol@example.com") ||
			check.Detail != "3 break-glass uses; 1 acknowledged, 1 flagged, 1 not reviewed" {
			t.Errorf("%s: the break-glass check is %+v, want it failed on carol's use alone", c.ID, check)
		}
	}
	dir := filepath.Join(t.TempDir(), "q4")
	if err := evidence.Write(dir, p); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "break-glass.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || strings.Join(rows[0], ",") != "time,request_id,person,filed_by,resource,rule,reason,duration,reviewers,uses_in_30_days,max_uses,review,reviewed_by,reviewed_at,flag_reason,escalated" {
		t.Fatalf("break-glass.csv: %q", rows)
	}
	if rows[2][6] != "'=cmd|' /C calc'!A0" {
		t.Errorf("a reason beginning with = is not escaped: %q", rows[2][6])
	}
	page := read(t, dir, "index.html")
	if !strings.Contains(page, "flagged by bob@example.com") || !strings.Contains(page, "not reviewed") || strings.Contains(page, "No break-glass access") {
		t.Errorf("the page's break-glass section does not show the uses")
	}
	checkManifest(t, dir)
}
