package localslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// verificationToken is the deprecated verification token Slack still puts in
// payloads; slack-go's socketmode does not check it.
const verificationToken = "localslack-verification-token"

// response_url limits: Slack accepts five posts within thirty minutes.
const (
	responseURLUses = 5
	responseURLTTL  = 30 * time.Minute
)

// responseTarget is where a response_url post lands.
type responseTarget struct {
	user, channel string
	messageTS     string // the message a block action came from
	ephemeral     bool
	uses          int
	created       time.Time
}

func (s *Server) newResponseURLLocked(t *responseTarget) string {
	t.created = s.now()
	id := s.randHexLocked(24)
	s.responses[id] = t
	return s.hs.URL + "/response/" + id
}

func (s *Server) userLocked(userID string) (*User, error) {
	u, ok := s.users[userID]
	if !ok {
		return nil, fmt.Errorf("localslack: unknown user %s (AddUser it first)", userID)
	}
	return u, nil
}

func (s *Server) payloadUserLocked(u *User) map[string]any {
	return map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.opts.TeamID}
}

func (s *Server) payloadTeamLocked() map[string]any {
	return map[string]any{"id": s.opts.TeamID, "domain": s.opts.TeamDomain}
}

func (s *Server) channelNameLocked(id string) string {
	c, ok := s.channels[id]
	switch {
	case !ok:
		return ""
	case c.dmUser != "":
		return "directmessage"
	case strings.HasPrefix(id, "G"):
		return "mpdm"
	}
	return c.name
}

func (s *Server) actionTSLocked() string {
	return fmt.Sprintf("%d.%06d", s.now().Unix(), s.now().Nanosecond()/1000)
}

// SlashCommand sends a slash_commands envelope as if userID typed
// "command text" in channelID, waits for the ack and returns it. A payload
// in the ack (text/blocks, response_type) is shown as Slack shows it: an
// ephemeral message to the user, or a channel message for "in_channel".
func (s *Server) SlashCommand(userID, channelID, command, text string) (Ack, error) {
	s.mu.Lock()
	u, err := s.userLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	ch, ok := s.resolveChannelLocked(channelID)
	if !ok {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("localslack: unknown channel %s", channelID)
	}
	trig := s.newTriggerLocked(userID)
	payload := map[string]any{
		"token":                 verificationToken,
		"team_id":               s.opts.TeamID,
		"team_domain":           s.opts.TeamDomain,
		"channel_id":            ch,
		"channel_name":          s.channelNameLocked(ch),
		"user_id":               u.ID,
		"user_name":             u.Name,
		"command":               command,
		"text":                  text,
		"api_app_id":            s.opts.AppID,
		"is_enterprise_install": false,
		"response_url":          s.newResponseURLLocked(&responseTarget{user: userID, channel: ch}),
		"trigger_id":            trig,
	}
	s.mu.Unlock()

	ack, err := s.send("slash_commands", payload, nil, Ack{TriggerID: trig})
	if err != nil {
		return ack, err
	}
	s.showAckMessage(ack, userID, ch)
	return ack, nil
}

// showAckMessage displays a slash command's ack payload.
func (s *Server) showAckMessage(ack Ack, userID, ch string) {
	if len(ack.Payload) == 0 {
		return
	}
	v, err := decodeJSON(ack.Payload)
	body, ok := v.(map[string]any)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || !ok {
		s.violationLocked(ViolationProtocol, "ack", "slash command ack payload is not a JSON object", false)
		return
	}
	s.postReplyLocked("ack", body, &responseTarget{user: userID, channel: ch})
}

// postReplyLocked shows a message body from an ack or response_url: it
// replaces or deletes the original, or posts in the channel or
// ephemerally. It returns Slack's error code, or "".
func (s *Server) postReplyLocked(source string, body map[string]any, t *responseTarget) string {
	q := &request{method: source, args: map[string]any{}}
	for _, k := range []string{"text", "blocks", "attachments"} {
		if v, ok := body[k]; ok && v != nil {
			q.args[k] = v
		}
	}
	if boolField(body, "delete_original") {
		if t.messageTS == "" {
			return ""
		}
		if t.ephemeral {
			for _, e := range s.ephemerals {
				if e.TS == t.messageTS {
					e.Deleted = true
				}
			}
		} else if m := s.findMessageLocked(t.channel, t.messageTS); m != nil {
			m.Deleted = true
			m.UpdatedAt = s.now()
		}
		return ""
	}
	text, blocks, atts, e := s.composeLocked(q, true)
	if e != nil {
		code, _ := e["error"].(string)
		return code
	}
	if boolField(body, "replace_original") && t.messageTS != "" {
		if t.ephemeral {
			for _, eph := range s.ephemerals {
				if eph.TS == t.messageTS {
					eph.Text, eph.Blocks = text, blocks
				}
			}
			return ""
		}
		if m := s.findMessageLocked(t.channel, t.messageTS); m != nil && !m.Deleted {
			s.editMessageLocked(m, true, text, true, blocks, true, atts)
			return ""
		}
		return "message_not_found"
	}
	now := s.now()
	if strField(body, "response_type") == "in_channel" {
		m := &Message{Channel: t.channel, TS: s.nextTSLocked(), ThreadTS: strField(body, "thread_ts"), User: s.opts.BotUserID,
			Text: text, Blocks: blocks, Attachments: atts, PostedAt: now, UpdatedAt: now}
		s.messages[t.channel] = append(s.messages[t.channel], m)
		return ""
	}
	s.ephemerals = append(s.ephemerals, &Ephemeral{Channel: t.channel, User: t.user, TS: s.nextTSLocked(),
		Text: text, Blocks: blocks, At: now, Source: source})
	return ""
}

func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	data, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	s.mu.Lock()
	status, code := http.StatusOK, ""
	call := Call{Method: "response_url", At: s.now(), Args: map[string]string{}}
	t, ok := s.responses[id]
	v, err := decodeJSON(data)
	body, isObj := v.(map[string]any)
	switch {
	case !ok:
		status, code = http.StatusNotFound, "invalid_url"
	case s.now().Sub(t.created) > responseURLTTL:
		status, code = http.StatusNotFound, "expired_url"
	case t.uses >= responseURLUses:
		status, code = http.StatusNotFound, "used_url"
	case err != nil || !isObj:
		code = "invalid_payload"
	default:
		t.uses++
		for k, x := range body {
			b, _ := json.Marshal(x)
			call.Args[k] = strings.Trim(string(b), `"`)
		}
		code = s.postReplyLocked("response_url", body, t)
	}
	call.Status, call.OK, call.Error = status, code == "", code
	call.Outcome = outcome(status, call.OK)
	s.calls = append(s.calls, call)
	s.notifyLocked()
	s.mu.Unlock()

	resp := map[string]any{"ok": code == ""}
	if code != "" {
		resp["error"] = code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

// BlockActionArgs describe a click or selection. Set ChannelID and
// MessageTS for an element in a message, or ViewID for one in a modal or
// App Home. The element must exist there: its block_id, type, text and
// button value are taken from it, as Slack does.
type BlockActionArgs struct {
	ChannelID string
	MessageTS string
	ViewID    string
	ActionID  string
	// Value is checked against a button's stored value; for other elements
	// (plain_text_input dispatch) it is sent as the value.
	Value string
	// SelectedOption is the value of the chosen option of a static_select,
	// overflow or radio_buttons element.
	SelectedOption string
	SelectedUser   string
	SelectedDate   string
	// State holds input values in the view at click time (view actions).
	State Values
}

// ClickButton clicks the button with actionID in a message.
func (s *Server) ClickButton(userID, channelID, ts, actionID string) (Ack, error) {
	return s.BlockAction(userID, BlockActionArgs{ChannelID: channelID, MessageTS: ts, ActionID: actionID})
}

// BlockAction sends a block_actions interactive envelope with a fresh
// trigger_id (and, for messages, a response_url) and waits for the ack.
func (s *Server) BlockAction(userID string, a BlockActionArgs) (Ack, error) {
	s.mu.Lock()
	u, err := s.userLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	payload := map[string]any{
		"type":                  "block_actions",
		"user":                  s.payloadUserLocked(u),
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"team":                  s.payloadTeamLocked(),
		"enterprise":            nil,
		"is_enterprise_install": false,
	}
	var blocks []any
	meta := Ack{}
	if a.ViewID != "" {
		v, ok := s.views[a.ViewID]
		switch {
		case !ok:
			err = fmt.Errorf("localslack: no view %s", a.ViewID)
		case v.user != userID:
			err = fmt.Errorf("localslack: view %s belongs to %s, not %s", v.id, v.user, userID)
		case !v.open:
			err = fmt.Errorf("localslack: view %s is closed", v.id)
		}
		if err == nil && a.State != nil {
			var state map[string]any
			if state, err = s.buildStateLocked(v, a.State, false); err == nil {
				v.state = state
			}
		}
		if err != nil {
			s.mu.Unlock()
			return Ack{}, err
		}
		blocks, _ = v.body["blocks"].([]any)
		payload["container"] = map[string]any{"type": "view", "view_id": v.id}
		payload["view"] = s.viewJSONLocked(v)
		meta.ViewID = v.id
	} else {
		ch, ok := s.resolveChannelLocked(a.ChannelID)
		if !ok {
			s.mu.Unlock()
			return Ack{}, fmt.Errorf("localslack: unknown channel %s", a.ChannelID)
		}
		var raw json.RawMessage
		ephemeral := false
		if m := s.findMessageLocked(ch, a.MessageTS); m != nil && !m.Deleted {
			raw = m.Blocks
			payload["message"] = s.messageJSONLocked(m)
		} else if i := slices.IndexFunc(s.ephemerals, func(e *Ephemeral) bool {
			return e.TS == a.MessageTS && e.User == userID && !e.Deleted
		}); i >= 0 {
			raw, ephemeral = s.ephemerals[i].Blocks, true
		} else {
			s.mu.Unlock()
			return Ack{}, fmt.Errorf("localslack: no message %s in %s", a.MessageTS, ch)
		}
		if len(raw) > 0 {
			_ = json.Unmarshal(raw, &blocks)
		}
		payload["container"] = map[string]any{"type": "message", "message_ts": a.MessageTS, "channel_id": ch, "is_ephemeral": ephemeral}
		payload["channel"] = map[string]any{"id": ch, "name": s.channelNameLocked(ch)}
		payload["response_url"] = s.newResponseURLLocked(&responseTarget{user: userID, channel: ch, messageTS: a.MessageTS, ephemeral: ephemeral})
		payload["state"] = map[string]any{"values": map[string]any{}}
	}
	blockID, el, found := findElement(blocks, a.ActionID)
	if !found {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("localslack: no element with action_id %q there", a.ActionID)
	}
	action, err := s.actionLocked(blockID, el, a)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	payload["actions"] = []any{action}
	meta.TriggerID = s.newTriggerLocked(userID)
	payload["trigger_id"] = meta.TriggerID
	s.mu.Unlock()
	return s.send("interactive", payload, nil, meta)
}

func (s *Server) actionLocked(blockID string, el map[string]any, a BlockActionArgs) (map[string]any, error) {
	typ := strField(el, "type")
	action := map[string]any{"action_id": a.ActionID, "block_id": blockID, "type": typ, "action_ts": s.actionTSLocked()}
	switch typ {
	case "button", "workflow_button":
		action["text"] = el["text"]
		stored := strField(el, "value")
		if a.Value != "" && a.Value != stored {
			return nil, fmt.Errorf("localslack: button %q carries value %q, not %q: Slack sends the stored value", a.ActionID, stored, a.Value)
		}
		if _, ok := el["value"]; ok {
			action["value"] = stored
		}
		if st, ok := el["style"]; ok {
			action["style"] = st
		}
	case "static_select", "overflow", "radio_buttons", "external_select":
		opt := findOption(el, a.SelectedOption)
		if opt == nil && typ == "external_select" {
			opt = map[string]any{"text": map[string]any{"type": "plain_text", "text": a.SelectedOption}, "value": a.SelectedOption}
		}
		if opt == nil {
			return nil, fmt.Errorf("localslack: %s %q has no option %q", typ, a.ActionID, a.SelectedOption)
		}
		action["selected_option"] = opt
	case "users_select":
		action["selected_user"] = a.SelectedUser
	case "datepicker":
		action["selected_date"] = a.SelectedDate
	default:
		action["value"] = a.Value
	}
	return action, nil
}

// findOption finds the option with value in an element's options or
// option groups.
func findOption(el map[string]any, value string) map[string]any {
	var lists [][]any
	if o, ok := el["options"].([]any); ok {
		lists = append(lists, o)
	}
	if gs, ok := el["option_groups"].([]any); ok {
		for _, g := range gs {
			if gm, ok := g.(map[string]any); ok {
				if o, ok := gm["options"].([]any); ok {
					lists = append(lists, o)
				}
			}
		}
	}
	for _, l := range lists {
		for _, o := range l {
			if om, ok := o.(map[string]any); ok && om["value"] == value {
				return om
			}
		}
	}
	return nil
}
