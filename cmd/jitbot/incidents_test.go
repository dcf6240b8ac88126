package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jonboulle/clockwork"
)

// Issue 26, end to end through jitbot run against the local Slack and the
// local Jira, with the example policy: out of hours, dave (IT) breaks the
// glass on jira-admins; he is in the Jira group within a second of the
// command, the alert channel and #security hear of it, bob (who reviews,
// dave never does) acknowledges from his card, and the grant ends at its
// end.
func TestMain_BreakGlassInSlack(t *testing.T) {
	start := time.Date(2026, 12, 8, 20, 0, 0, 0, time.UTC) // Tuesday 21:00 in Paris: out of hours
	clock := clockwork.NewFakeClockAt(start)
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("jira-admins")
	f.AddGroup("confluence-finance")
	for _, e := range []string{"alice@example.com", "bob@example.com", "dave@example.com", "frank@example.com", "carol@example.com"} {
		f.AddUser(e)
	}
	srv := localslack.New(t, localslack.Options{Now: clock.Now})
	for _, u := range []localslack.User{
		{ID: "U0ALICE", Name: "alice", RealName: "Alice", Email: "alice@example.com"},
		{ID: "U0BOB", Name: "bob", RealName: "Bob", Email: "bob@example.com"},
		{ID: "U0DAVE", Name: "dave", RealName: "Dave", Email: "dave@example.com"},
		{ID: "U0FRANK", Name: "frank", RealName: "Frank", Email: "frank@example.com"},
		{ID: "U0CAROL", Name: "carol", RealName: "Carol", Email: "carol@example.com"},
	} {
		srv.AddUser(u)
	}
	srv.AddUserGroup("S0LEADS", "it-leads", "U0DAVE")
	for id, name := range map[string]string{"C0LOG": "it-access-log", "C0SEC": "security", "C0ALERT": "jitbot-alerts", "C0GEN": "general"} {
		srv.AddChannel(id, name)
	}
	env := jiraEnv(f)
	env["SLACK_BOT_TOKEN"], env["SLACK_APP_TOKEN"], env["SLACK_API_URL"] = srv.BotToken(), srv.AppToken(), srv.APIURL()
	env["JITBOT_ALERT_CHANNEL"] = "C0ALERT"
	m := &Main{Config: Config{Policy: examplePolicy(t), DB: filepath.Join(t.TempDir(), "jitbot.db"), LogLevel: "error", LogFormat: "json"},
		Getenv: func(k string) string { return env[k] }, Clock: clock}
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

	sent := time.Now()
	if _, err := srv.SlashCommand("U0DAVE", "C0GEN", "/access", "jira-admins 30m --break-glass prod is down INC-9"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return f.IsMember("jira-admins", "dave@example.com") })
	if took := time.Since(sent); took > time.Second {
		t.Errorf("the break-glass grant took %s from the command to the Jira group; want within 1s", took)
	}
	waitUntil(t, func() bool { return hasEphemeral(srv, "U0DAVE", "Break-glass request", "without approval") })
	posted := func(ch string, want ...string) bool {
		for _, msg := range srv.Messages(ch) {
			if containsEvery(msg.AllText(), want...) {
				return true
			}
		}
		return false
	}
	waitUntil(t, func() bool {
		return posted("C0ALERT", "Break-glass", "dave@example.com", "jira-admins", "prod is down")
	})
	waitUntil(t, func() bool { return posted("C0SEC", "dave@example.com", "jira-admins") })

	var card localslack.Message
	waitUntil(t, func() bool {
		for _, msg := range srv.DMsTo("U0BOB") {
			if strings.Contains(msg.AllText(), "Break-glass review") && msg.HasAction("bg_ack") {
				card = msg
				return true
			}
		}
		return false
	})
	for _, msg := range srv.DMsTo("U0DAVE") {
		if msg.HasAction("bg_ack") {
			t.Fatal("dave was asked to review his own break-glass use")
		}
	}
	if _, err := srv.ClickButton("U0BOB", card.Channel, card.TS, "bg_ack"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		msg, _ := srv.Message(card.Channel, card.TS)
		return strings.Contains(msg.AllText(), "Acknowledged") && !msg.HasAction("bg_ack")
	})
	rs, err := m.Service.List(ctx, approvals.RequestFilter{Requester: "dave@example.com"})
	if err != nil || len(rs) != 1 {
		t.Fatalf("dave's requests: %d, %v", len(rs), err)
	}
	v, err := m.Service.BreakGlass(ctx, rs[0].ID)
	if err != nil || v.Review.State != approvals.BreakGlassAcknowledged || v.Review.AnsweredBy != "bob@example.com" {
		t.Fatalf("the review: %+v, %v", v, err)
	}

	// At its end the grant goes, on the fake clock.
	clock.Advance(30 * time.Minute)
	waitUntil(t, func() bool { return !f.IsMember("jira-admins", "dave@example.com") })
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("Slack saw violations: %+v", v)
	}
}

func containsEvery(s string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// policy explain says what the incident keys decide for one request.
func TestCLI_PolicyExplainIncidents(t *testing.T) {
	env := map[string]string{"JITBOT_POLICY": examplePolicy(t)}
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--requester", "dave@example.com", "--resource", "jira-admins", "--duration", "1h", "--at", "2026-12-08T10:00:00+01:00"}, 0,
			[]string{"rule:          IT in business hours", "approval:      automatic", "time window:   mon-fri 08:00-18:00 Europe/Paris", "break-glass:   not allowed by this rule"}},
		{[]string{"--requester", "dave@example.com", "--resource", "jira-admins", "--duration", "1h", "--at", "2026-12-08T19:00:00+01:00"}, 0,
			[]string{"rule:          IT out of hours", "escalates:   after 30m unanswered, to group:it-leads", "break-glass:   allowed, at once without approval, up to 1h, at most 2 uses",
				"review:      after the fact by group:it-leads, bob@example.com", "#security"}},
		{[]string{"--requester", "dave@example.com", "--resource", "jira-admins", "--duration", "30m", "--at", "2026-12-08T19:00:00+01:00", "--break-glass"}, 0,
			[]string{"max duration:  1h", "break-glass:   allowed"}},
		{[]string{"--requester", "alice@example.com", "--resource", "jira-admins", "--break-glass"}, exitFailure,
			[]string{`refused: rule "admin escalation" does not allow break-glass for jira-admins`}},
		{[]string{"--requester", "carol@example.com", "--resource", "confluence-finance", "--duration", "2d", "--filer", "dave@example.com"}, 0,
			[]string{"filed by:      dave@example.com for carol@example.com", "step 1 of 1:   bob@example.com"}},
		{[]string{"--requester", "alice@example.com", "--resource", "jira-admins", "--filer", "bob@example.com"}, exitFailure,
			[]string{`refused: rule "admin escalation" lets nobody file requests for jira-admins for someone else`}},
		{[]string{"--requester", "carol@example.com", "--resource", "confluence-finance", "--duration", "2d"}, 0,
			[]string{"on behalf:     group:it-leads may file it for the requester", "escalates:   after 4h unanswered"}},
	} {
		code, out, errOut := runCLI(t, env, append([]string{"policy", "explain"}, c.args...)...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, out, errOut)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	if code, _, errOut := runCLI(t, env, "policy", "explain", "--requester", "dave@example.com", "--resource", "jira-admins", "--at", "tonight"); code != exitUsage || !strings.Contains(errOut, "--at") {
		t.Errorf("a bad --at: exit %d, %q", code, errOut)
	}
}

// The example playground shows the incident flows: out of hours dave
// breaks the glass and bob gets the review card; carol's approvals start
// delegated to frank.
func TestPlayground_Incidents(t *testing.T) {
	url, _ := startPlayground(t, "--start", "2026-12-08T20:00:00Z")
	g := pg{t: t, url: url}
	g.post("api/clock", `{"running": false}`)
	g.post("api/command", `{"as": "U0DAVE", "channel": "D0DAVE", "text": "/access jira-admins 30m --break-glass prod is down"}`)
	g.waitMain("bob's review card", "U0BOB", "D0BOB", "Break-glass review")
	g.waitMain("dave's DM", "U0DAVE", "D0DAVE", "Break-glass")
	g.post("api/command", `{"as": "U0CAROL", "channel": "D0CAROL", "text": "/access delegate"}`)
	g.waitMain("carol's delegation", "U0CAROL", "D0CAROL", "wait on frank@example.com too")
}
