package localslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"
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

// Values are a view's input values, block_id → action_id → value. A value
// is a string (a text input's value; the selected option's value for
// static_select, radio_buttons; a user, conversation or channel id for the
// *_select elements; "2026-01-31" for a datepicker), a []string for
// multi-selects and checkboxes, or a map[string]any / slack.BlockAction
// sent as is.
type Values map[string]map[string]any

// buildStateLocked turns Values into view.state.values, checking them
// against the view's elements. With submit, required inputs must be
// filled, as Slack's client enforces before it submits.
func (s *Server) buildStateLocked(v *viewRecord, values Values, submit bool) (map[string]any, error) {
	blocks, _ := v.body["blocks"].([]any)
	state := map[string]any{}
	used := 0
	for _, b := range blocks {
		bm, ok := b.(map[string]any)
		if !ok {
			continue
		}
		bid := strField(bm, "block_id")
		for _, el := range blockElements(bm) {
			typ := strField(el, "type")
			if !interactiveElementTypes[typ] || typ == "button" || typ == "overflow" || typ == "workflow_button" {
				continue
			}
			aid := strField(el, "action_id")
			given, present := values[bid][aid]
			if present {
				used++
			}
			isInput := bm["type"] == "input"
			if !present && !isInput {
				continue
			}
			if !present && submit && !boolField(bm, "optional") {
				return nil, fmt.Errorf("localslack: required input %s/%s has no value", bid, aid)
			}
			entry, err := stateEntry(el, given, present)
			if err != nil {
				return nil, fmt.Errorf("localslack: input %s/%s: %w", bid, aid, err)
			}
			bs, _ := state[bid].(map[string]any)
			if bs == nil {
				bs = map[string]any{}
				state[bid] = bs
			}
			bs[aid] = entry
		}
	}
	total := 0
	for _, m := range values {
		total += len(m)
	}
	if used != total {
		var known []string
		for bid, m := range values {
			for aid := range m {
				if _, ok := state[bid].(map[string]any)[aid]; !ok {
					known = append(known, bid+"/"+aid)
				}
			}
		}
		slices.Sort(known)
		return nil, fmt.Errorf("localslack: view %s has no input %s", v.id, strings.Join(known, ", "))
	}
	return state, nil
}

func stateEntry(el map[string]any, given any, present bool) (map[string]any, error) {
	typ := strField(el, "type")
	out := map[string]any{"type": typ}
	key, multi := "value", false
	switch typ {
	case "static_select", "external_select", "radio_buttons":
		key = "selected_option"
	case "multi_static_select", "multi_external_select", "checkboxes":
		key, multi = "selected_options", true
	case "users_select":
		key = "selected_user"
	case "multi_users_select":
		key, multi = "selected_users", true
	case "conversations_select":
		key = "selected_conversation"
	case "multi_conversations_select":
		key, multi = "selected_conversations", true
	case "channels_select":
		key = "selected_channel"
	case "multi_channels_select":
		key, multi = "selected_channels", true
	case "datepicker":
		key = "selected_date"
	case "timepicker":
		key = "selected_time"
	case "datetimepicker":
		key = "selected_date_time"
	}
	if !present {
		if multi {
			out[key] = []any{}
		} else {
			out[key] = nil
		}
		return out, nil
	}
	switch g := given.(type) {
	case map[string]any:
		for k, x := range g {
			out[k] = x
		}
		return out, nil
	case slack.BlockAction:
		b, _ := json.Marshal(g)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for k, x := range m {
			out[k] = x
		}
		if g.Type == "" {
			out["type"] = typ
		}
		return out, nil
	case string:
		if multi {
			return nil, fmt.Errorf("%s takes a []string", typ)
		}
		if key == "selected_option" {
			opt := findOption(el, g)
			if opt == nil && typ == "external_select" {
				opt = map[string]any{"text": map[string]any{"type": "plain_text", "text": g}, "value": g}
			}
			if opt == nil {
				return nil, fmt.Errorf("no option %q", g)
			}
			out[key] = opt
			return out, nil
		}
		if key == "selected_date_time" {
			return nil, fmt.Errorf("datetimepicker takes an int64 Unix time")
		}
		out[key] = g
		return out, nil
	case []string:
		if !multi {
			return nil, fmt.Errorf("%s takes a string", typ)
		}
		if key == "selected_options" {
			opts := []any{}
			for _, val := range g {
				opt := findOption(el, val)
				if opt == nil && typ == "multi_external_select" {
					opt = map[string]any{"text": map[string]any{"type": "plain_text", "text": val}, "value": val}
				}
				if opt == nil {
					return nil, fmt.Errorf("no option %q", val)
				}
				opts = append(opts, opt)
			}
			out[key] = opts
			return out, nil
		}
		out[key] = g
		return out, nil
	case int64:
		if key != "selected_date_time" {
			return nil, fmt.Errorf("%s does not take a number", typ)
		}
		out[key] = g
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value type %T", given)
}

// ViewSubmission submits the user's top modal viewID with values, waits for
// the ack and applies its response_action as Slack does: none closes the
// view, "errors" keeps it open, "update" replaces it, "push" pushes a new
// one, "clear" closes the whole stack.
func (s *Server) ViewSubmission(userID, viewID string, values Values) (Ack, error) {
	s.mu.Lock()
	u, err := s.userLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	v, ok := s.views[viewID]
	stack := s.stacks[userID]
	switch {
	case !ok || v.typ != "modal":
		err = fmt.Errorf("localslack: no modal %s", viewID)
	case v.user != userID:
		err = fmt.Errorf("localslack: view %s belongs to %s, not %s", viewID, v.user, userID)
	case !v.open || len(stack) == 0 || stack[len(stack)-1] != viewID:
		err = fmt.Errorf("localslack: view %s is not the user's open top modal", viewID)
	case v.body["submit"] == nil:
		err = fmt.Errorf("localslack: view %s has no submit button", viewID)
	}
	if err == nil {
		var state map[string]any
		if state, err = s.buildStateLocked(v, values, true); err == nil {
			v.state = state
		}
	}
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	trig := s.newTriggerLocked(userID)
	payload := map[string]any{
		"type":                  "view_submission",
		"team":                  s.payloadTeamLocked(),
		"user":                  s.payloadUserLocked(u),
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"trigger_id":            trig,
		"view":                  s.viewJSONLocked(v),
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	}
	s.mu.Unlock()
	ack, err := s.send("interactive", payload, nil, Ack{TriggerID: trig, ViewID: viewID})
	if err != nil {
		return ack, err
	}
	s.applySubmission(v, ack)
	return ack, nil
}

func (s *Server) applySubmission(v *viewRecord, ack Ack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var body map[string]any
	if len(ack.Payload) > 0 {
		x, err := decodeJSON(ack.Payload)
		var ok bool
		if body, ok = x.(map[string]any); err != nil || !ok {
			s.violationLocked(ViolationProtocol, "ack", "view_submission ack payload is not a JSON object", false)
			return
		}
	}
	const method = "ack:view_submission"
	switch action := strField(body, "response_action"); action {
	case "":
		stack := s.stacks[v.user]
		v.open = false
		if len(stack) > 0 && stack[len(stack)-1] == v.id {
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			delete(s.stacks, v.user)
		} else {
			s.stacks[v.user] = stack
		}
	case "errors":
		errs, _ := body["errors"].(map[string]any)
		if len(errs) == 0 {
			s.violationLocked(ViolationProtocol, method, `response_action "errors" without errors`, false)
		}
		inputs := map[string]bool{}
		blocks, _ := v.body["blocks"].([]any)
		for _, b := range blocks {
			if bm, ok := b.(map[string]any); ok && bm["type"] == "input" {
				inputs[strField(bm, "block_id")] = true
			}
		}
		for k := range errs {
			if !inputs[k] {
				s.violationLocked(ViolationProtocol, method, fmt.Sprintf("errors key %q is not an input block_id; Slack shows a generic error", k), false)
			}
		}
	case "update":
		if nb, e := s.checkViewLocked(method, body["view"], "modal"); e == nil {
			s.replaceViewLocked(v, nb)
		}
	case "push":
		if nb, e := s.checkViewLocked(method, body["view"], "modal"); e == nil {
			if r := s.pushViewLocked(v.user, nb); r["ok"] == false {
				s.violationLocked(ViolationProtocol, method, fmt.Sprintf("push failed: %v", r["error"]), false)
			}
		}
	case "clear":
		s.closeStackLocked(v.user)
	default:
		s.violationLocked(ViolationProtocol, method, fmt.Sprintf("unknown response_action %q", action), false)
	}
	s.notifyLocked()
}

// ViewClosed closes the user's modal stack containing viewID, as the user
// dismissing it. Slack sends a view_closed envelope only when the view set
// notify_on_close; otherwise ViewClosed returns a zero Ack and nil.
func (s *Server) ViewClosed(userID, viewID string) (Ack, error) {
	s.mu.Lock()
	u, err := s.userLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	v, ok := s.views[viewID]
	if !ok || v.typ != "modal" || v.user != userID || !v.open {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("localslack: view %s is not an open modal of %s", viewID, userID)
	}
	cleared := len(s.stacks[userID]) > 1
	s.closeStackLocked(userID)
	s.notifyLocked()
	if !boolField(v.body, "notify_on_close") {
		s.mu.Unlock()
		return Ack{}, nil
	}
	payload := map[string]any{
		"type":                  "view_closed",
		"team":                  s.payloadTeamLocked(),
		"user":                  s.payloadUserLocked(u),
		"api_app_id":            s.opts.AppID,
		"token":                 verificationToken,
		"view":                  s.viewJSONLocked(v),
		"is_cleared":            cleared,
		"is_enterprise_install": false,
		"enterprise":            nil,
	}
	s.mu.Unlock()
	return s.send("interactive", payload, nil, Ack{ViewID: viewID})
}

// Shortcut sends a global shortcut (type "shortcut") with callbackID and a
// fresh trigger_id.
func (s *Server) Shortcut(userID, callbackID string) (Ack, error) {
	s.mu.Lock()
	u, err := s.userLocked(userID)
	if err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	trig := s.newTriggerLocked(userID)
	payload := map[string]any{
		"type":                  "shortcut",
		"token":                 verificationToken,
		"action_ts":             s.actionTSLocked(),
		"team":                  s.payloadTeamLocked(),
		"user":                  s.payloadUserLocked(u),
		"is_enterprise_install": false,
		"enterprise":            nil,
		"callback_id":           callbackID,
		"trigger_id":            trig,
	}
	s.mu.Unlock()
	return s.send("interactive", payload, nil, Ack{TriggerID: trig})
}

// Event sends an events_api envelope whose inner event has type eventType,
// an event_ts and fields, with a fresh event_id (in the returned Ack). The
// type must be one slackevents knows, or slack-go reports a bad message.
func (s *Server) Event(eventType string, fields map[string]any) (Ack, error) {
	s.mu.Lock()
	eventID := s.nextIDLocked("Ev")
	ev := map[string]any{"type": eventType, "event_ts": s.actionTSLocked()}
	for k, v := range fields {
		ev[k] = v
	}
	payload := map[string]any{
		"token":      verificationToken,
		"team_id":    s.opts.TeamID,
		"api_app_id": s.opts.AppID,
		"event":      ev,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": s.now().Unix(),
		"authorizations": []any{map[string]any{
			"enterprise_id": nil, "team_id": s.opts.TeamID, "user_id": s.opts.BotUserID,
			"is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + s.randLocked(24),
	}
	s.events[eventID] = &sentEvent{payload: payload}
	s.mu.Unlock()
	return s.send("events_api", payload, map[string]any{"retry_attempt": 0, "retry_reason": ""}, Ack{EventID: eventID})
}

// Envelope sends an envelope of type typ with any payload, even one Slack
// would never send, and waits for the ack: for testing that an app acks
// what it cannot parse.
func (s *Server) Envelope(typ string, payload any) (Ack, error) {
	return s.send(typ, payload, nil, Ack{})
}

// RetryEvent delivers an event sent before again, with the same event_id,
// a new envelope, retry_attempt one higher and retry_reason (default
// "timeout"), as Slack does when an ack is late. Apps must deduplicate.
func (s *Server) RetryEvent(eventID, reason string) (Ack, error) {
	if reason == "" {
		reason = "timeout"
	}
	s.mu.Lock()
	ev, ok := s.events[eventID]
	if !ok {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("localslack: no event %s was sent", eventID)
	}
	ev.attempts++
	attempt := ev.attempts
	s.mu.Unlock()
	return s.send("events_api", ev.payload, map[string]any{"retry_attempt": attempt, "retry_reason": reason}, Ack{EventID: eventID})
}

// AppHomeOpened sends app_home_opened for userID's Home tab, with the
// published home view if there is one.
func (s *Server) AppHomeOpened(userID string) (Ack, error) {
	s.mu.Lock()
	if _, err := s.userLocked(userID); err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	dm, _ := s.openDMLocked(userID)
	fields := map[string]any{"user": userID, "channel": dm, "tab": "home"}
	if id, ok := s.homes[userID]; ok {
		fields["view"] = s.viewJSONLocked(s.views[id])
	}
	s.mu.Unlock()
	return s.Event("app_home_opened", fields)
}

// DirectMessage sends a message event as if userID wrote text to the bot
// in their DM.
func (s *Server) DirectMessage(userID, text string) (Ack, error) {
	s.mu.Lock()
	if _, err := s.userLocked(userID); err != nil {
		s.mu.Unlock()
		return Ack{}, err
	}
	dm, _ := s.openDMLocked(userID)
	ts := s.nextTSLocked()
	s.mu.Unlock()
	return s.Event("message", map[string]any{"user": userID, "channel": dm, "channel_type": "im", "text": text, "ts": ts})
}
