package main

import (
	"strings"
	"testing"
)

// The playground starts a certification campaign from its review panel:
// the example policy's admin groups have standing members (IT and the
// owners), and the reviewers' cards arrive in their DMs in the local Slack.
func TestPlayground_Campaign(t *testing.T) {
	url, _ := startPlayground(t, "--start", "2026-12-08T10:00:00Z")
	g := pg{t: t, url: url}
	g.post("api/clock", `{"running": false}`)
	if panel := g.parts("U0BOB", "D0BOB")["review"]; !strings.Contains(panel, "Start the admin groups quarterly campaign now") {
		t.Fatalf("the review panel has no campaign button:\n%s", panel)
	}
	g.post("api/review", `{"rule": "certification:admin groups quarterly"}`)
	// carol owns confluence-finance: she reviews dave there; bob, as
	// manager, reviews carol herself and dave in jira-admins (no owner).
	g.waitMain("carol's card", "U0CAROL", "D0CAROL", "dave@example.com in confluence-finance")
	g.waitMain("bob's card", "U0BOB", "D0BOB", "carol@example.com in confluence-finance")
	g.waitMain("bob's card", "U0BOB", "D0BOB", "dave@example.com in jira-admins")
	if strings.Contains(g.main("U0CAROL", "D0CAROL"), "carol@example.com in confluence-finance") {
		t.Error("carol was asked about her own membership")
	}
}
