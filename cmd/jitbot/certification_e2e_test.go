package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jonboulle/clockwork"
)

const certE2EPolicy = `directory:
  people:
    - {email: boss@example.com, department: IT, employment: internal}
    - {email: alice@example.com, department: IT, manager: boss@example.com, employment: internal}
    - {email: bert@example.com, department: IT, manager: boss@example.com, employment: internal}
    - {email: cleo@example.com, department: IT, manager: boss@example.com, employment: internal}
resources:
  - {id: jira-admins, provider: jira, group: jira-admins, kind: admin, max_duration: 4h, owners: [boss@example.com]}
rules:
  - {name: all, then: {auto_approve: true, max_duration: 4h}}
certifications:
  - name: admins quarterly
    resources: [jira-admins]
    reviewers: [owner]
    schedule: "0 9 1 1,4,7,10 *"
    answer_within: 14d
    default: keep
    channel: "#it-access-reviews"
`

// TestMain_CertificationInSlack starts jitbot run (in-process, on a fake
// clock) against the local Slack and the local Jira: a campaign over
// jira-admins, whose owner boss is also a member, sends boss one card;
// boss cannot certify himself; his Keep (with a reason), Remove and
// Convert are recorded, the removals reach Jira, the converted person is
// told how to ask just in time, the channel's post counts the outcomes.
func TestMain_CertificationInSlack(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	fake := atlassianfake.New(t, atlassianfake.Options{Now: clock.Now})
	fake.AddGroup("jira-admins")
	for _, p := range []string{"boss", "alice", "bert", "cleo"} {
		fake.AddUser(p + "@example.com")
		fake.SetMember("jira-admins", p+"@example.com", true)
	}
	srv := localslack.New(t, localslack.Options{Now: clock.Now})
	for _, u := range []localslack.User{{ID: "U0BOSS", Name: "boss", Email: "boss@example.com"}, {ID: "U0ALICE", Name: "alice", Email: "alice@example.com"},
		{ID: "U0BERT", Name: "bert", Email: "bert@example.com"}, {ID: "U0CLEO", Name: "cleo", Email: "cleo@example.com"}} {
		srv.AddUser(u)
	}
	srv.AddChannel("C0REVIEWS", "it-access-reviews")

	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(certE2EPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	env := jiraEnv(fake)
	for k, v := range map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL()} {
		env[k] = v
	}
	m := &Main{Config: Config{Policy: pol, DB: filepath.Join(dir, "jitbot.db"), LogLevel: "error", LogFormat: "json"}, Clock: clock,
		Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if !srv.WaitConnections(1, 5*time.Second) {
		t.Fatal("jitbot did not connect over Socket Mode")
	}

	rule, _ := m.Service.Policy().CertRule("admins quarterly")
	camp, err := m.Certify.Start(ctx, rule, certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	_, items, err := m.Certify.Campaign(ctx, camp.ID)
	if err != nil || len(items) != 4 {
		t.Fatalf("items: got %d %v, want 4 standing members", len(items), err)
	}
	byPerson := map[string]*certify.Item{}
	for _, it := range items {
		byPerson[strings.TrimSuffix(it.Person, "@example.com")] = it
	}
	// boss owns the group and is in it: nobody else is named to review
	// him, so his membership falls to IT (the channel).
	if byPerson["boss"].Reviewer != "" || byPerson["alice"].Reviewer != "boss@example.com" {
		t.Fatalf("reviewers: boss %q, alice %q", byPerson["boss"].Reviewer, byPerson["alice"].Reviewer)
	}

	var card localslack.Message
	waitUntil(t, func() bool {
		for _, msg := range srv.DMsTo("U0BOSS") {
			if strings.Contains(msg.AllText(), "Access review: 3 standing memberships") {
				card = msg
				return true
			}
		}
		return false
	})
	for _, p := range []string{"alice", "bert", "cleo"} {
		if !strings.Contains(card.AllText(), p+"@example.com in jira-admins") {
			t.Errorf("boss's card lacks %s:\n%s", p, card.AllText())
		}
	}
	// IT's share is in the channel, with the progress post.
	waitUntil(t, func() bool {
		all := ""
		for _, msg := range srv.Messages("C0REVIEWS") {
			all += msg.AllText()
		}
		return strings.Contains(all, "boss@example.com in jira-admins") && strings.Contains(all, "Access review: admins quarterly")
	})
	// boss clicks Remove on his own line in the channel: refused.
	var itCard localslack.Message
	for _, msg := range srv.Messages("C0REVIEWS") {
		if strings.Contains(msg.AllText(), "boss@example.com in jira-admins") {
			itCard = msg
		}
	}
	if _, err := srv.ClickButton("U0BOSS", itCard.Channel, itCard.TS, "cert_remove."+byPerson["boss"].ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return hasEphemeral(srv, "U0BOSS", "cannot certify your own access") })

	// Keep alice, with a reason.
	if _, err := srv.ClickButton("U0BOSS", card.Channel, card.TS, "cert_keep."+byPerson["alice"].ID); err != nil {
		t.Fatal(err)
	}
	var view localslack.View
	waitUntil(t, func() bool {
		v, ok := srv.LastView("U0BOSS")
		view = v
		return ok
	})
	if ack, err := srv.ViewSubmission("U0BOSS", view.ID, localslack.Values{"reason": {"text": ""}}); err == nil && !strings.Contains(string(ack.Payload), "errors") {
		t.Error("a Keep without a reason was accepted")
	}
	if _, err := srv.ViewSubmission("U0BOSS", view.ID, localslack.Values{"reason": {"text": "on call for the Jira upgrade"}}); err != nil {
		t.Fatal(err)
	}
	// Remove bert; convert cleo.
	if _, err := srv.ClickButton("U0BOSS", card.Channel, card.TS, "cert_remove."+byPerson["bert"].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ClickButton("U0BOSS", card.Channel, card.TS, "cert_convert."+byPerson["cleo"].ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		return !fake.IsMember("jira-admins", "bert@example.com") && !fake.IsMember("jira-admins", "cleo@example.com")
	})
	if !fake.IsMember("jira-admins", "alice@example.com") || !fake.IsMember("jira-admins", "boss@example.com") {
		t.Error("kept and unanswered members must stay")
	}
	waitUntil(t, func() bool {
		msg, _ := srv.Message(card.Channel, card.TS)
		txt := msg.AllText()
		return strings.Contains(txt, "Kept by boss@example.com: “on call for the Jira upgrade”") &&
			strings.Contains(txt, "Remove by boss@example.com: removed.") && strings.Contains(txt, "Converted to just in time by boss@example.com: removed.")
	})
	waitUntil(t, func() bool {
		for _, msg := range srv.DMsTo("U0CLEO") {
			if strings.Contains(msg.AllText(), "/access jira-admins") {
				return true
			}
		}
		return false
	})
	waitUntil(t, func() bool {
		for _, msg := range srv.Messages("C0REVIEWS") {
			if strings.Contains(msg.Text, "4 standing memberships, 1 kept, 2 removed, 1 waiting") {
				return true
			}
		}
		return false
	})
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("Jira saw calls outside its API: %v", v)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("Slack saw calls outside its API: %v", v)
	}
}
