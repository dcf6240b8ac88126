package localslack_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/localslack"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// post sends a text message and returns the Retry-After of a 429 (0 when
// the post went through); any other error fails the test.
func post(t *testing.T, api *slack.Client, channel string) time.Duration {
	t.Helper()
	_, _, err := api.PostMessage(channel, slack.MsgOptionText("hello", false))
	var rl *slack.RateLimitedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &rl):
		return rl.RetryAfter
	}
	t.Fatalf("post to %s: %v", channel, err)
	return 0
}

func TestPace_PostMessage(t *testing.T) {
	t.Run("BurstThenRetryAfter", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0)
		srv := newServer(t, localslack.Options{Now: clock.Now})
		srv.AddChannel("C2", "general")
		api := newAPI(srv)
		for i := range 4 {
			if ra := post(t, api, "C1"); ra != 0 {
				t.Fatalf("post %d of the burst: got 429 after %v, want ok", i+1, ra)
			}
		}
		if ra := post(t, api, "C1"); ra != time.Second {
			t.Fatalf("5th post: got Retry-After %v, want 1s", ra)
		}
		// The pace is per channel: another channel still has its burst.
		if ra := post(t, api, "C2"); ra != 0 {
			t.Errorf("other channel: got 429 after %v", ra)
		}
		clock.Advance(500 * time.Millisecond)
		if ra := post(t, api, "C1"); ra != time.Second {
			t.Errorf("after 0.5s: got Retry-After %v, want 1s (0.5s rounded up)", ra)
		}
		clock.Advance(500 * time.Millisecond)
		if ra := post(t, api, "C1"); ra != 0 {
			t.Errorf("after 1s of fake time: got 429 after %v, want the refilled slot", ra)
		}
		if ra := post(t, api, "C1"); ra != time.Second {
			t.Errorf("right after the refill: got Retry-After %v, want 1s", ra)
		}
		// A long pause refills the burst, never more.
		clock.Advance(time.Hour)
		for i := range 4 {
			if ra := post(t, api, "C1"); ra != 0 {
				t.Fatalf("post %d after an hour: got 429 after %v", i+1, ra)
			}
		}
		if ra := post(t, api, "C1"); ra != time.Second {
			t.Errorf("5th post after an hour: got Retry-After %v, want 1s", ra)
		}

		if got, want := len(srv.Messages("C1")), 9; got != want {
			t.Errorf("got %d messages in C1, want %d", got, want)
		}
		if got := srv.RateLimited("chat.postMessage"); got != 4 {
			t.Errorf("RateLimited: got %d, want 4", got)
		}
		for _, c := range srv.Calls("chat.postMessage") {
			if c.Status == 429 && (c.Outcome != localslack.OutcomeRateLimited || c.Injected || c.Error != "ratelimited") {
				t.Errorf("paced call recorded as %+v", c)
			}
			if c.Status == 200 && c.Outcome != localslack.OutcomeOK {
				t.Errorf("delivered call recorded as %+v", c)
			}
		}
	})
	t.Run("HonestRetryAfter", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0)
		srv := newServer(t, localslack.Options{Now: clock.Now, PostRate: 0.25, PostBurst: 1})
		api := newAPI(srv)
		if ra := post(t, api, "C1"); ra != 0 {
			t.Fatalf("first post: 429 after %v", ra)
		}
		if ra := post(t, api, "C1"); ra != 4*time.Second {
			t.Errorf("got Retry-After %v, want 4s at one message per 4s", ra)
		}
		clock.Advance(1500 * time.Millisecond)
		if ra := post(t, api, "C1"); ra != 3*time.Second {
			t.Errorf("got Retry-After %v, want 3s (2.5s rounded up)", ra)
		}
		clock.Advance(2500 * time.Millisecond)
		if ra := post(t, api, "C1"); ra != 0 {
			t.Errorf("after 4s: got 429 after %v", ra)
		}
	})
	t.Run("InvalidMessageSpendsItsSlot", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0)
		srv := newServer(t, localslack.Options{Now: clock.Now, PostBurst: 1})
		api := newAPI(srv)
		if _, _, err := api.PostMessage("C1"); slackErr(err) != "no_text" {
			t.Fatalf("got %v, want no_text", err)
		}
		if ra := post(t, api, "C1"); ra != time.Second {
			t.Errorf("got Retry-After %v, want 1s: Slack paces before it reads the message", ra)
		}
		// An unknown channel is not paced: it is answered channel_not_found.
		for range 3 {
			if _, _, err := api.PostMessage("C404", slack.MsgOptionText("x", false)); slackErr(err) != "channel_not_found" {
				t.Errorf("got %v, want channel_not_found", err)
			}
		}
	})
	t.Run("OtherMethodsNotPaced", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0)
		srv := newServer(t, localslack.Options{Now: clock.Now})
		api := newAPI(srv)
		_, ts, err := api.PostMessage("C1", slack.MsgOptionText("v0", false))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			if _, _, _, err := api.UpdateMessage("C1", ts, slack.MsgOptionText(fmt.Sprint("v", i+1), false)); err != nil {
				t.Fatalf("chat.update %d: %v", i+1, err)
			}
			if _, err := api.PostEphemeral("C1", "U1", slack.MsgOptionText("only you", false)); err != nil {
				t.Fatalf("chat.postEphemeral %d: %v", i+1, err)
			}
		}
		if n := srv.RateLimited(""); n != 0 {
			t.Errorf("got %d 429s, want none", n)
		}
	})
	t.Run("Off", func(t *testing.T) {
		srv := newServer(t, localslack.Options{PostRate: -1})
		api := newAPI(srv)
		for i := range 20 {
			if ra := post(t, api, "C1"); ra != 0 {
				t.Fatalf("post %d: got 429 with the pace off", i+1)
			}
		}
	})
}

func TestRateLimitFor(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	srv := newServer(t, localslack.Options{Now: clock.Now})
	api := newAPI(srv)
	srv.RateLimitFor(25*time.Second, 20, "chat.postMessage", "chat.update", "views.publish", "conversations.open")

	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "hi", false, false), nil, nil)}}}
	calls := map[string]func() error{
		"chat.postMessage": func() error {
			_, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false))
			return err
		},
		"chat.update": func() error {
			_, _, _, err := api.UpdateMessage("C1", "1.000001", slack.MsgOptionText("x", false))
			return err
		},
		"views.publish": func() error { _, err := api.PublishView("U1", home, ""); return err },
		"conversations.open": func() error {
			_, _, _, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U1"}})
			return err
		},
	}
	check := func(when string, want time.Duration) {
		t.Helper()
		for method, call := range calls {
			err := call()
			var rl *slack.RateLimitedError
			switch {
			case want == 0 && errors.As(err, &rl):
				t.Errorf("%s %s: still rate limited", when, method)
			case want != 0 && (!errors.As(err, &rl) || rl.RetryAfter != want):
				t.Errorf("%s %s: got %v, want 429 after %v", when, method, err, want)
			}
		}
	}
	check("at the start:", 20*time.Second)
	clock.Advance(24 * time.Second)
	check("after 24s:", 20*time.Second)
	if _, err := api.GetUserInfo("U1"); err != nil {
		t.Errorf("a method outside the window: %v", err)
	}
	if n := len(srv.Messages("C1")); n != 0 {
		t.Errorf("got %d messages while rate limited, want 0", n)
	}
	if _, ok := srv.Home("U1"); ok {
		t.Error("a home view was published while rate limited")
	}
	clock.Advance(time.Second)
	check("after 25s:", 0)

	if got := srv.RateLimited(""); got != 8 {
		t.Errorf("RateLimited: got %d, want 8", got)
	}
	for _, c := range srv.Calls("views.publish") {
		if c.Status == 429 && (!c.Injected || c.Outcome != localslack.OutcomeRateLimited) {
			t.Errorf("got %+v, want an injected ratelimited call", c)
		}
	}

	t.Run("RetryAfterLeftInWindow", func(t *testing.T) {
		srv.RateLimitFor(10*time.Second, 0, "chat.postMessage")
		clock.Advance(3500 * time.Millisecond)
		if ra := post(t, api, "C1"); ra != 7*time.Second {
			t.Errorf("got Retry-After %v, want 7s (6.5s left, rounded up)", ra)
		}
	})
	t.Run("Heal", func(t *testing.T) {
		srv.RateLimitFor(time.Hour, 60)
		if _, err := api.GetUserInfo("U1"); err == nil {
			t.Fatal("a window with no methods named must cover every method")
		}
		srv.Heal()
		if _, err := api.GetUserInfo("U1"); err != nil {
			t.Errorf("after Heal: %v", err)
		}
	})
}

// The scenario the faults are for: Slack answers 429 for a while, the
// client waits Retry-After and tries again; once Slack recovers every
// requester has their message exactly once.
func TestRateLimitFor_RecoveryDeliversOnce(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	srv := newServer(t, localslack.Options{Now: clock.Now})
	users := []string{"U1", "U2", "U3"}
	srv.AddUser(localslack.User{ID: "U3", Name: "carol"})
	api := newAPI(srv)
	srv.RateLimitFor(25*time.Second, 20, "chat.postMessage")

	for _, u := range users {
		for attempt := 1; ; attempt++ {
			if attempt > 5 {
				t.Fatalf("%s: still failing after %d attempts", u, attempt)
			}
			_, _, err := api.PostMessage(u, slack.MsgOptionText("your access was approved", false))
			var rl *slack.RateLimitedError
			if errors.As(err, &rl) {
				clock.Advance(rl.RetryAfter)
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			break
		}
	}
	for _, u := range users {
		if n := len(srv.DMsTo(u)); n != 1 {
			t.Errorf("%s got %d messages, want exactly 1", u, n)
		}
	}
	outcomes := map[string]int{}
	for _, c := range srv.Calls("chat.postMessage") {
		outcomes[c.Outcome]++
	}
	if outcomes[localslack.OutcomeOK] != 3 || outcomes[localslack.OutcomeRateLimited] != 2 {
		t.Errorf("got outcomes %v, want 3 ok and 2 ratelimited (at 0s and 20s)", outcomes)
	}
}

func TestHangFor(t *testing.T) {
	t.Run("ClientTimeout", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0)
		srv := newServer(t, localslack.Options{Now: clock.Now})
		api := newAPI(srv)
		srv.HangFor(10*time.Second, "chat.postMessage")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the client's deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the client waited %v", d)
		}
		if !srv.WaitFor(5*time.Second, func() bool { return len(srv.Calls("chat.postMessage")) == 1 && srv.Held() == 0 }) {
			t.Fatalf("the abandoned call was not recorded: %+v, held %d", srv.Calls("chat.postMessage"), srv.Held())
		}
		c := srv.Calls("chat.postMessage")[0]
		if c.Outcome != localslack.OutcomeAbandoned || !c.Injected || c.Held <= 0 || c.Status != 0 {
			t.Errorf("got %+v, want an abandoned call", c)
		}
		if n := len(srv.Messages("C1")); n != 0 {
			t.Errorf("got %d messages from an abandoned call", n)
		}
		// Other methods are not held.
		if _, err := api.AuthTest(); err != nil {
			t.Errorf("auth.test: %v", err)
		}
	})
	t.Run("Heal", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		api := newAPI(srv)
		srv.HangFor(time.Minute, "chat.postMessage", "chat.update")
		errc := make(chan error, 1)
		go func() {
			_, _, err := api.PostMessage("C1", slack.MsgOptionText("late", false))
			errc <- err
		}()
		if !srv.WaitFor(5*time.Second, func() bool { return srv.Held() == 1 }) {
			t.Fatal("the call was not held")
		}
		time.Sleep(50 * time.Millisecond)
		if n := len(srv.Messages("C1")); n != 0 {
			t.Fatalf("got %d messages while held", n)
		}
		srv.Heal()
		if err := <-errc; err != nil {
			t.Fatalf("after Heal: %v", err)
		}
		if n := len(srv.Messages("C1")); n != 1 {
			t.Errorf("got %d messages, want the held one served once", n)
		}
		c := srv.Calls("chat.postMessage")[0]
		if c.Outcome != localslack.OutcomeOK || !c.Injected || c.Held < 50*time.Millisecond {
			t.Errorf("got %+v", c)
		}
		if _, _, err := api.PostMessage("C1", slack.MsgOptionText("now", false)); err != nil {
			t.Errorf("after Heal: %v", err)
		}
	})
	t.Run("FakeClockEndsWindow", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0)
		srv := newServer(t, localslack.Options{Now: clock.Now})
		api := newAPI(srv)
		srv.HangFor(10*time.Second, "views.publish")
		errc := make(chan error, 1)
		go func() {
			_, err := api.PublishView("U1", slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}}}, "")
			errc <- err
		}()
		if !srv.WaitFor(5*time.Second, func() bool { return srv.Held() == 1 }) {
			t.Fatal("the call was not held")
		}
		clock.Advance(10 * time.Second)
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("after the window: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("advancing the clock past the window did not release the call")
		}
		if _, ok := srv.Home("U1"); !ok {
			t.Error("the released call was not served")
		}
	})
	t.Run("WallClockCap", func(t *testing.T) {
		clock := clockwork.NewFakeClockAt(t0) // never advanced
		srv := newServer(t, localslack.Options{Now: clock.Now})
		api := newAPI(srv)
		srv.HangFor(300*time.Millisecond, "chat.postMessage")
		start := time.Now()
		if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); err != nil {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("the call came back after %v, want at least 300ms", d)
		}
		// The window is still open on the fake clock: the next call hangs too.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second call: got %v, want it held", err)
		}
	})
	t.Run("CloseReleases", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		api := newAPI(srv)
		srv.HangFor(time.Hour)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { _, _ = api.AuthTest() })
		}
		if !srv.WaitFor(5*time.Second, func() bool { return srv.Held() == 3 }) {
			t.Fatalf("got %d held calls, want 3", srv.Held())
		}
		done := make(chan struct{})
		go func() { srv.Close(); wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not release the held calls")
		}
		for _, c := range srv.Calls("auth.test") {
			if c.Outcome != localslack.OutcomeAbandoned {
				t.Errorf("got %+v, want abandoned", c)
			}
		}
	})
}
