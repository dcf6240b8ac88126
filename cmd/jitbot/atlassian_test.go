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
	"github.com/jitbot/jitbot/provisioner/jira"
	"github.com/jonboulle/clockwork"
)

func jiraEnv(f *atlassianfake.Server) map[string]string {
	o := f.Options()
	return map[string]string{"ATLASSIAN_SITE_URL": f.URL(), "ATLASSIAN_EMAIL": o.Email, "ATLASSIAN_API_TOKEN": o.Token,
		"ATLASSIAN_RATE": "1000"}
}

// `jitbot policy check --online` asks the site for every group the policy
// names and says which one does not exist.
func TestCLI_PolicyCheckOnline(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("jira-admins")
	env := jiraEnv(f)
	code, _, errOut := runCLI(t, env, "policy", "check", examplePolicy(t), "--online")
	if code != exitFailure || !strings.Contains(errOut, "group confluence-finance does not exist on "+f.URL()) || strings.Contains(errOut, "jira-admins does not") {
		t.Fatalf("exit %d, stderr %q; want the missing group named", code, errOut)
	}
	f.AddGroup("confluence-finance")
	if code, out, errOut := runCLI(t, env, "policy", "check", examplePolicy(t), "--online"); code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	delete(env, "ATLASSIAN_API_TOKEN")
	code, _, errOut = runCLI(t, env, "policy", "check", examplePolicy(t), "--online")
	if code != exitFailure || !strings.Contains(errOut, "ATLASSIAN_API_TOKEN is not set") {
		t.Fatalf("exit %d, stderr %q; want the missing variable named", code, errOut)
	}
}

func TestAtlassianProvider_Env(t *testing.T) {
	for _, tc := range []struct {
		name, provider string
		env            map[string]string
		want           string
	}{
		{"JiraNothing", "jira", nil, "ATLASSIAN_SITE_URL is not set (the Jira Cloud site, such as https://example.atlassian.net); ATLASSIAN_EMAIL is not set"},
		{"JiraPlainHTTP", "jira", map[string]string{"ATLASSIAN_SITE_URL": "http://example.atlassian.net", "ATLASSIAN_EMAIL": "a@b.c", "ATLASSIAN_API_TOKEN": "t"},
			`ATLASSIAN_SITE_URL="http://example.atlassian.net" must be an https URL`},
		{"BadRate", "jira", map[string]string{"ATLASSIAN_SITE_URL": "https://x.atlassian.net", "ATLASSIAN_EMAIL": "a@b.c", "ATLASSIAN_API_TOKEN": "t", "ATLASSIAN_RATE": "fast"},
			`ATLASSIAN_RATE="fast" is not a positive number`},
		{"BadTimeout", "jira", map[string]string{"ATLASSIAN_SITE_URL": "https://x.atlassian.net", "ATLASSIAN_EMAIL": "a@b.c", "ATLASSIAN_API_TOKEN": "t", "ATLASSIAN_TIMEOUT": "30"},
			`ATLASSIAN_TIMEOUT="30" is not a positive duration`},
		{"AdminNoKey", "atlassian-admin", map[string]string{"ATLASSIAN_ORG_ID": "org-1"}, "provider atlassian-admin: ATLASSIAN_ADMIN_API_KEY is not set (an organisation API key)"},
		{"JiraOK", "jira", map[string]string{"ATLASSIAN_SITE_URL": "https://x.atlassian.net", "ATLASSIAN_EMAIL": "a@b.c", "ATLASSIAN_API_TOKEN": "secret-token-1"}, ""},
		{"AdminOK", "atlassian-admin", map[string]string{"ATLASSIAN_ORG_ID": "org-1", "ATLASSIAN_ADMIN_API_KEY": "secret-key-1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := atlassianProvider(func(k string) string { return tc.env[k] }, tc.provider, nil, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "secret-"):
				t.Fatalf("a credential in the error: %v", err)
			}
		})
	}
}

// `jitbot run` builds the jira provider from the environment and refuses
// to start when a group the policy names does not exist.
func TestMain_RunWithJira(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("jira-admins")
	f.AddUser("alice@example.com")
	env := jiraEnv(f)
	srv := localslack.New(t, localslack.Options{})
	env["SLACK_BOT_TOKEN"], env["SLACK_APP_TOKEN"], env["SLACK_API_URL"] = srv.BotToken(), srv.AppToken(), srv.APIURL()
	open := func() (*Main, error) {
		m := &Main{Config: Config{Policy: examplePolicy(t), DB: filepath.Join(t.TempDir(), "j.db"), LogLevel: "error", LogFormat: "json"},
			Getenv: func(k string) string { return env[k] }, Clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))}
		t.Cleanup(func() { m.Close() })
		return m, m.Open(context.Background())
	}
	if _, err := open(); err == nil || !strings.Contains(err.Error(), "provider jira: group confluence-finance does not exist on "+f.URL()) {
		t.Fatalf("open: %v; want the missing group named", err)
	}
	f.AddGroup("confluence-finance")
	m, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Providers["jira"].(*jira.Provider); !ok {
		t.Fatalf("jira provider: %T", m.Providers["jira"])
	}
	ctx := context.Background()
	r, err := m.Service.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour, Reason: "close"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Service.RunJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if !f.IsMember("confluence-finance", "alice@example.com") {
		t.Fatalf("not provisioned at the site (request %s)", r.ID)
	}
	if id, ok, err := m.DB.GetAccount(ctx, "jira", "alice@example.com"); err != nil || !ok || id == "" {
		t.Errorf("account id not cached in the store: %q %v %v", id, ok, err)
	}
}
