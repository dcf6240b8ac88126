package localslack

import (
	"fmt"
)

// Events a person causes beyond clicks: view submissions and closes, shortcuts, Events API envelopes, retries, App Home, direct messages.

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
