package localslack_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/localslack"
)

// Start runs the emulator outside a test, as the playground ships it: the
// same Block Kit limits and pace, what a test would fail on is logged,
// and spec validation is off unless the spec is named, said once.
func TestStart_WithoutATest(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	srv, err := localslack.Start(localslack.Options{Logf: logf, PostBurst: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.SpecPath() != "" {
		t.Errorf("Start found a spec by itself: %s", srv.SpecPath())
	}
	srv.AddUser(localslack.User{ID: "U1", Name: "alice", Email: "alice@example.com"})
	srv.AddChannel("C1", "it-access")
	api := newAPI(srv)

	// A header over 150 characters: Slack's invalid_blocks.
	long := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("x", 151), false, false))
	if _, _, err := api.PostMessage("C1", slack.MsgOptionBlocks(long)); err == nil || !strings.Contains(err.Error(), "invalid_blocks") {
		t.Errorf("a header of 151 characters: got %v, want invalid_blocks", err)
	}
	// The pace still holds: a burst of two (the refused post spent one),
	// then 429.
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("one", false)); err != nil {
		t.Fatalf("the second post of a burst of two: %v", err)
	}
	var rl *slack.RateLimitedError
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("two", false)); !errors.As(err, &rl) {
		t.Errorf("a third post at once: got %v, want 429 ratelimited", err)
	}
	mu.Lock()
	defer mu.Unlock()
	said := strings.Join(lines, "\n")
	if strings.Count(said, "not validated against Slack's OpenAPI spec") != 1 {
		t.Errorf("the log should say once that the spec is not used:\n%s", said)
	}
	if len(srv.Violations()) == 0 {
		t.Error("the Block Kit violation was not recorded")
	}
}
