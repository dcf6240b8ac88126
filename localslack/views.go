package localslack

import (
	"encoding/json"
	"fmt"
	"time"
)

// viewRecord is a modal or home view as the emulator keeps it.
type viewRecord struct {
	id, user, typ  string
	body           map[string]any // the view object the app sent, ids filled in
	hash           string
	rootID, prevID string
	open           bool
	versions       int
	state          map[string]any // block_id → action_id → value
	updatedAt      time.Time
}

func strField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func boolField(m map[string]any, k string) bool {
	b, _ := m[k].(bool)
	return b
}

// viewJSONLocked renders a view as Slack returns it.
func (s *Server) viewJSONLocked(v *viewRecord) map[string]any {
	state := v.state
	if state == nil {
		state = map[string]any{}
	}
	blocks := v.body["blocks"]
	if blocks == nil {
		blocks = []any{}
	}
	out := map[string]any{
		"id":                    v.id,
		"team_id":               s.opts.TeamID,
		"type":                  v.typ,
		"blocks":                blocks,
		"private_metadata":      strField(v.body, "private_metadata"),
		"callback_id":           strField(v.body, "callback_id"),
		"external_id":           strField(v.body, "external_id"),
		"state":                 map[string]any{"values": state},
		"hash":                  v.hash,
		"clear_on_close":        boolField(v.body, "clear_on_close"),
		"notify_on_close":       boolField(v.body, "notify_on_close"),
		"title":                 v.body["title"],
		"close":                 v.body["close"],
		"submit":                v.body["submit"],
		"root_view_id":          nil,
		"previous_view_id":      nil,
		"app_id":                s.opts.AppID,
		"app_installed_team_id": s.opts.TeamID,
		"bot_id":                s.opts.BotID,
	}
	if v.rootID != "" {
		out["root_view_id"] = v.rootID
	}
	if v.prevID != "" {
		out["previous_view_id"] = v.prevID
	}
	return out
}

func (s *Server) exportViewLocked(v *viewRecord) View {
	raw, _ := json.Marshal(s.viewJSONLocked(v))
	blocks, _ := json.Marshal(v.body["blocks"])
	title := ""
	if t, ok := v.body["title"].(map[string]any); ok {
		title = strField(t, "text")
	}
	return View{
		ID: v.id, UserID: v.user, Type: v.typ, Title: title,
		CallbackID:      strField(v.body, "callback_id"),
		PrivateMetadata: strField(v.body, "private_metadata"),
		ExternalID:      strField(v.body, "external_id"),
		Hash:            v.hash, RootViewID: v.rootID, PreviousViewID: v.prevID,
		Blocks: blocks, JSON: raw, Open: v.open, Versions: v.versions, UpdatedAt: v.updatedAt,
	}
}

// viewArgLocked reads and validates the view argument; want is the view
// type required ("" for either).
func (s *Server) viewArgLocked(q *request, want string) (map[string]any, map[string]any) {
	return s.checkViewLocked(q.method, q.args["view"], want)
}

func (s *Server) checkViewLocked(method string, arg any, want string) (map[string]any, map[string]any) {
	if arg == nil || arg == "" {
		return nil, failMessages("invalid_arguments", []string{"[ERROR] missing required field: view [json-pointer:/view]"})
	}
	var v any = arg
	if str, ok := arg.(string); ok {
		var err error
		if v, err = decodeJSON([]byte(str)); err != nil {
			return nil, failMessages("invalid_arguments", []string{"[ERROR] view must be a JSON object [json-pointer:/view]"})
		}
	}
	body, ok := v.(map[string]any)
	if !ok {
		return nil, failMessages("invalid_arguments", []string{"[ERROR] view must be a JSON object [json-pointer:/view]"})
	}
	if msgs := validateView(body, want); len(msgs) > 0 {
		s.blockViolationsLocked(method, msgs)
		return nil, failMessages("invalid_arguments", msgs)
	}
	if blocks, ok := body["blocks"].([]any); ok {
		s.fillIDsLocked(blocks)
	}
	return body, nil
}

func (s *Server) newViewLocked(user, typ string, body map[string]any, rootID, prevID string) *viewRecord {
	id := s.nextIDLocked("V")
	if rootID == "" {
		rootID = id
	}
	v := &viewRecord{id: id, user: user, typ: typ, body: body, hash: s.newHashLocked(),
		rootID: rootID, prevID: prevID, open: true, versions: 1, updatedAt: s.now()}
	s.views[id] = v
	s.viewOrder = append(s.viewOrder, id)
	return v
}

func (s *Server) newHashLocked() string {
	return fmt.Sprintf("%d.%s", s.now().Unix(), s.randLocked(8))
}

// duplicateExternalIDLocked reports whether an open view already uses the
// external_id of body.
func (s *Server) duplicateExternalIDLocked(body map[string]any, except string) bool {
	ext := strField(body, "external_id")
	if ext == "" {
		return false
	}
	for _, v := range s.views {
		if v.id != except && v.open && strField(v.body, "external_id") == ext {
			return true
		}
	}
	return false
}

func (s *Server) closeStackLocked(user string) {
	for _, id := range s.stacks[user] {
		s.views[id].open = false
	}
	delete(s.stacks, user)
}

func (s *Server) viewsOpen(q *request) map[string]any {
	trig := q.str("trigger_id")
	if trig == "" {
		return failMessages("invalid_arguments", []string{"[ERROR] missing required field: trigger_id [json-pointer:/trigger_id]"})
	}
	body, e := s.viewArgLocked(q, "modal")
	if e != nil {
		return e
	}
	if s.duplicateExternalIDLocked(body, "") {
		return fail("duplicate_external_id")
	}
	t, code := s.useTriggerLocked(trig)
	if code != "" {
		return fail(code)
	}
	s.closeStackLocked(t.user)
	v := s.newViewLocked(t.user, "modal", body, "", "")
	s.stacks[t.user] = []string{v.id}
	s.lastModal[t.user] = v.id
	return map[string]any{"view": s.viewJSONLocked(v)}
}

func (s *Server) viewsPush(q *request) map[string]any {
	trig := q.str("trigger_id")
	if trig == "" {
		return failMessages("invalid_arguments", []string{"[ERROR] missing required field: trigger_id [json-pointer:/trigger_id]"})
	}
	body, e := s.viewArgLocked(q, "modal")
	if e != nil {
		return e
	}
	t, code := s.useTriggerLocked(trig)
	if code != "" {
		return fail(code)
	}
	return s.pushViewLocked(t.user, body)
}

func (s *Server) pushViewLocked(user string, body map[string]any) map[string]any {
	stack := s.stacks[user]
	if len(stack) == 0 {
		return fail("not_found")
	}
	if len(stack) >= 3 {
		return fail("push_limit_reached")
	}
	v := s.newViewLocked(user, "modal", body, stack[0], stack[len(stack)-1])
	s.stacks[user] = append(stack, v.id)
	s.lastModal[user] = v.id
	return map[string]any{"view": s.viewJSONLocked(v)}
}

func (s *Server) viewsUpdate(q *request) map[string]any {
	id, ext := q.str("view_id"), q.str("external_id")
	if id == "" && ext == "" {
		return failMessages("invalid_arguments", []string{"[ERROR] must provide view_id or external_id [json-pointer:/view_id]"})
	}
	var v *viewRecord
	if id != "" {
		v = s.views[id]
	} else {
		for i := len(s.viewOrder) - 1; i >= 0; i-- {
			if c := s.views[s.viewOrder[i]]; strField(c.body, "external_id") == ext {
				v = c
				break
			}
		}
	}
	if v == nil || (v.typ == "modal" && !v.open) {
		return fail("not_found")
	}
	if h := q.str("hash"); h != "" && h != v.hash {
		return fail("hash_conflict")
	}
	body, e := s.viewArgLocked(q, v.typ)
	if e != nil {
		return e
	}
	if s.duplicateExternalIDLocked(body, v.id) {
		return fail("duplicate_external_id")
	}
	s.replaceViewLocked(v, body)
	return map[string]any{"view": s.viewJSONLocked(v)}
}

func (s *Server) replaceViewLocked(v *viewRecord, body map[string]any) {
	v.body = body
	v.hash = s.newHashLocked()
	v.versions++
	v.updatedAt = s.now()
	if v.typ == "modal" {
		s.lastModal[v.user] = v.id
	}
}

func (s *Server) viewsPublish(q *request) map[string]any {
	user := q.str("user_id")
	if _, ok := s.users[user]; !ok {
		return fail("user_not_found")
	}
	body, e := s.viewArgLocked(q, "home")
	if e != nil {
		return e
	}
	if id, ok := s.homes[user]; ok {
		v := s.views[id]
		if h := q.str("hash"); h != "" && h != v.hash {
			return fail("hash_conflict")
		}
		s.replaceViewLocked(v, body)
		return map[string]any{"view": s.viewJSONLocked(v)}
	}
	v := s.newViewLocked(user, "home", body, "", "")
	s.homes[user] = v.id
	return map[string]any{"view": s.viewJSONLocked(v)}
}
