package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jonboulle/clockwork"
)

// runCLI runs the command line in-process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func examplePolicy(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLI_Help(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"policy", "check", "--help"}, {"grants", "list", "--help"},
		{"grants", "revoke", "--help"}, {"audit", "verify", "--help"}, {"audit", "export", "--help"}, {"report", "access", "--help"},
		{"policy", "--help"}, {"policy", "explain", "--help"}, {"report", "person", "--help"}, {"audit", "anchor", "--help"},
		{"version", "--help"}, {"version", "-h"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	if code, _, errOut := runCLI(t, nil, "frobnicate"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := runCLI(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "jitbot ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestCLI_PolicyCheck(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "policy", "check", examplePolicy(t))
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("example policy: exit %d\n%s%s", code, out, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("resources:\n  - id: x\n    provider: jira\n    group: g\n    colour: red\n"), 0o600)
	code, _, errOut = runCLI(t, nil, "policy", "check", bad)
	if code != exitFailure || !strings.Contains(errOut, "bad.yaml:5:5") {
		t.Fatalf("bad policy: exit %d, stderr %q; want exit 1 naming bad.yaml:5:5", code, errOut)
	}
	// run refuses to start on it.
	code, _, errOut = runCLI(t, map[string]string{"JITBOT_DB": filepath.Join(t.TempDir(), "j.db")}, "run", "--policy", bad, "--dry-run")
	if code != exitFailure || !strings.Contains(errOut, "will not start") || !strings.Contains(errOut, "bad.yaml:5:5") {
		t.Fatalf("run on a bad policy: exit %d, %q", code, errOut)
	}
}

func TestCLI_PolicyExplain(t *testing.T) {
	env := map[string]string{"JITBOT_POLICY": examplePolicy(t)}
	code, out, errOut := runCLI(t, env, "policy", "explain", "--requester", "alice@example.com", "--resource", "incident-bundle")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"admin escalation", "ADMIN ESCALATION", "max duration:  2h", "step 1 of 2:   bob@example.com", "group:it-leads", "#it-access-log", "required"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, env, "policy", "explain", "--requester", "bob@example.com", "--resource", "confluence-finance", "--duration", "3d")
	if code != exitFailure || !strings.Contains(out, "manager") {
		t.Errorf("bob has no manager: exit %d %q", code, out)
	}
}

// jitbot run without Slack tokens, or with a revoked one, stops with one
// sentence instead of a retry loop.
func TestCLI_RunSlackTokens(t *testing.T) {
	env := map[string]string{"JITBOT_DB": filepath.Join(t.TempDir(), "j.db"), "JITBOT_POLICY": examplePolicy(t)}
	code, _, errOut := runCLI(t, env, "run", "--dry-run")
	if code != exitFailure || !strings.Contains(errOut, "SLACK_BOT_TOKEN is not set") {
		t.Fatalf("no tokens: exit %d, %q", code, errOut)
	}
	srv := localslack.New(t, localslack.Options{})
	srv.RevokeBotToken()
	env["SLACK_BOT_TOKEN"], env["SLACK_APP_TOKEN"], env["SLACK_API_URL"] = srv.BotToken(), srv.AppToken(), srv.APIURL()
	code, _, errOut = runCLI(t, env, "run", "--dry-run")
	if code != exitFailure || !strings.Contains(errOut, "token_revoked") || strings.Contains(errOut, srv.BotToken()) {
		t.Fatalf("revoked token: exit %d, %q", code, errOut)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n > 2 {
		t.Errorf("want a short error, got %d lines: %q", n+1, errOut)
	}
	// Issue 21: the two failed starts left no policy.loaded event for a
	// bot that never ran.
	db, err := openDatabase(context.Background(), env["JITBOT_DB"], dbOptions{readOnly: true})
	must(t, err)
	defer db.Close()
	loaded := 0
	must(t, db.Events(context.Background(), time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if e.Action == approvals.ActionPolicyLoaded {
			loaded++
		}
		return nil
	}))
	if loaded != 0 {
		t.Errorf("policy.loaded events after failed starts: got %d, want 0", loaded)
	}
}

// The whole program in-process: Open, Run, the CLI reading the database
// while it runs, a revoke from the CLI that the running bot carries out at
// once.
func TestMain_RunWithCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "jitbot.db")
	// The CLI runs on the real clock and queues the revocation at its own
	// "now", so the bot's fake clock starts at the real time: a fixed date
	// would put that job days away from the fake clock.
	start := time.Now().UTC().Truncate(time.Second)
	clock := clockwork.NewFakeClockAt(start)
	srv := localslack.New(t, localslack.Options{})
	srv.AddUser(localslack.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
	slackEnv := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL()}
	m := &Main{Config: Config{Policy: examplePolicy(t), DB: db, LogLevel: "error", LogFormat: "json", DryRun: true}, Clock: clock,
		Getenv: func(k string) string { return slackEnv[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	r, err := m.Service.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
		Duration: 2 * time.Hour, Reason: "month-end close"})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"JITBOT_DB": db, "JITBOT_POLICY": examplePolicy(t), "JITBOT_OPERATOR": "security@example.com"}
	waitUntil(t, func() bool {
		_, out, _ := runCLI(t, env, "grants", "list", "--active", "--json")
		return strings.Contains(out, `"state":"active"`)
	})
	// The requester heard of it in Slack, through the bot run started.
	if !srv.WaitFor(10*time.Second, func() bool {
		for _, msg := range srv.DMsTo("U0ALICE") {
			if strings.Contains(msg.AllText(), approvals.Short(r.ID)) && strings.Contains(msg.AllText(), "Active until") {
				return true
			}
		}
		return false
	}) {
		t.Fatal("alice got no DM saying her access is active")
	}
	_, out, _ := runCLI(t, env, "grants", "list", "--json")
	var row grantRow
	if err := json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &row); err != nil || row.Person != "alice@example.com" || row.Group != "confluence-finance" {
		t.Fatalf("grants list --json: %q (%v)", out, err)
	}

	code, out, errOut := runCLI(t, env, "grants", "revoke", approvals.Short(r.ID), "--reason", "left the finance project")
	if code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: exit %d %q %q", code, out, errOut)
	}
	// The bot takes work another process queued at once: the CLI
	// announced it. The bot's clock catches up with the real one, on which
	// the CLI queued the job, but moves less than the poll's 10 s: only the
	// announcement can have told the bot.
	if behind := time.Since(clock.Now()) + time.Second; behind < 10*time.Second {
		clock.Advance(behind)
	} else {
		t.Fatalf("the test took %v to get here: the bot's poll would find the job", behind)
	}
	waitUntil(t, func() bool {
		gs, _ := m.Service.Grants(ctx, r.ID)
		return len(gs) == 1 && gs[0].State == approvals.GrantEnded
	})
	if code, _, _ := runCLI(t, env, "grants", "revoke", r.ID, "--reason", "again"); code != exitFailure {
		t.Errorf("revoking twice: exit %d, want 1", code)
	}

	code, out, _ = runCLI(t, env, "audit", "verify")
	if code != 0 || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("verify: exit %d %q", code, out)
	}
	code, out, _ = runCLI(t, env, "report", "access", "--resource", "confluence-finance", "--at", start.Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "alice@example.com") || !strings.Contains(out, "month-end close") || !strings.Contains(out, "revoked by security@example.com: left the finance project") {
		t.Fatalf("report access: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "report", "person", "alice@example.com")
	if code != 0 || !strings.Contains(out, "confluence-finance") || !strings.Contains(out, "auto-approved") {
		t.Fatalf("report person: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "audit", "export", "--format", "csv")
	if code != 0 || !strings.HasPrefix(out, "seq,id,time") || !strings.Contains(out, "request.revoked") {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, env, "audit", "anchor")
	if code != 0 || !strings.Contains(out, "anchor ") {
		t.Fatalf("anchor: exit %d %q", code, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Group help (jitbot policy, grants, audit, report) lists each subcommand
// with its one-line description, from the one table of commands.
func TestCLI_GroupHelpDescribesCommands(t *testing.T) {
	for _, cmd := range commands {
		if len(cmd.sub) == 0 {
			continue
		}
		code, out, _ := runCLI(t, nil, cmd.name, "--help")
		if code != exitOK {
			t.Errorf("jitbot %s --help: exit %d", cmd.name, code)
		}
		_, top, _ := runCLI(t, nil, "--help")
		for _, s := range cmd.sub {
			if s.summary == "" || !strings.Contains(out, s.name+"  ") || !strings.Contains(out, s.summary) {
				t.Errorf("jitbot %s --help: got %q, want %s with its description %q", cmd.name, out, s.name, s.summary)
			}
			if !strings.Contains(top, "jitbot "+cmd.name+" "+s.name) {
				t.Errorf("jitbot --help lacks jitbot %s %s:\n%s", cmd.name, s.name, top)
			}
		}
	}
}
