package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/review"
	"github.com/jonboulle/clockwork"
)

// TestMain_ReviewInSlack starts jitbot run (in-process, on a fake clock)
// against the local Slack and the local Admin API: the employees rule
// asks boss about alice only, boss's Suspend reaches the Admin API's v2
// suspend and the card says what happened, the digest is posted with its
// chart and CSV, and IT's /access restore brings alice back.
func TestMain_ReviewInSlack(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := clockwork.NewFakeClockAt(start)
	fake := atlassianfake.New(t, atlassianfake.Options{Now: clock.Now})
	for _, g := range []string{"staff", "design"} {
		fake.AddGroup(g)
	}
	put := func(email string, idle time.Duration) {
		fake.PutUser(atlassianfake.User{Email: email, Name: strings.Split(email, "@")[0], Active: true, AddedToOrg: start.Add(-300 * e2eDay),
			Products: []atlassianfake.Product{{Key: "jira-software", LastActive: start.Add(-idle)}, {Key: "confluence"}}})
	}
	put("boss@example.com", 0)
	put("it@example.com", 0)
	put("alice@example.com", 40*e2eDay)
	fake.SetMember("staff", "alice@example.com", true)
	fake.SetMember("design", "alice@example.com", true)

	srv := localslack.New(t, localslack.Options{Now: clock.Now})
	for _, u := range []localslack.User{{ID: "U0BOSS", Name: "boss", RealName: "The Boss", Email: "boss@example.com"},
		{ID: "U0ALICE", Name: "alice", RealName: "Alice", Email: "alice@example.com"},
		{ID: "U0IT", Name: "it", RealName: "IT person", Email: "it@example.com"}} {
		srv.AddUser(u)
	}
	srv.AddUserGroup("S0IT", "it", "U0IT")
	srv.AddChannel("C0LICENCES", "it-licences")

	o := fake.Options()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(strings.Replace(e2ePolicy, "  people:\n", "  people:\n    - {email: it@example.com, department: IT, employment: internal}\n", 1)), 0o600)
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL(),
		"JITBOT_IT_GROUP": "it", "ATLASSIAN_API_URL": fake.URL(), "ATLASSIAN_ORG_ID": o.OrgID, "ATLASSIAN_ADMIN_API_KEY": o.APIKey,
		"ATLASSIAN_DIRECTORY_ID": o.Directory}
	m := &Main{Config: Config{Policy: pol, DB: filepath.Join(dir, "jitbot.db"), LogLevel: "error", LogFormat: "json"}, Clock: clock,
		Getenv: func(k string) string { return env[k] }, Providers: map[string]approvals.Provisioner{provisioner.NameAtlassianAdmin: provisioner.NewDryRun(nil, nil)}}
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

	if _, err := m.Review.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rule, _ := m.Review.Policy().Review.Rule("employees")
	run, err := m.Review.RunReview(ctx, rule, review.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	its, _ := m.Review.Items(ctx, review.ItemFilter{RunID: run.ID, Email: "alice@example.com"})
	if len(its) != 1 || its[0].State != review.ItemPending {
		t.Fatalf("alice's item: %+v", its)
	}
	alice := its[0]

	var card localslack.Message
	waitUntil(t, func() bool {
		for _, msg := range srv.DMsTo("U0BOSS") {
			if strings.Contains(msg.AllText(), "alice@example.com") {
				card = msg
				return true
			}
		}
		return false
	})
	if strings.Contains(card.AllText(), "it@example.com") || strings.Contains(card.AllText(), "ghost@example.com") {
		t.Errorf("boss's prompt lists people who are not his inactive ones:\n%s", card.AllText())
	}
	// alice cannot answer for herself.
	if _, err := srv.ClickButton("U0ALICE", card.Channel, card.TS, "review_suspend."+alice.ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return hasEphemeral(srv, "U0ALICE", "you cannot answer for yourself") })
	if fake.Suspended("alice@example.com") {
		t.Fatal("alice's own click suspended her")
	}
	if _, err := srv.ClickButton("U0BOSS", card.Channel, card.TS, "review_suspend."+alice.ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return fake.Suspended("alice@example.com") })
	waitUntil(t, func() bool {
		msg, _ := srv.Message(card.Channel, card.TS)
		return strings.Contains(msg.AllText(), "Suspended") && strings.Contains(msg.AllText(), "2 group memberships recorded")
	})

	// The digest, with the chart and the CSV in its thread.
	waitUntil(t, func() bool { return len(srv.Messages("C0LICENCES")) > 0 && len(srv.FilesIn("C0LICENCES")) == 2 })
	if got := srv.Messages("C0LICENCES")[0].AllText(); !strings.Contains(got, "Licence review: employees") {
		t.Errorf("the digest: %s", got)
	}

	// IT restores alice; her memberships came back with the account.
	if _, err := srv.SlashCommand("U0ALICE", "C0LICENCES", "/access", "restore <@U0ALICE|alice>"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return hasEphemeral(srv, "U0ALICE", "is for IT only") })
	if _, err := srv.SlashCommand("U0IT", "C0LICENCES", "/access", "restore <@U0ALICE|alice>"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		return hasEphemeral(srv, "U0IT", "alice@example.com is restored", "Came back with the account: design, staff")
	})
	if fake.Suspended("alice@example.com") {
		t.Error("alice is still suspended at Atlassian")
	}
	if v := fake.Violations(); len(v) > 0 {
		t.Errorf("the Admin API saw calls outside the API (v1 suspend?): %v", v)
	}
	if v := srv.Violations(); len(v) > 0 {
		raw, _ := json.Marshal(v)
		t.Errorf("Slack saw violations: %s", raw)
	}
}

func hasEphemeral(srv *localslack.Server, user string, want ...string) bool {
	for _, e := range srv.Ephemerals(user) {
		all := e.Text + string(e.Blocks)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(all, w)
		}
		if ok {
			return true
		}
	}
	return false
}
