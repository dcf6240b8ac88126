package bot_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/bot"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// First hour, defect 5: with no route to Slack the bot says it cannot reach
// Slack, not that the token was refused; and a Socket Mode connection error
// is logged with its cause.
func TestFirstHour5_NetworkFailureNotBlamedOnTokens(t *testing.T) {
	svc := approvals.New(approvals.Config{})
	b, err := bot.New(bot.Config{Service: svc, BotToken: "xoxb-secret-1", AppToken: "xapp-secret-2", APIURL: "http://127.0.0.1:1/api/"})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach Slack at http://127.0.0.1:1/api/") || strings.Contains(err.Error(), "reinstall") {
		t.Fatalf("Check with no route to Slack: %v, want a sentence that Slack cannot be reached, not a token refusal", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("a token in the error: %v", err)
	}

	core, logs := observer.New(zap.DebugLevel)
	e := newEnvWith(t, envOptions{log: zap.New(core)})
	e.srv.ServerErrorNext("apps.connections.open", 1, 503) // the reconnection fails once
	if err := e.srv.DropSocket(); err != nil {
		t.Fatal(err)
	}
	e.wait("a logged connection error", func() bool {
		for _, l := range logs.FilterMessage("socket mode").All() {
			if c, ok := l.ContextMap()["cause"].(string); ok && c != "" {
				return true
			}
		}
		return false
	})
	if !e.srv.WaitConnections(1, 10*time.Second) {
		t.Fatal("the bot did not reconnect")
	}
}

// First hour, defect 6: `/access audit @person` works whichever way Slack
// sends the mention: escaped (<@U…|name>, the manifest's should_escape) or
// as typed (@name).
func TestFirstHour6_AuditMentionForms(t *testing.T) {
	manifest, err := os.ReadFile("../deploy/slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "should_escape: true") {
		t.Error("the manifest does not ask Slack to escape mentions in /access, which the audit command reads")
	}
	e := newEnvWith(t, envOptions{audit: func(_ context.Context, email string) (string, error) {
		return "person: " + email, nil
	}})
	e.cmd(uDave, "audit <@"+uAlice+"|alice>")
	e.ephemeralWith(uDave, "Evidence about alice@example.com")
	e.cmd(uDave, "audit @carol")
	e.ephemeralWith(uDave, "Evidence about carol@example.com")
	e.cmd(uDave, "audit @nobody-here")
	e.ephemeralWith(uDave, "No Slack user is called @nobody-here")
}
