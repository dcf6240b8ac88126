package localslack_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/localslack"
)

// TestSocketMode_RawProtocol speaks Socket Mode with a bare websocket, to pin
// the frames independently of slack-go.
func TestSocketMode_RawProtocol(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	_, out := rawPost(t, srv, "apps.connections.open", srv.AppToken(), url.Values{})
	wsURL, _ := out["url"].(string)
	u, err := url.Parse(wsURL)
	if out["ok"] != true || err != nil || u.Scheme != "ws" || u.Hostname() != "127.0.0.1" || u.Path != "/socket" || u.Query().Get("ticket") == "" {
		t.Fatalf("got %v", out)
	}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reused ticket: got %v", err)
	}

	pinged := make(chan string, 4)
	conn.SetPingHandler(func(data string) error {
		pinged <- data
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	ponged := make(chan string, 1)
	conn.SetPongHandler(func(data string) error { ponged <- data; return nil })

	var hello socketmode.Request
	if err := conn.ReadJSON(&hello); err != nil {
		t.Fatalf("read hello: %v", err)
	}
	if hello.Type != "hello" || hello.NumConnections != 1 || hello.ConnectionInfo.AppID != "A0JITBOT" || hello.DebugInfo.ApproximateConnectionTime == 0 {
		t.Errorf("got hello %+v", hello)
	}

	if err := conn.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	type result struct {
		ack localslack.Ack
		err error
	}
	res := make(chan result, 1)
	go func() {
		ack, err := srv.SlashCommand("U1", "C1", "/access", "confluence-finance 2h audit")
		res <- result{ack, err}
	}()
	// Control frames are handled while reading the next data frame.
	var env socketmode.Request
	if err := conn.ReadJSON(&env); err != nil {
		t.Fatalf("read envelope: %v", err)
	}
	if env.Type != "slash_commands" || env.EnvelopeID == "" || !env.AcceptsResponsePayload {
		t.Errorf("got envelope %+v", env)
	}
	var cmd slack.SlashCommand
	if err := json.Unmarshal(env.Payload, &cmd); err != nil || cmd.Text != "confluence-finance 2h audit" || cmd.TriggerID == "" {
		t.Errorf("got payload %s (%v)", env.Payload, err)
	}

	if err := conn.WriteJSON(map[string]any{"envelope_id": env.EnvelopeID, "payload": map[string]any{"text": "ok"}}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	r := <-res
	if r.err != nil || r.ack.EnvelopeID != env.EnvelopeID || r.ack.AllText() != "ok" {
		t.Errorf("got %+v, %v", r.ack, r.err)
	}

	// A second ack for the same envelope is a protocol violation.
	if err := conn.WriteJSON(map[string]any{"envelope_id": env.EnvelopeID}); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if !srv.WaitFor(time.Second, func() bool { return len(srv.Violations()) == 1 }) {
		t.Fatalf("got violations %+v", srv.Violations())
	}
	if v := srv.Violations()[0]; v.Kind != localslack.ViolationProtocol {
		t.Errorf("got %+v", v)
	}

	// Disconnect sends the disconnect frame, then a close.
	if err := srv.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	var bye socketmode.Request
	if err := conn.ReadJSON(&bye); err != nil || bye.Type != "disconnect" || bye.Reason != "refresh_requested" {
		t.Errorf("got %+v, %v", bye, err)
	}
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("got %v, want a normal close", err)
	}
	// The server's ping and the pong to ours were read along the way.
	select {
	case <-pinged:
	default:
		t.Error("the server never pinged")
	}
	select {
	case data := <-ponged:
		if data != "hi" {
			t.Errorf("got pong %q, want hi", data)
		}
	default:
		t.Error("the server never answered the ping")
	}
}

func TestSocketMode_ViewActions(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	got := make(chan slack.InteractionCallback, 2)
	api := startBot(t, srv, func(c *socketmode.Client, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeInteractive {
			got <- evt.Data.(slack.InteractionCallback)
		}
		ackAll(c, evt)
	})
	release := slack.NewButtonBlockElement("release", "grant-7", slack.NewTextBlockObject("plain_text", "Release early", false, false))
	pick := slack.NewOptionsSelectBlockElement("static_select", nil, "extend",
		slack.NewOptionBlockObject("1h", slack.NewTextBlockObject("plain_text", "1 hour", false, false), nil),
		slack.NewOptionBlockObject("4h", slack.NewTextBlockObject("plain_text", "4 hours", false, false), nil))
	home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, PrivateMetadata: "home", Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewActionBlock("grant-7", release, pick),
	}}}
	if _, err := api.PublishView("U1", home, ""); err != nil {
		t.Fatalf("PublishView: %v", err)
	}
	h, _ := srv.Home("U1")

	if _, err := srv.BlockAction("U1", localslack.BlockActionArgs{ViewID: h.ID, ActionID: "release"}); err != nil {
		t.Fatalf("BlockAction: %v", err)
	}
	cb := <-got
	if cb.Container.Type != "view" || cb.Container.ViewID != h.ID || cb.View.ID != h.ID || cb.View.PrivateMetadata != "home" ||
		cb.ResponseURL != "" || cb.TriggerID == "" || cb.ActionCallback.BlockActions[0].Value != "grant-7" {
		t.Errorf("got %+v", cb)
	}
	if _, err := srv.BlockAction("U1", localslack.BlockActionArgs{ViewID: h.ID, ActionID: "extend", SelectedOption: "4h"}); err != nil {
		t.Fatalf("BlockAction: %v", err)
	}
	cb = <-got
	if a := cb.ActionCallback.BlockActions[0]; a.Type != "static_select" || a.SelectedOption.Value != "4h" || a.SelectedOption.Text.Text != "4 hours" {
		t.Errorf("got action %+v", a)
	}
	if _, err := srv.BlockAction("U1", localslack.BlockActionArgs{ViewID: h.ID, ActionID: "extend", SelectedOption: "99h"}); err == nil {
		t.Error("selected an option the select does not offer")
	}
	if _, err := srv.BlockAction("U2", localslack.BlockActionArgs{ViewID: h.ID, ActionID: "release"}); err == nil {
		t.Error("clicked in another user's Home")
	}
}
