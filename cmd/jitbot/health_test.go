package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/metrics"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// jitbot run serves /healthz (the process lives), /readyz (database, policy,
// Socket Mode; 503 with the reason otherwise) and /metrics, and `jitbot
// health` asks them as the Docker HEALTHCHECK does.
func TestHealth_Endpoints(t *testing.T) {
	srv := localslack.New(t, localslack.Options{})
	srv.AddUser(localslack.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})
	slackEnv := map[string]string{"SLACK_BOT_TOKEN": srv.BotToken(), "SLACK_APP_TOKEN": srv.AppToken(), "SLACK_API_URL": srv.APIURL()}
	m := &Main{Config: Config{Policy: examplePolicy(t), DB: filepath.Join(t.TempDir(), "jitbot.db"), LogLevel: "error",
		LogFormat: "json", DryRun: true, Listen: "127.0.0.1:0"},
		Clock: clockwork.NewFakeClockAt(time.Now()), Getenv: func(k string) string { return slackEnv[k] }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	addr := m.health.ln.Addr().String()
	base := "http://" + addr

	// Before Run, Socket Mode is not connected: not ready, and it says why
	// (/readyz answers 503 with this).
	if err := m.ready(ctx); err == nil || !strings.Contains(err.Error(), "the Socket Mode connection to Slack is down") {
		t.Errorf("readiness before Run: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitUntil(t, func() bool { code, _ := get(t, base+"/readyz"); return code == http.StatusOK })
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if _, err := m.Service.Submit(ctx, approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance",
		Duration: 2 * time.Hour, Reason: "month-end close"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		_, body := get(t, base+"/metrics")
		return strings.Contains(body, `jitbot_requests{state="active"} 1`) &&
			strings.Contains(body, `jitbot_jobs_total{kind="provision",lane="access",outcome="done"} 1`) &&
			strings.Contains(body, `jitbot_slack_calls_total{method="chat.postMessage",outcome="ok"}`) // the message lane runs on its own
	})
	_, body := get(t, base+"/metrics")
	for _, want := range []string{"jitbot_socket_ack_seconds", `jitbot_slack_calls_total{method="chat.postMessage",outcome="ok"}`,
		`jitbot_provider_calls_total{operation="add",outcome="ok",provider="jira"} 1`, "jitbot_socket_connected 1", "jitbot_leader 1",
		"jitbot_audit_head_seq", `jitbot_jobs_pending{lane="access"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, out, errOut := runCLI(t, map[string]string{"JITBOT_LISTEN": addr}, "health", "--ready"); code != exitOK || !strings.Contains(out, "ready") {
		t.Errorf("jitbot health --ready: exit %d %q %q", code, out, errOut)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, map[string]string{"JITBOT_LISTEN": addr}, "health"); code != exitFailure || !strings.Contains(errOut, "does not answer") {
		t.Errorf("jitbot health after the bot stopped: exit %d %q", code, errOut)
	}
}

// A port already taken stops jitbot at start-up, naming the setting.
func TestHealth_PortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := &Main{Config: Config{Listen: ln.Addr().String()}, Metrics: metrics.New(), Log: zap.NewNop()}
	defer m.Close()
	if err := m.openHealth(); err == nil || !strings.Contains(err.Error(), "JITBOT_LISTEN") {
		t.Fatalf("a port in use: %v, want an error naming JITBOT_LISTEN", err)
	}
}

// Issue 20 finding 6: `jitbot health` reads JITBOT_LISTEN as `jitbot run`
// does: off (none, -) means no HTTP at all, said in a sentence, not a host
// named "off" looked up.
func TestHealth_ListenOff(t *testing.T) {
	for _, v := range []string{"off", "OFF", "none", "-"} {
		code, _, errOut := runCLI(t, map[string]string{"JITBOT_LISTEN": v}, "health")
		if code != exitUsage || !strings.Contains(errOut, "JITBOT_LISTEN is "+v+": jitbot run serves no /healthz") || strings.Contains(errOut, "does not answer") {
			t.Errorf("JITBOT_LISTEN=%s: exit %d %q; want exit %d saying jitbot run serves no /healthz", v, code, errOut, exitUsage)
		}
	}
	// --listen '' is the flag's way of saying the same.
	if code, _, errOut := runCLI(t, nil, "health", "--listen", ""); code != exitUsage || !strings.Contains(errOut, "serves no /healthz") {
		t.Errorf("--listen '': exit %d %q", code, errOut)
	}
}
