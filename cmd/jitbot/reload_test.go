package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jonboulle/clockwork"
)

// reloadBot starts the whole program on a copy of the example policy in its
// own folder, with an alert channel.
func reloadBot(t *testing.T, extraEnv ...string) (*Main, *localslack.Server, *clockwork.FakeClock, string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"policy.yaml", "people.csv"} {
		data, err := os.ReadFile(filepath.Join("../../examples", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, f), data, 0o600))
	}
	policy := filepath.Join(dir, "policy.yaml")
	srv := localslack.New(t, localslack.Options{})
	srv.AddChannel("C0ALERT", "it-alerts")
	srv.AddChannel("C0AUDIT", "audit")
	env := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL(),
		"JITBOT_ALERT_CHANNEL": "C0ALERT"}
	for i := 0; i+1 < len(extraEnv); i += 2 {
		env[extraEnv[i]] = extraEnv[i+1]
	}
	clock := clockwork.NewFakeClockAt(time.Now().UTC().Truncate(time.Second))
	m := &Main{Config: Config{Policy: policy, DB: filepath.Join(dir, "jitbot.db"), LogLevel: "error", LogFormat: "json", DryRun: true},
		Clock: clock, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	must(t, m.Open(ctx))
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		m.Close()
	})
	return m, srv, clock, policy
}

// rewrite replaces the policy file as an editor does: write beside, rename.
func rewrite(t *testing.T, path, from, to string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	if !strings.Contains(string(data), from) {
		t.Fatalf("the policy lacks %q", from)
	}
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, []byte(strings.Replace(string(data), from, to, 1)), 0o600))
	must(t, os.Rename(tmp, path))
}

func submit(t *testing.T, m *Main) *approvals.Request {
	t.Helper()
	r, err := m.Service.Submit(context.Background(), approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
		Duration: 2 * time.Hour, Reason: "month-end close"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func policyEvents(t *testing.T, m *Main, action string) []map[string]string {
	t.Helper()
	var out []map[string]string
	err := m.DB.Events(context.Background(), time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if e.Action == action {
			out = append(out, e.Data)
		}
		return nil
	})
	must(t, err)
	return out
}

// Issue 14: a SIGHUP with a valid policy changes routing for the next
// request, and the change is audited with its sha256; a request filed
// before keeps its route.
func TestReload_SIGHUPValidChangesRouting(t *testing.T) {
	m, _, _, policy := reloadBot(t)
	before := submit(t, m)
	if !before.AutoApproved {
		t.Fatalf("before the reload: got %s, want auto-approved under the example policy", before.State)
	}
	oldHash := m.Service.Policy().Hash
	// Short internal access is no longer automatic: it needs the manager.
	rewrite(t, policy, "then: {auto_approve: true, notify: [\"#access-log\"]}", "then: {approvals: [{approvers: [manager]}]}")
	must(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	waitUntil(t, func() bool { return m.Service.Policy().Hash != oldHash })
	after := submit(t, m)
	if after.AutoApproved || after.State != approvals.StatePending || len(after.Steps) != 1 || after.Steps[0].Approvers[0] != "bob@example.com" {
		t.Fatalf("after the reload: got %s auto %v steps %+v, want pending on bob", after.State, after.AutoApproved, after.Steps)
	}
	got, err := m.Service.Get(context.Background(), before.ID)
	must(t, err)
	if !got.AutoApproved || got.Rule != "short internal access is automatic" {
		t.Errorf("the request filed before: got rule %q auto %v, want the rule it was filed under", got.Rule, got.AutoApproved)
	}
	loaded := policyEvents(t, m, approvals.ActionPolicyLoaded)
	if n := len(loaded); n != 2 || loaded[1]["sha256"] != m.Service.Policy().Hash || loaded[0]["sha256"] != oldHash {
		t.Fatalf("policy.loaded events: got %v, want two with the old and the new sha256", loaded)
	}
}

// Issue 14: a SIGHUP with an invalid policy changes nothing, logs, and
// raises an alert in the alert channel naming the problem.
func TestReload_SIGHUPInvalidChangesNothingAndAlerts(t *testing.T) {
	m, srv, _, policy := reloadBot(t)
	oldHash := m.Service.Policy().Hash
	rewrite(t, policy, "provider: jira           # jira | atlassian-admin | dryrun", "provider: confluence")
	must(t, syscall.Kill(syscall.Getpid(), syscall.SIGHUP))
	if !srv.WaitFor(10*time.Second, func() bool {
		for _, msg := range srv.Messages("C0ALERT") {
			if text := msg.AllText(); strings.Contains(text, "was not reloaded") && strings.Contains(text, "unknown provider") && strings.Contains(text, "policy.yaml:") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no alert naming the problem; alert channel: %+v", srv.Messages("C0ALERT"))
	}
	if got := m.Service.Policy().Hash; got != oldHash {
		t.Fatalf("the policy in force changed: got %s, want %s", got, oldHash)
	}
	if r := submit(t, m); !r.AutoApproved {
		t.Errorf("routing changed after a refused reload: got %s, want auto-approved", r.State)
	}
	if got := policyEvents(t, m, ActionPolicyRefused); len(got) != 1 || got[0]["sha256"] == "" {
		t.Errorf("policy.refused events: got %v, want one with the refused file's sha256", got)
	}
	if got := policyEvents(t, m, approvals.ActionPolicyLoaded); len(got) != 1 {
		t.Errorf("policy.loaded events: got %d, want only the one at start-up", len(got))
	}
}

// Issue 14: a change of the file reloads it too (fsnotify), after a short
// debounce on the injected clock.
func TestReload_FileChange(t *testing.T) {
	m, _, clock, policy := reloadBot(t)
	oldHash := m.Service.Policy().Hash
	rewrite(t, policy, "max_duration: 4h", "max_duration: 3h")
	waitUntil(t, func() bool {
		clock.Advance(reloadDebounce)
		return m.Service.Policy().Hash != oldHash
	})
	if r, _ := m.Service.Policy().Resource("jira-admins"); r.MaxDuration != 3*time.Hour {
		t.Errorf("jira-admins max: got %v, want 3h", r.MaxDuration)
	}
	// A change elsewhere in the folder (the database) reloads nothing.
	if got := m.isPolicyFile(filepath.Join(filepath.Dir(policy), "jitbot.db-wal")); got {
		t.Error("a database write counts as a policy change")
	}
	if got := m.isPolicyFile(filepath.Join(filepath.Dir(policy), "people.csv")); !got {
		t.Error("a change of the directory file does not count as a policy change")
	}
}

// Issue 10 item 13, end to end: a bot started with an audit channel posts
// the anchor at start-up (no anchor yet), not only after a day of uptime.
func TestIntegrity13_BotAnchorsAtStartUp(t *testing.T) {
	_, srv, _, _ := reloadBot(t, "JITBOT_AUDIT_CHANNEL", "C0AUDIT")
	if !srv.WaitFor(10*time.Second, func() bool {
		for _, msg := range srv.Messages("C0AUDIT") {
			if strings.Contains(msg.AllText(), "jitbot audit verify --anchor") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no anchor posted at start-up; audit channel: %+v", srv.Messages("C0AUDIT"))
	}
}
