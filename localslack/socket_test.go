package localslack_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/localslack"
)

func TestSocketMode_SlashCommand(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	var hello atomic.Pointer[socketmode.Request]
	got := make(chan slack.SlashCommand, 1)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		switch evt.Type {
		case socketmode.EventTypeHello:
			hello.Store(evt.Request)
		case socketmode.EventTypeSlashCommand:
			cmd := evt.Data.(slack.SlashCommand)
			got <- cmd
			_ = c.Ack(*evt.Request, map[string]any{"text": "Request for " + cmd.Text + " received"})
		}
	})

	ack, err := srv.SlashCommand("U1", "C1", "/access", "jira-admins 1h fixing")
	if err != nil {
		t.Fatalf("SlashCommand: %v", err)
	}
	cmd := <-got
	if cmd.Command != "/access" || cmd.Text != "jira-admins 1h fixing" || cmd.UserID != "U1" || cmd.UserName != "alice" ||
		cmd.ChannelID != "C1" || cmd.ChannelName != "it-access" || cmd.TeamID == "" || cmd.APIAppID == "" {
		t.Errorf("got command %+v", cmd)
	}
	if cmd.TriggerID == "" || cmd.TriggerID != ack.TriggerID {
		t.Errorf("got trigger_id %q, ack trigger %q", cmd.TriggerID, ack.TriggerID)
	}
	if !strings.HasPrefix(cmd.ResponseURL, "http://127.0.0.1:") {
		t.Errorf("got response_url %q", cmd.ResponseURL)
	}
	if got, want := ack.AllText(), "Request for jira-admins 1h fixing received"; got != want {
		t.Errorf("got ack text %q, want %q", got, want)
	}
	if ack.Latency <= 0 || ack.Type != "slash_commands" || ack.EnvelopeID == "" {
		t.Errorf("got ack %+v", ack)
	}
	h := hello.Load()
	if h == nil || h.NumConnections != 1 || h.ConnectionInfo.AppID != "A0JITBOT" || h.DebugInfo.Host == "" {
		t.Errorf("got hello %+v", h)
	}
	// Slack shows an ack payload to the user as an ephemeral message.
	if eph := srv.Ephemerals("U1"); len(eph) != 1 || eph[0].Text != "Request for jira-admins 1h fixing received" || eph[0].Source != "ack" {
		t.Errorf("got ephemerals %+v", eph)
	}
	if !srv.WaitFor(2*time.Second, func() bool { return srv.Pongs() > 0 }) {
		t.Error("client never answered a ping")
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("got %d connections, want 1", n)
	}
	if v := srv.Violations(); len(v) != 0 {
		t.Errorf("got violations %+v", v)
	}
}

func TestSocketMode_BlockActionAndResponseURL(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	actions := make(chan slack.InteractionCallback, 1)
	api := startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type != socketmode.EventTypeInteractive {
			ackAll(c, evt)
			return
		}
		cb := evt.Data.(slack.InteractionCallback)
		_ = c.Ack(*evt.Request)
		// Answer through response_url, replacing the original message.
		_, _, _, err := c.SendMessage("", slack.MsgOptionReplaceOriginal(cb.ResponseURL),
			slack.MsgOptionText("Approved by <@"+cb.User.ID+">", false))
		if err != nil {
			t.Errorf("response_url: %v", err)
		}
		actions <- cb
	})

	approve := slack.NewButtonBlockElement("approve", "req-42", slack.NewTextBlockObject("plain_text", "Approve", false, false)).WithStyle(slack.StylePrimary)
	ch, ts, err := api.PostMessage("U2", slack.MsgOptionText("alice asks for jira-admins", false),
		slack.MsgOptionBlocks(
			slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*alice* asks for `jira-admins`", false, false), nil, nil),
			slack.NewActionBlock("decide", approve),
		))
	if err != nil {
		t.Fatalf("PostMessage: %v", err)
	}
	if ch != srv.DMChannel("U2") {
		t.Errorf("got channel %q, want the DM %q", ch, srv.DMChannel("U2"))
	}

	ack, err := srv.ClickButton("U2", ch, ts, "approve")
	if err != nil {
		t.Fatalf("ClickButton: %v", err)
	}
	cb := <-actions
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("got callback %+v", cb)
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionID != "approve" || a.BlockID != "decide" || a.Value != "req-42" || a.Text.Text != "Approve" {
		t.Errorf("got action %+v", a)
	}
	if cb.Container.Type != "message" || cb.Container.ChannelID != ch || cb.Container.MessageTs != ts || cb.Channel.ID != ch {
		t.Errorf("got container %+v channel %+v", cb.Container, cb.Channel)
	}
	if cb.Message.Timestamp != ts || cb.User.ID != "U2" || cb.TriggerID == "" || cb.TriggerID != ack.TriggerID {
		t.Errorf("got message ts %q user %q trigger %q", cb.Message.Timestamp, cb.User.ID, cb.TriggerID)
	}
	msgs := srv.DMsTo("U2")
	if len(msgs) != 1 || msgs[0].Text != "Approved by <@U2>" || len(msgs[0].Edits) != 1 || msgs[0].HasAction("approve") {
		t.Errorf("got DMs %+v", msgs)
	}
	if _, err := srv.ClickButton("U2", ch, ts, "approve"); err == nil {
		t.Error("clicked a button the replaced message no longer has")
	}
	if _, err := srv.BlockAction("U2", localslack.BlockActionArgs{ChannelID: ch, MessageTS: ts, ActionID: "approve", Value: "forged"}); err == nil {
		t.Error("sent a button value the message does not carry")
	}
	if calls := srv.Calls("response_url"); len(calls) != 1 || !calls[0].OK {
		t.Errorf("got response_url calls %+v", calls)
	}
}

// requestModal is the modal the test bots open.
func requestModal(meta string) slack.ModalViewRequest {
	reason := slack.NewInputBlock("reason",
		slack.NewTextBlockObject("plain_text", "Reason", false, false), nil,
		slack.NewPlainTextInputBlockElement(nil, "reason_input"))
	duration := slack.NewInputBlock("duration",
		slack.NewTextBlockObject("plain_text", "Duration", false, false), nil,
		slack.NewOptionsSelectBlockElement("static_select", nil, "duration_select",
			slack.NewOptionBlockObject("1h", slack.NewTextBlockObject("plain_text", "1 hour", false, false), nil),
			slack.NewOptionBlockObject("8h", slack.NewTextBlockObject("plain_text", "8 hours", false, false), nil)))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject("plain_text", "Request access", false, false),
		Submit:          slack.NewTextBlockObject("plain_text", "Request", false, false),
		Close:           slack.NewTextBlockObject("plain_text", "Cancel", false, false),
		CallbackID:      "request",
		PrivateMetadata: meta,
		NotifyOnClose:   true,
		Blocks:          slack.Blocks{BlockSet: []slack.Block{reason, duration}},
	}
}

func TestSocketMode_ViewSubmission(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	submissions := make(chan slack.InteractionCallback, 4)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		switch evt.Type {
		case socketmode.EventTypeSlashCommand:
			cmd := evt.Data.(slack.SlashCommand)
			_ = c.Ack(*evt.Request)
			if _, err := c.OpenView(cmd.TriggerID, requestModal("jira-admins")); err != nil {
				t.Errorf("OpenView: %v", err)
			}
		case socketmode.EventTypeInteractive:
			cb := evt.Data.(slack.InteractionCallback)
			if cb.Type == slack.InteractionTypeViewSubmission {
				submissions <- cb
				if cb.View.State.Values["reason"]["reason_input"].Value == "" {
					_ = c.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(map[string]string{"reason": "Tell us why"}))
					return
				}
			}
			ackAll(c, evt)
		default:
			ackAll(c, evt)
		}
	})

	if _, err := srv.SlashCommand("U1", "C1", "/access", ""); err != nil {
		t.Fatalf("SlashCommand: %v", err)
	}
	if !srv.WaitFor(2*time.Second, func() bool { _, ok := srv.LastView("U1"); return ok }) {
		t.Fatal("no modal opened")
	}
	v, _ := srv.LastView("U1")
	if !v.Open || v.Title != "Request access" || v.CallbackID != "request" || v.PrivateMetadata != "jira-admins" {
		t.Errorf("got view %+v", v)
	}
	if len(v.BlockIDs()) != 2 {
		t.Errorf("got block ids %v", v.BlockIDs())
	}

	if _, err := srv.ViewSubmission("U1", v.ID, localslack.Values{"duration": {"duration_select": "1h"}}); err == nil {
		t.Error("submitted with a required input empty")
	}

	ack, err := srv.ViewSubmission("U1", v.ID, localslack.Values{
		"reason":   {"reason_input": ""},
		"duration": {"duration_select": "8h"},
	})
	if err != nil {
		t.Fatalf("ViewSubmission: %v", err)
	}
	<-submissions
	if ack.ResponseAction() != "errors" || ack.Errors()["reason"] != "Tell us why" {
		t.Errorf("got ack %s", ack.Payload)
	}
	if v, _ := srv.LastView("U1"); !v.Open {
		t.Error("modal closed after response_action errors")
	}

	ack, err = srv.ViewSubmission("U1", v.ID, localslack.Values{
		"reason":   {"reason_input": "fixing"},
		"duration": {"duration_select": "8h"},
	})
	if err != nil {
		t.Fatalf("ViewSubmission: %v", err)
	}
	cb := <-submissions
	if cb.View.ID != v.ID || cb.View.PrivateMetadata != "jira-admins" || cb.View.CallbackID != "request" {
		t.Errorf("got view %+v", cb.View)
	}
	if got := cb.View.State.Values["duration"]["duration_select"].SelectedOption.Value; got != "8h" {
		t.Errorf("got duration %q, want 8h", got)
	}
	if got := cb.View.State.Values["reason"]["reason_input"].Value; got != "fixing" {
		t.Errorf("got reason %q, want fixing", got)
	}
	if len(ack.Payload) != 0 {
		t.Errorf("got ack payload %s", ack.Payload)
	}
	if v, _ := srv.LastView("U1"); v.Open {
		t.Error("modal still open after a plain ack")
	}
	if len(srv.OpenViews("U1")) != 0 {
		t.Error("open views left")
	}
}

func TestSocketMode_ViewClosedAndUpdate(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	closed := make(chan slack.InteractionCallback, 1)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeInteractive {
			cb := evt.Data.(slack.InteractionCallback)
			switch cb.Type {
			case slack.InteractionTypeViewClosed:
				closed <- cb
			case slack.InteractionTypeViewSubmission:
				next := requestModal("step2")
				next.Title = slack.NewTextBlockObject("plain_text", "Confirm", false, false)
				_ = c.Ack(*evt.Request, slack.NewUpdateViewSubmissionResponse(&next))
				return
			}
		}
		ackAll(c, evt)
	})
	api := newAPI(srv)
	resp, err := api.OpenView(srv.NewTriggerID("U1"), requestModal("step1"))
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	ack, err := srv.ViewSubmission("U1", resp.View.ID, localslack.Values{
		"reason": {"reason_input": "x"}, "duration": {"duration_select": "1h"},
	})
	if err != nil || ack.ResponseAction() != "update" {
		t.Fatalf("ViewSubmission: %v %s", err, ack.Payload)
	}
	v, _ := srv.ViewByID(resp.View.ID)
	if !v.Open || v.Title != "Confirm" || v.PrivateMetadata != "step2" || v.Versions != 2 {
		t.Errorf("got view %+v", v)
	}
	if _, err := srv.ViewClosed("U1", v.ID); err != nil {
		t.Fatalf("ViewClosed: %v", err)
	}
	cb := <-closed
	if cb.View.ID != v.ID || cb.User.ID != "U1" {
		t.Errorf("got view_closed %+v", cb)
	}
	if _, err := api.UpdateView(requestModal("late"), "", "", v.ID); slackErr(err) != "not_found" {
		t.Errorf("views.update on a closed modal: got %v, want not_found", err)
	}
}

func TestSocketMode_DisconnectAndDrop(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	var mu sync.Mutex
	var seen []string
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			mu.Lock()
			seen = append(seen, evt.Data.(slack.SlashCommand).Text)
			mu.Unlock()
		}
		ackAll(c, evt)
	})
	if _, err := srv.SlashCommand("U1", "C1", "/access", "one"); err != nil {
		t.Fatalf("first command: %v", err)
	}

	if err := srv.Disconnect("refresh_requested"); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if _, err := srv.SlashCommand("U1", "C1", "/access", "two"); err != nil {
		t.Fatalf("command after refresh: %v", err)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("got %d connections after refresh_requested, want 2", n)
	}
	if n := len(srv.Calls("apps.connections.open")); n != 2 {
		t.Errorf("got %d apps.connections.open calls, want 2", n)
	}

	if err := srv.DropSocket(); err != nil {
		t.Fatalf("DropSocket: %v", err)
	}
	if _, err := srv.SlashCommand("U1", "C1", "/access", "three"); err != nil {
		t.Fatalf("command after drop: %v", err)
	}
	if n := srv.Connections(); n != 3 {
		t.Errorf("got %d connections after a drop, want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, ","); got != "one,two,three" {
		t.Errorf("got commands %s", got)
	}
}

func TestSocketMode_SendWaitsForConnection(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	type result struct {
		ack localslack.Ack
		err error
	}
	res := make(chan result, 1)
	go func() {
		ack, err := srv.SlashCommand("U1", "C1", "/access", "early")
		res <- result{ack, err}
	}()
	time.Sleep(50 * time.Millisecond)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) { ackAll(c, evt) })
	if r := <-res; r.err != nil {
		t.Fatalf("SlashCommand before the client connected: %v", r.err)
	}

	lonely := newServer(t, localslack.Options{ReconnectWait: 50 * time.Millisecond})
	if _, err := lonely.SlashCommand("U1", "C1", "/access", "x"); !errors.Is(err, localslack.ErrNoConnection) {
		t.Errorf("got %v, want ErrNoConnection", err)
	}
}

func TestSocketMode_Unacked(t *testing.T) {
	srv := newServer(t, localslack.Options{AckTimeout: 200 * time.Millisecond})
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand && evt.Data.(slack.SlashCommand).Text == "ignore" {
			return
		}
		ackAll(c, evt)
	})
	_, err := srv.SlashCommand("U1", "C1", "/access", "ignore")
	if !errors.Is(err, localslack.ErrNoAck) {
		t.Fatalf("got %v, want ErrNoAck", err)
	}
	if n := len(srv.Unacked()); n != 1 {
		t.Errorf("got %d unacked, want 1", n)
	}
	if _, err := srv.SlashCommand("U1", "C1", "/access", "fine"); err != nil {
		t.Errorf("next command: %v", err)
	}
}

func TestSocketMode_Concurrent(t *testing.T) {
	srv := newServer(t, localslack.Options{AckTimeout: 15 * time.Second})
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			_ = c.Ack(*evt.Request, map[string]any{"text": "echo " + evt.Data.(slack.SlashCommand).Text})
			return
		}
		ackAll(c, evt)
	})
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			text := fmt.Sprintf("req-%d", i)
			ack, err := srv.SlashCommand("U1", "C1", "/access", text)
			if err != nil {
				errs <- err
				return
			}
			if got := ack.AllText(); got != "echo "+text {
				errs <- fmt.Errorf("ack for %s carries %q", text, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(srv.Acks()); got != n {
		t.Errorf("got %d acks, want %d", got, n)
	}
}

func TestSocketMode_EventsAndRetry(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	type delivery struct {
		eventID string
		attempt int
		inner   string
	}
	got := make(chan delivery, 4)
	startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeEventsAPI {
			e := evt.Data.(slackevents.EventsAPIEvent)
			cb := e.Data.(*slackevents.EventsAPICallbackEvent)
			got <- delivery{cb.EventID, evt.Request.RetryAttempt, e.InnerEvent.Type}
		}
		ackAll(c, evt)
	})
	api := newAPI(srv)
	if _, err := api.PublishView("U1", slack.HomeTabViewRequest{Type: slack.VTHomeTab,
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}}}, ""); err != nil {
		t.Fatalf("PublishView: %v", err)
	}
	ack, err := srv.AppHomeOpened("U1")
	if err != nil {
		t.Fatalf("AppHomeOpened: %v", err)
	}
	first := <-got
	if first.eventID != ack.EventID || first.attempt != 0 || first.inner != "app_home_opened" {
		t.Errorf("got %+v, ack event %s", first, ack.EventID)
	}
	if _, err := srv.RetryEvent(ack.EventID, ""); err != nil {
		t.Fatalf("RetryEvent: %v", err)
	}
	if again := <-got; again.eventID != ack.EventID || again.attempt != 1 {
		t.Errorf("got retry %+v", again)
	}
	if _, err := srv.DirectMessage("U1", "status"); err != nil {
		t.Fatalf("DirectMessage: %v", err)
	}
	if dm := <-got; dm.inner != "message" {
		t.Errorf("got %+v", dm)
	}
}
