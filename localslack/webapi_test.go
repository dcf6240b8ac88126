package localslack_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/localslack"
)

func TestWebAPI_SlackGoMethods(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	srv.AddUserGroup("S1", "jira-admins-approvers", "U1", "U2")
	api := newAPI(srv)

	t.Run("AuthTest", func(t *testing.T) {
		resp, err := api.AuthTest()
		if err != nil || resp.UserID != srv.BotUserID() || resp.BotID == "" || resp.TeamID == "" {
			t.Errorf("got %+v, %v", resp, err)
		}
	})
	t.Run("UsersInfo", func(t *testing.T) {
		u, err := api.GetUserInfo("U1")
		if err != nil || u.Name != "alice" || u.RealName != "Alice A" || u.Profile.Email != "alice@example.com" || u.TZ != "Europe/Berlin" || u.TZOffset != 3600 {
			t.Errorf("got %+v, %v", u, err)
		}
		if _, err := api.GetUserInfo("U404"); slackErr(err) != "user_not_found" {
			t.Errorf("got %v, want user_not_found", err)
		}
	})
	t.Run("LookupByEmail", func(t *testing.T) {
		u, err := api.GetUserByEmail("BOB@example.com")
		if err != nil || u.ID != "U2" {
			t.Errorf("got %+v, %v", u, err)
		}
		if _, err := api.GetUserByEmail("nobody@example.com"); slackErr(err) != "users_not_found" {
			t.Errorf("got %v, want users_not_found", err)
		}
	})
	t.Run("UserGroups", func(t *testing.T) {
		groups, err := api.GetUserGroups(slack.GetUserGroupsOptionIncludeUsers(true))
		if err != nil || len(groups) != 1 || groups[0].Handle != "jira-admins-approvers" || !slices.Equal(groups[0].Users, []string{"U1", "U2"}) {
			t.Errorf("got %+v, %v", groups, err)
		}
		members, err := api.GetUserGroupMembers("S1")
		if err != nil || !slices.Equal(members, []string{"U1", "U2"}) {
			t.Errorf("got %v, %v", members, err)
		}
		if _, err := api.GetUserGroupMembers("S404"); slackErr(err) != "no_such_subteam" {
			t.Errorf("got %v, want no_such_subteam", err)
		}
	})
	t.Run("TeamInfo", func(t *testing.T) {
		team, err := api.GetTeamInfo()
		if err != nil || team.ID != "T0JITBOT" {
			t.Errorf("got %+v, %v", team, err)
		}
	})
	t.Run("ConversationsOpen", func(t *testing.T) {
		ch, _, _, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U1"}, ReturnIM: true})
		if err != nil || ch.ID != srv.DMChannel("U1") {
			t.Errorf("got %+v, %v", ch, err)
		}
		if _, _, _, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U404"}}); slackErr(err) != "user_not_found" {
			t.Errorf("got %v, want user_not_found", err)
		}
	})
	t.Run("Messages", func(t *testing.T) {
		ch, ts, err := api.PostMessage("#it-access", slack.MsgOptionText("digest", false),
			slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*3* inactive accounts", false, false), nil, nil)))
		if err != nil || ch != "C1" || ts == "" {
			t.Fatalf("PostMessage: %s %s %v", ch, ts, err)
		}
		if _, _, _, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("digest (updated)", false)); err != nil {
			t.Fatalf("UpdateMessage: %v", err)
		}
		msgs := srv.Messages("C1")
		if len(msgs) != 1 || msgs[0].Text != "digest (updated)" || !strings.Contains(msgs[0].AllText(), "*3* inactive accounts") ||
			len(msgs[0].Edits) != 1 || msgs[0].Edits[0].Text != "digest" {
			t.Errorf("got %+v", msgs)
		}
		if _, _, _, err := api.UpdateMessage(ch, "1.000001", slack.MsgOptionText("x", false)); slackErr(err) != "message_not_found" {
			t.Errorf("got %v, want message_not_found", err)
		}
		if _, _, err := api.PostMessage("C404", slack.MsgOptionText("x", false)); slackErr(err) != "channel_not_found" {
			t.Errorf("got %v, want channel_not_found", err)
		}
		if _, _, err := api.PostMessage("C1"); slackErr(err) != "no_text" {
			t.Errorf("got %v, want no_text", err)
		}
		if _, err := api.PostEphemeral("C1", "U1", slack.MsgOptionText("only you", false)); err != nil {
			t.Errorf("PostEphemeral: %v", err)
		}
		if e := srv.Ephemerals("U1"); len(e) != 1 || e[0].Text != "only you" || e[0].Channel != "C1" {
			t.Errorf("got ephemerals %+v", e)
		}
		if _, _, err := api.DeleteMessage(ch, ts); err != nil {
			t.Errorf("DeleteMessage: %v", err)
		}
		if len(srv.Messages("C1")) != 0 {
			t.Error("deleted message still listed")
		}
		if m, ok := srv.Message("C1", ts); !ok || !m.Deleted {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("DM", func(t *testing.T) {
		ch, _, err := api.PostMessage("U2", slack.MsgOptionText("your access expires in 10 minutes", false))
		if err != nil || ch != srv.DMChannel("U2") {
			t.Fatalf("got %s, %v", ch, err)
		}
		if dms := srv.DMsTo("U2"); len(dms) != 1 || dms[0].Text != "your access expires in 10 minutes" {
			t.Errorf("got %+v", dms)
		}
	})
	t.Run("Views", func(t *testing.T) {
		home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewHeaderBlock(slack.NewTextBlockObject("plain_text", "Your access", false, false)),
		}}}
		resp, err := api.PublishView("U1", home, "")
		if err != nil {
			t.Fatalf("PublishView: %v", err)
		}
		if _, err := api.PublishView("U1", home, "stale-hash"); slackErr(err) != "hash_conflict" {
			t.Errorf("got %v, want hash_conflict", err)
		}
		if _, err := api.PublishView("U1", home, resp.View.Hash); err != nil {
			t.Errorf("PublishView with the current hash: %v", err)
		}
		h, ok := srv.Home("U1")
		if !ok || h.ID != resp.View.ID || h.Versions != 2 || !strings.Contains(h.AllText(), "Your access") {
			t.Errorf("got home %+v", h)
		}

		opened, err := api.OpenView(srv.NewTriggerID("U1"), requestModal("m1"))
		if err != nil {
			t.Fatalf("OpenView: %v", err)
		}
		if opened.View.ID == "" || opened.View.Hash == "" || opened.View.RootViewID != opened.View.ID {
			t.Errorf("got view %+v", opened.View)
		}
		pushed, err := api.PushView(srv.NewTriggerID("U1"), requestModal("m2"))
		if err != nil || pushed.View.PreviousViewID != opened.View.ID || pushed.View.RootViewID != opened.View.ID {
			t.Fatalf("PushView: %+v %v", pushed, err)
		}
		if _, err := api.UpdateView(requestModal("m2b"), "", "wrong", pushed.View.ID); slackErr(err) != "hash_conflict" {
			t.Errorf("got %v, want hash_conflict", err)
		}
		if _, err := api.UpdateView(requestModal("m2b"), "", pushed.View.Hash, pushed.View.ID); err != nil {
			t.Errorf("UpdateView: %v", err)
		}
		if v, _ := srv.LastView("U1"); v.ID != pushed.View.ID || v.PrivateMetadata != "m2b" {
			t.Errorf("got last view %+v", v)
		}
		if got := len(srv.OpenViews("U1")); got != 2 {
			t.Errorf("got %d open views, want 2", got)
		}
	})
	if v := srv.Violations(); len(v) != 0 {
		t.Errorf("slack-go calls broke the spec or limits: %+v", v)
	}
	if calls := srv.Calls("auth.test"); len(calls) != 1 || !calls[0].OK || calls[0].Token != "bot" {
		t.Errorf("got auth.test calls %+v", calls)
	}
}

func TestWebAPI_BlockKitLimits(t *testing.T) {
	// Dozens of posts to one channel within a second: this test is about
	// content limits, so the chat.postMessage pace is off.
	srv := newServer(t, localslack.Options{PostRate: -1})
	api := newAPI(srv)

	t.Run("51Blocks", func(t *testing.T) {
		blocks := make([]slack.Block, 51)
		for i := range blocks {
			blocks[i] = slack.NewDividerBlock()
		}
		_, _, err := api.PostMessage("C1", slack.MsgOptionBlocks(blocks...))
		var e slack.SlackErrorResponse
		if !errors.As(err, &e) || e.Err != "invalid_blocks" {
			t.Fatalf("got %v, want invalid_blocks", err)
		}
		if got := strings.Join(e.ResponseMetadata.Messages, "\n"); !strings.Contains(got, "no more than 50 items allowed [json-pointer:/blocks]") {
			t.Errorf("got messages %q", got)
		}
		if _, _, err := api.PostMessage("C1", slack.MsgOptionBlocks(blocks[:50]...)); err != nil {
			t.Errorf("50 blocks: %v", err)
		}
	})
	t.Run("Section3001", func(t *testing.T) {
		long := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("é", 3001), false, false), nil, nil)
		_, _, err := api.PostMessage("C1", slack.MsgOptionBlocks(long))
		var e slack.SlackErrorResponse
		if !errors.As(err, &e) || e.Err != "invalid_blocks" ||
			!slices.Contains(e.ResponseMetadata.Messages, "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]") {
			t.Fatalf("got %v %v", err, e.ResponseMetadata.Messages)
		}
		ok := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("é", 3000), false, false), nil, nil)
		if _, _, err := api.PostMessage("C1", slack.MsgOptionBlocks(ok)); err != nil {
			t.Errorf("3000 characters: %v", err)
		}
	})

	button := func(text, actionID, value string) map[string]any {
		return map[string]any{"type": "actions", "elements": []any{map[string]any{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": text}, "action_id": actionID, "value": value,
		}}}
	}
	withElement := func(b map[string]any, key, value string) map[string]any {
		b["elements"].([]any)[0].(map[string]any)[key] = value
		return b
	}
	markdown := func(n int) map[string]any { return map[string]any{"type": "markdown", "text": strings.Repeat("m", n)} }
	input := func(el map[string]any) map[string]any {
		return map[string]any{"type": "input", "label": map[string]any{"type": "plain_text", "text": "Why"}, "element": el}
	}
	header := func(n int) map[string]any {
		return map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("h", n)}}
	}
	messageCases := []struct {
		name   string
		blocks []any
		want   string // "" means accepted
	}{
		{"Header150", []any{header(150)}, ""},
		{"Header151", []any{header(151)}, "must be less than 151 characters [json-pointer:/blocks/0/text/text]"},
		{"HeaderMrkdwn", []any{map[string]any{"type": "header", "text": map[string]any{"type": "mrkdwn", "text": "x"}}}, "must be plain_text"},
		{"ButtonText75", []any{button(strings.Repeat("b", 75), "a", "v")}, ""},
		{"ButtonText76", []any{button(strings.Repeat("b", 76), "a", "v")}, "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"},
		{"ActionID256", []any{button("ok", strings.Repeat("a", 256), "v")}, "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]"},
		{"Value2001", []any{button("ok", "a", strings.Repeat("v", 2001))}, "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]"},
		{"DuplicateBlockID", []any{
			map[string]any{"type": "divider", "block_id": "x"}, map[string]any{"type": "divider", "block_id": "x"},
		}, "block_id must be unique"},
		{"UnknownType", []any{map[string]any{"type": "carousel9"}}, "unsupported block type"},
		{"SectionFields11", []any{map[string]any{"type": "section", "fields": func() []any {
			f := make([]any, 11)
			for i := range f {
				f[i] = map[string]any{"type": "mrkdwn", "text": "x"}
			}
			return f
		}()}}, "no more than 10 items allowed [json-pointer:/blocks/0/fields]"},
		{"FieldText2001", []any{map[string]any{"type": "section", "fields": []any{
			map[string]any{"type": "mrkdwn", "text": strings.Repeat("f", 2001)},
		}}}, "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]"},
		{"Actions26", []any{map[string]any{"type": "actions", "elements": func() []any {
			e := make([]any, 26)
			for i := range e {
				e[i] = map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "b"}, "action_id": fmt.Sprint("a", i)}
			}
			return e
		}()}}, "no more than 25 items allowed [json-pointer:/blocks/0/elements]"},
		{"Context11", []any{map[string]any{"type": "context", "elements": func() []any {
			e := make([]any, 11)
			for i := range e {
				e[i] = map[string]any{"type": "mrkdwn", "text": "c"}
			}
			return e
		}()}}, "no more than 10 items allowed [json-pointer:/blocks/0/elements]"},
		{"AccessibilityLabel76", []any{withElement(button("ok", "a", "v"), "accessibility_label", strings.Repeat("l", 76))},
			"must be less than 76 characters [json-pointer:/blocks/0/elements/0/accessibility_label]"},
		{"Markdown12000", []any{markdown(6000), markdown(6000)}, ""},
		{"MarkdownTotal12001", []any{markdown(6000), markdown(6001)}, "markdown blocks must be less than 12001 characters in total [json-pointer:/blocks/1/text]"},
		{"ButtonInInput", []any{input(map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": "b"}})},
			`element type "button" is not allowed in an input block`},
		{"NumberInputWithoutDecimal", []any{input(map[string]any{"type": "number_input"})}, "missing required field: is_decimal_allowed"},
		{"NumberInput", []any{input(map[string]any{"type": "number_input", "is_decimal_allowed": false})}, ""},
		{"DatepickerBadDate", []any{input(map[string]any{"type": "datepicker", "initial_date": "01/03/2026"})}, "YYYY-MM-DD [json-pointer:/blocks/0/element/initial_date]"},
		{"TimepickerBadTime", []any{input(map[string]any{"type": "timepicker", "initial_time": "9am"})}, "HH:mm"},
		{"MultiSelectMax0", []any{input(map[string]any{"type": "multi_users_select", "max_selected_items": 0})}, "must be at least 1"},
		{"FileInput11", []any{input(map[string]any{"type": "file_input", "max_files": 11})}, "must be between 1 and 10"},
	}
	for _, tc := range messageCases {
		t.Run(tc.name, func(t *testing.T) {
			_, out := rawPost(t, srv, "chat.postMessage", srv.BotToken(), url.Values{"channel": {"C1"}, "blocks": {mustJSON(tc.blocks)}})
			if tc.want == "" {
				if out["ok"] != true {
					t.Errorf("got %v, want ok", out)
				}
				return
			}
			if out["error"] != "invalid_blocks" || !strings.Contains(metaMessages(out), tc.want) {
				t.Errorf("got %v, want invalid_blocks with %q", out, tc.want)
			}
		})
	}

	modal := func(mut func(v map[string]any)) map[string]any {
		v := map[string]any{
			"type":   "modal",
			"title":  map[string]any{"type": "plain_text", "text": "Request access"},
			"submit": map[string]any{"type": "plain_text", "text": "Request"},
			"blocks": []any{section("hello")},
		}
		mut(v)
		return v
	}
	many := func(n int) []any {
		b := make([]any, n)
		for i := range b {
			b[i] = map[string]any{"type": "divider"}
		}
		return b
	}
	viewCases := []struct {
		name string
		view map[string]any
		want string
	}{
		{"Modal100Blocks", modal(func(v map[string]any) { v["blocks"] = many(100) }), ""},
		{"Modal101Blocks", modal(func(v map[string]any) { v["blocks"] = many(101) }), "no more than 100 items allowed [json-pointer:/view/blocks]"},
		{"Title24", modal(func(v map[string]any) {
			v["title"] = map[string]any{"type": "plain_text", "text": strings.Repeat("t", 24)}
		}), ""},
		{"Title25", modal(func(v map[string]any) {
			v["title"] = map[string]any{"type": "plain_text", "text": strings.Repeat("t", 25)}
		}), "must be less than 25 characters [json-pointer:/view/title/text]"},
		{"NoTitle", modal(func(v map[string]any) { delete(v, "title") }), "missing required field: title"},
		{"Submit25", modal(func(v map[string]any) {
			v["submit"] = map[string]any{"type": "plain_text", "text": strings.Repeat("s", 25)}
		}), "[json-pointer:/view/submit/text]"},
		{"Close25", modal(func(v map[string]any) {
			v["close"] = map[string]any{"type": "plain_text", "text": strings.Repeat("c", 25)}
		}), "[json-pointer:/view/close/text]"},
		{"PrivateMetadata3001", modal(func(v map[string]any) { v["private_metadata"] = strings.Repeat("m", 3001) }), "must be less than 3001 characters [json-pointer:/view/private_metadata]"},
		{"CallbackID256", modal(func(v map[string]any) { v["callback_id"] = strings.Repeat("c", 256) }), "[json-pointer:/view/callback_id]"},
		{"InputWithoutSubmit", modal(func(v map[string]any) {
			delete(v, "submit")
			v["blocks"] = []any{map[string]any{"type": "input", "label": map[string]any{"type": "plain_text", "text": "Why"},
				"element": map[string]any{"type": "plain_text_input", "action_id": "why"}}}
		}), "submit"},
	}
	for _, tc := range viewCases {
		t.Run(tc.name, func(t *testing.T) {
			out := rawJSON(t, srv, "views.open", srv.BotToken(), map[string]any{"trigger_id": srv.NewTriggerID("U1"), "view": tc.view})
			if tc.want == "" {
				if out["ok"] != true {
					t.Errorf("got %v, want ok", out)
				}
				return
			}
			if out["error"] != "invalid_arguments" || !strings.Contains(metaMessages(out), tc.want) {
				t.Errorf("got %v, want invalid_arguments with %q", out, tc.want)
			}
		})
	}
	t.Run("Attachments101", func(t *testing.T) {
		atts := make([]any, 101)
		for i := range atts {
			atts[i] = map[string]any{"text": "a"}
		}
		_, out := rawPost(t, srv, "chat.postMessage", srv.BotToken(), url.Values{"channel": {"C1"}, "text": {"x"}, "attachments": {mustJSON(atts)}})
		if out["error"] != "too_many_attachments" {
			t.Errorf("got %v, want too_many_attachments", out)
		}
	})
	t.Run("Home101Blocks", func(t *testing.T) {
		out := rawJSON(t, srv, "views.publish", srv.BotToken(), map[string]any{"user_id": "U1", "view": map[string]any{"type": "home", "blocks": many(101)}})
		if out["error"] != "invalid_arguments" || !strings.Contains(metaMessages(out), "no more than 100 items allowed") {
			t.Errorf("got %v", out)
		}
	})

	v := srv.Violations()
	if len(v) == 0 || v[0].Kind != localslack.ViolationBlockKit || v[0].Method != "chat.postMessage" {
		t.Errorf("got violations %+v", v)
	}
	for _, x := range v {
		if x.Kind != localslack.ViolationBlockKit {
			t.Errorf("unexpected violation %+v", x)
		}
	}
}

func TestWebAPI_TriggerIDs(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	srv := newServer(t, localslack.Options{Now: clock})
	api := newAPI(srv)

	trig := srv.NewTriggerID("U1")
	if _, err := api.OpenView(trig, requestModal("a")); err != nil {
		t.Fatalf("fresh trigger: %v", err)
	}
	if _, err := api.OpenView(trig, requestModal("a")); slackErr(err) != "invalid_trigger_id" {
		t.Errorf("reused trigger: got %v, want invalid_trigger_id", err)
	}
	if _, err := api.OpenView("123.456.deadbeef", requestModal("a")); slackErr(err) != "invalid_trigger_id" {
		t.Errorf("unknown trigger: got %v, want invalid_trigger_id", err)
	}
	late := srv.NewTriggerID("U1")
	advance(3*time.Second + time.Millisecond)
	if _, err := api.OpenView(late, requestModal("a")); slackErr(err) != "expired_trigger_id" {
		t.Errorf("expired trigger: got %v, want expired_trigger_id", err)
	}
	onTime := srv.NewTriggerID("U1")
	advance(3 * time.Second)
	if _, err := api.OpenView(onTime, requestModal("a")); err != nil {
		t.Errorf("trigger at exactly the TTL: %v", err)
	}
}

func TestWebAPI_TokenErrors(t *testing.T) {
	t.Run("InvalidAuth", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		bad := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.APIURL()))
		if _, err := bad.AuthTest(); slackErr(err) != "invalid_auth" {
			t.Errorf("got %v, want invalid_auth", err)
		}
	})
	t.Run("NotAuthed", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		if _, out := rawPost(t, srv, "auth.test", "", url.Values{}); out["error"] != "not_authed" {
			t.Errorf("got %v, want not_authed", out)
		}
		// A token in a JSON body does not count, as in Slack.
		if out := rawJSON(t, srv, "auth.test", "", map[string]any{"token": srv.BotToken()}); out["error"] != "not_authed" {
			t.Errorf("got %v, want not_authed", out)
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		api := newAPI(srv)
		srv.RevokeBotToken()
		if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); slackErr(err) != "token_revoked" {
			t.Errorf("got %v, want token_revoked", err)
		}
	})
	t.Run("RevokedAppToken", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		srv.RevokeAppToken()
		if _, _, err := newAPI(srv).StartSocketModeContext(t.Context()); slackErr(err) != "token_revoked" {
			t.Errorf("got %v, want token_revoked", err)
		}
	})
	t.Run("MissingScope", func(t *testing.T) {
		srv := newServer(t, localslack.Options{Scopes: []string{"chat:write", "users:read"}})
		api := newAPI(srv)
		_, err := api.GetUserByEmail("alice@example.com")
		var e slack.SlackErrorResponse
		if !errors.As(err, &e) || e.Err != "missing_scope" || e.Needed != "users:read.email" || e.Provided != "chat:write,users:read" {
			t.Errorf("got %#v, want missing_scope needing users:read.email", err)
		}
		// Without users:read.email, users.info leaves the email out, as Slack does.
		if u, err := api.GetUserInfo("U1"); err != nil || u.Profile.Email != "" {
			t.Errorf("got %+v, %v", u, err)
		}
		srv.SetScopes("chat:write", "users:read", "users:read.email")
		if _, err := api.GetUserByEmail("alice@example.com"); err != nil {
			t.Errorf("after SetScopes: %v", err)
		}
	})
	t.Run("WrongTokenType", func(t *testing.T) {
		srv := newServer(t, localslack.Options{})
		app := slack.New(srv.AppToken(), slack.OptionAPIURL(srv.APIURL()))
		if _, _, err := app.PostMessage("C1", slack.MsgOptionText("x", false)); slackErr(err) != "not_allowed_token_type" {
			t.Errorf("got %v, want not_allowed_token_type", err)
		}
		bot := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(srv.BotToken()))
		if _, _, err := bot.StartSocketModeContext(t.Context()); slackErr(err) != "not_allowed_token_type" {
			t.Errorf("got %v, want not_allowed_token_type", err)
		}
	})
}

func TestWebAPI_RateLimit(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	api := newAPI(srv)
	srv.RateLimit("chat.postMessage", 2, 7)
	for range 2 {
		_, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
			t.Fatalf("got %v, want *slack.RateLimitedError after 7s", err)
		}
	}
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("third call: %v", err)
	}
	calls := srv.Calls("chat.postMessage")
	if len(calls) != 3 || calls[0].Status != 429 || calls[0].Error != "ratelimited" || calls[2].Status != 200 {
		t.Errorf("got calls %+v", calls)
	}
	if n := len(srv.Messages("C1")); n != 1 {
		t.Errorf("got %d messages, want 1", n)
	}
}

func TestSpec_Validation(t *testing.T) {
	rec := &recordingTB{TB: t}
	srv := localslack.New(rec, localslack.Options{})
	if srv.SpecPath() == "" {
		t.Skip("slack spec not found: nothing to validate against")
	}
	srv.AddChannel("C1", "it-access")

	t.Run("MissingRequired", func(t *testing.T) {
		_, out := rawPost(t, srv, "chat.postMessage", srv.BotToken(), url.Values{"text": {"no channel"}})
		if out["error"] != "channel_not_found" {
			t.Errorf("got %v, want channel_not_found", out)
		}
		errs := rec.errors()
		if len(errs) != 1 || !strings.Contains(errs[0], `missing required parameter "channel"`) {
			t.Errorf("got test errors %q", errs)
		}
	})
	t.Run("WrongType", func(t *testing.T) {
		_, out := rawPost(t, srv, "chat.postMessage", srv.BotToken(), url.Values{"channel": {"C1"}, "text": {"x"}, "unfurl_links": {"perhaps"}})
		if out["ok"] != true {
			t.Errorf("got %v", out)
		}
		if errs := rec.errors(); len(errs) != 2 || !strings.Contains(errs[1], `parameter "unfurl_links"`) {
			t.Errorf("got test errors %q", errs)
		}
	})
	t.Run("UnknownParamOnlyLogged", func(t *testing.T) {
		rawPost(t, srv, "chat.postMessage", srv.BotToken(), url.Values{"channel": {"C1"}, "text": {"x"}, "frobnicate": {"1"}})
		if errs := rec.errors(); len(errs) != 2 {
			t.Errorf("an undocumented parameter failed the test: %q", errs)
		}
	})
	t.Run("UnknownMethod", func(t *testing.T) {
		if _, out := rawPost(t, srv, "chat.frobnicate", srv.BotToken(), url.Values{}); out["error"] != "unknown_method" {
			t.Errorf("got %v", out)
		}
		if errs := rec.errors(); len(errs) != 3 {
			t.Errorf("got test errors %q", errs)
		}
	})
	kinds := map[string]int{}
	for _, v := range srv.Violations() {
		kinds[v.Kind]++
	}
	if kinds[localslack.ViolationSpec] != 2 || kinds[localslack.ViolationUnknownMethod] != 1 {
		t.Errorf("got violation kinds %v", kinds)
	}

	t.Run("StrictUnknownParams", func(t *testing.T) {
		strict := localslack.New(t, localslack.Options{StrictUnknownParams: true, StrictSpec: new(false)})
		strict.AddChannel("C1", "it-access")
		rawPost(t, strict, "chat.postMessage", strict.BotToken(), url.Values{"channel": {"C1"}, "text": {"x"}, "frobnicate": {"1"}})
		if v := strict.Violations(); len(v) != 1 || v[0].Kind != localslack.ViolationUnknownParam {
			t.Errorf("got %+v", v)
		}
	})
}

func TestSpec_Absent(t *testing.T) {
	srv := localslack.New(t, localslack.Options{SpecPath: t.TempDir() + "/missing.json"})
	if srv.SpecPath() != "" {
		t.Fatalf("got spec %q", srv.SpecPath())
	}
	srv.AddChannel("C1", "it-access")
	if _, out := rawPost(t, srv, "chat.postMessage", srv.BotToken(), url.Values{"channel": {"C1"}, "text": {"x"}}); out["ok"] != true {
		t.Errorf("got %v", out)
	}
}

func TestWebAPI_InjectedFailures(t *testing.T) {
	srv := newServer(t, localslack.Options{})
	api := newAPI(srv)
	srv.FailNext("chat.postMessage", 1, "fatal_error")
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); slackErr(err) != "fatal_error" {
		t.Errorf("got %v, want fatal_error", err)
	}
	srv.ServerErrorNext("chat.postMessage", 1, 503)
	_, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != 503 {
		t.Errorf("got %v, want StatusCodeError 503", err)
	}
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}
