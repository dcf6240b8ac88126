package jira_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The API token never appears in errors (however formatted), in logs, or
// when the provider or its configuration is printed, through retries,
// permanent failures and a rejected token alike.
func TestSecrets_TokenNeverLeaves(t *testing.T) {
	f := newFake(t)
	f.AddGroup("jira-admins")
	f.AddUser("alice@example.com")
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	p := newProvider(t, f, nil, log)
	o := f.Options()
	secrets := []string{o.Token, base64.StdEncoding.EncodeToString([]byte(o.Email + ":" + o.Token))}

	var errs []error
	f.SetFaults(atlassianfake.Faults{Throttle: 0.3, Unavailable: 0.3})
	for range 5 {
		errs = append(errs, p.AddMember(ctx, mem("jira-admins", "alice@example.com")), p.RemoveMember(ctx, mem("jira-admins", "alice@example.com")))
	}
	f.SetFaults(atlassianfake.Faults{DenyWrites: true})
	errs = append(errs, p.AddMember(ctx, mem("jira-admins", "alice@example.com")))
	f.SetFaults(atlassianfake.Faults{ServerError: 1})
	errs = append(errs, p.AddMember(ctx, mem("jira-admins", "alice@example.com")))
	f.SetFaults(atlassianfake.Faults{})
	errs = append(errs, p.CheckGroups(ctx, []string{"nope"}))
	cfg := jira.Config{SiteURL: f.URL(), Email: o.Email, Token: atlassian.Secret(o.Token), Log: log}
	bad, err := jira.New(jira.Config{SiteURL: f.URL(), Email: o.Email, Token: atlassian.Secret(o.Token + "x"), Log: log,
		Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, bad.CheckGroups(ctx, []string{"jira-admins"}))

	if len(logs.All()) < 10 {
		t.Fatalf("only %d log lines to check", len(logs.All()))
	}
	if failures := atlassianfake.CheckNoLeak(t, secrets, errs, logs.All(), p, bad, cfg, &cfg); failures < 3 {
		t.Fatalf("only %d errors to check", failures)
	}
}

// Integrity item 17: a plain-http site URL is refused, naming the setting,
// before any request carries the API token; loopback fakes are allowed.
func TestIntegrity17_HTTPSRequired(t *testing.T) {
	_, err := jira.New(jira.Config{SiteURL: "http://example.atlassian.net", Email: "a@example.com", Token: "tok-SECRET-7f3a9c"})
	if err == nil || !strings.Contains(err.Error(), `ATLASSIAN_SITE_URL="http://example.atlassian.net" must be an https URL`) || strings.Contains(err.Error(), "tok-SECRET") {
		t.Fatalf("got %v", err)
	}
	if _, err := jira.New(jira.Config{SiteURL: "http://127.0.0.1:1", Email: "a@example.com", Token: "tok-SECRET-7f3a9c"}); err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
}
