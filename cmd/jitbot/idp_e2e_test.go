package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jonboulle/clockwork"
)

// idpCase is one identity provider in the end-to-end test: its fake, the
// environment that points jitbot at it, its directory source line, and how
// it names alice's manager.
type idpCase struct {
	name string
	fake interface {
		AddUser(u idpfake.User) string
		AddGroup(name string, members ...string) string
		Members(groupID string) []string
		Calls(key string) int
	}
	source string
	env    map[string]string
	// addKey and removeKey are the fake's call keys of the add and the
	// removal of alice in the group.
	addKey, removeKey func(gid, uid string) string
}

func idpCases(t *testing.T) []idpCase {
	okta := idpfake.NewOkta(t, idpfake.Options{})
	entra := idpfake.NewEntra(t, idpfake.Options{})
	google := idpfake.NewGoogle(t, idpfake.Options{})
	key := filepath.Join(t.TempDir(), "sa.json")
	must(t, os.WriteFile(key, google.ServiceAccountJSON(), 0o600))
	return []idpCase{
		{name: "okta", fake: okta, source: "okta: {url: " + okta.URL() + "}",
			env:       map[string]string{"OKTA_API_TOKEN": okta.Token()},
			addKey:    func(g, u string) string { return "PUT /api/v1/groups/" + g + "/users/" + u },
			removeKey: func(g, u string) string { return "DELETE /api/v1/groups/" + g + "/users/" + u }},
		{name: "entra", fake: entra, source: "entra: {tenant: " + entra.Tenant() + "}",
			env: map[string]string{"AZURE_CLIENT_ID": entra.ClientID(), "AZURE_CLIENT_SECRET": entra.ClientSecret(),
				"AZURE_AUTHORITY_HOST": entra.URL(), "ENTRA_GRAPH_URL": entra.URL()},
			addKey:    func(g, u string) string { return "POST /v1.0/groups/" + g + "/members/$ref" },
			removeKey: func(g, u string) string { return "DELETE /v1.0/groups/" + g + "/members/" + u + "/$ref" }},
		{name: "google", fake: google, source: "google: {customer: my_customer}",
			env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key, "GOOGLE_ADMIN_SUBJECT": google.Subject(),
				"GOOGLE_ADMIN_API_URL": google.URL()},
			addKey:    func(g, u string) string { return "POST /admin/directory/v1/groups/" + g + "/members" },
			removeKey: func(g, u string) string { return "DELETE /admin/directory/v1/groups/" + g + "/members/" + u }},
	}
}

// The end to end, per IdP, through `jitbot run`: a resource on the
// IdP's group; alice asks in the local Slack; her manager, known only from
// the IdP (the policy file lists nobody), approves; the fake gets the add;
// at expiry, the removal of the same.
func TestRun_IdPGroupEndToEnd(t *testing.T) {
	for _, tc := range idpCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			boss := tc.fake.AddUser(idpfake.User{ID: "00uboss", Email: "boss@example.com", Department: "Eng", Employment: "Employee"})
			mgr := boss // Graph's manager relation and Okta's managerId hold the id
			if tc.name == "google" {
				mgr = "boss@example.com" // Google's relation holds the email
			}
			alice := tc.fake.AddUser(idpfake.User{ID: "00ualice", Email: "alice@example.com", Department: "Eng", Manager: mgr, Employment: "Employee"})
			gid := tc.fake.AddGroup("Eng Admins")
			srv := localslack.New(t, localslack.Options{})
			srv.AddUser(localslack.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
			srv.AddUser(localslack.User{ID: "U0BOSS", Name: "boss", Email: "boss@example.com"})
			srv.AddChannel("C0GENERAL", "general")
			policy := filepath.Join(t.TempDir(), "policy.yaml")
			must(t, os.WriteFile(policy, []byte(fmt.Sprintf(`directory:
  sources:
    - %s
  employment_values: {Employee: internal}
resources:
  - {id: eng-admins, name: Eng admins, provider: %s, group: Eng Admins, max_duration: 1h}
rules:
  - name: manager approves
    then:
      approvals:
        - approvers: [manager]
`, tc.source, tc.name)), 0o600))
			env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL()}
			for k, v := range tc.env {
				env[k] = v
			}
			clock := clockwork.NewFakeClockAt(time.Now().UTC().Truncate(time.Second))
			m := &Main{Config: Config{Policy: policy, DB: filepath.Join(t.TempDir(), "j.db"), LogLevel: "error", LogFormat: "json"},
				Getenv: func(k string) string { return env[k] }, Clock: clock}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := m.Open(ctx); err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			waitFor(t, 30*time.Second, "the directory synced from "+tc.name, func() bool {
				p, ok := m.Service.Policy().Person("alice@example.com")
				return ok && p.Manager == "boss@example.com" && p.ManagerFrom == tc.name
			})

			if _, err := srv.SlashCommand("U0ALICE", "C0GENERAL", "/access", "eng-admins 1h on call"); err != nil {
				t.Fatal(err)
			}
			var c card
			waitFor(t, 30*time.Second, "boss's card", func() bool {
				for _, msg := range srv.DMsTo("U0BOSS") {
					for _, b := range approveButtons(msg) {
						c = card{m: msg, action: b.action}
						return true
					}
				}
				return false
			})
			if _, err := srv.ClickButton("U0BOSS", c.m.Channel, c.m.TS, c.action); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "alice in the "+tc.name+" group", func() bool {
				return strings.Join(tc.fake.Members(gid), ",") == "alice@example.com"
			})
			if n := tc.fake.Calls(tc.addKey(gid, alice)); n != 1 {
				t.Errorf("got %d calls %s, want 1", n, tc.addKey(gid, alice))
			}
			rs, err := m.Service.List(ctx, approvals.RequestFilter{})
			if err != nil || len(rs) != 1 {
				t.Fatalf("got %d requests, %v", len(rs), err)
			}
			waitFor(t, 10*time.Second, "the request active", func() bool {
				r, err := m.Service.Get(ctx, rs[0].ID)
				return err == nil && r.State == approvals.StateActive
			})
			clock.Advance(time.Hour + time.Second)
			waitFor(t, 30*time.Second, "alice removed at expiry", func() bool { return len(tc.fake.Members(gid)) == 0 })
			if n := tc.fake.Calls(tc.removeKey(gid, alice)); n != 1 {
				t.Errorf("got %d calls %s, want 1", n, tc.removeKey(gid, alice))
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// jitbot run syncs again every sync_every: a manager changed at Okta is in
// force after the next sync, and the change is evidence in the audit trail.
func TestRun_DirectoryResync(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	boss := f.AddUser(idpfake.User{Email: "boss@example.com"})
	vp := f.AddUser(idpfake.User{Email: "vp@example.com"})
	f.AddUser(idpfake.User{Email: "alice@example.com", Manager: boss})
	f.AddGroup("Eng Admins")
	srv := localslack.New(t, localslack.Options{})
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, []byte(`directory:
  sources: [{okta: {url: `+f.URL()+`}}]
  sync_every: 10m
resources:
  - {id: eng-admins, provider: okta, group: Eng Admins}
rules:
  - {name: manager approves, then: {approvals: [{approvers: [manager]}]}}
`), 0o600))
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL(), "OKTA_API_TOKEN": f.Token()}
	clock := clockwork.NewFakeClockAt(time.Now().UTC().Truncate(time.Second))
	m := &Main{Config: Config{Policy: policy, DB: filepath.Join(t.TempDir(), "j.db"), LogLevel: "error", LogFormat: "json"},
		Getenv: func(k string) string { return env[k] }, Clock: clock}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	manager := func() string {
		p, _ := m.Service.Policy().Person("alice@example.com")
		if p == nil {
			return ""
		}
		return p.Manager
	}
	waitFor(t, 30*time.Second, "the first sync", func() bool { return manager() == "boss@example.com" })
	f.UpdateUser("alice@example.com", func(u *idpfake.User) { u.Manager = vp })
	// A minute at a time: the loop sets its timer once the first sync is
	// in force, which may be after this test saw it.
	waitFor(t, 30*time.Second, "the next sync", func() bool {
		clock.Advance(time.Minute)
		return manager() == "vp@example.com"
	})
	var found bool
	err := m.DB.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		found = found || (e.Action == "directory.changed" && e.Subject == "alice@example.com" && e.Data["new"] == "vp@example.com" && e.Data["source"] == "okta")
		return nil
	})
	if err != nil || !found {
		t.Errorf("no directory.changed event for alice's new manager (%v)", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
