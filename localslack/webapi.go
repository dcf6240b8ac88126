package localslack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// request is a parsed Web API call: its arguments from the query string,
// form or JSON body, and its token.
type request struct {
	method   string
	args     map[string]any
	token    string
	kind     string // "bot", "app", "unknown" or ""
	injected bool   // answered by an injected fault
}

// argStrings returns the arguments as recorded in Call.Args.
func (q *request) argStrings() map[string]string {
	out := make(map[string]string, len(q.args))
	for k := range q.args {
		out[k] = q.str(k)
	}
	return out
}

func (q *request) has(name string) bool {
	_, ok := q.args[name]
	return ok
}

// str returns an argument as Slack reads a string: JSON values re-encoded.
func (q *request) str(name string) string {
	switch v := q.args[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (q *request) flag(name string) bool {
	switch v := q.args[name].(type) {
	case bool:
		return v
	case string:
		return v == "true" || v == "1"
	case json.Number:
		return v.String() == "1"
	}
	return false
}

// structured returns a JSON argument (blocks, view, attachments), given
// either as a JSON-encoded string or, in a JSON body, as a structure.
func (q *request) structured(name string) (any, error) {
	switch v := q.args[name].(type) {
	case string:
		return decodeJSON([]byte(v))
	case nil:
		return nil, fmt.Errorf("missing %s", name)
	default:
		return v, nil
	}
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// parseRequest collects arguments and the token. Like Slack, a token in a
// JSON body is not accepted: JSON requests authenticate with the
// Authorization header only.
func parseRequest(r *http.Request) (*request, string) {
	q := &request{args: map[string]any{}}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			q.args[k] = v[0]
		}
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	fail := ""
	switch {
	case ct == "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			fail = "invalid_json"
			break
		}
		if len(bytes.TrimSpace(body)) == 0 {
			break
		}
		v, err := decodeJSON(body)
		obj, ok := v.(map[string]any)
		if err != nil || !ok {
			fail = "invalid_json"
			break
		}
		delete(obj, "token")
		for k, x := range obj {
			q.args[k] = x
		}
	case ct == "multipart/form-data":
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			fail = "invalid_form_data"
			break
		}
		for k, v := range r.MultipartForm.Value {
			if len(v) > 0 {
				q.args[k] = v[0]
			}
		}
	case r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil {
			fail = "invalid_form_data"
			break
		}
		for k, v := range r.PostForm {
			if len(v) > 0 {
				q.args[k] = v[0]
			}
		}
	}
	if tok, ok := q.args["token"].(string); ok {
		q.token = tok
	}
	delete(q.args, "token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		q.token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	return q, fail
}

type methodDef struct {
	token  string   // "bot" or "app"
	scopes []string // any one of them suffices; none means no scope needed
	pace   bool     // paced per channel (Options.PostRate)
	fn     func(s *Server, q *request) map[string]any
}

// methods are the Web API methods the emulator implements. Each handler runs
// with s.mu held.
var methods = map[string]methodDef{
	"auth.test":             {token: "bot", fn: (*Server).authTest},
	"apps.connections.open": {token: "app", fn: (*Server).appsConnectionsOpen},
	"chat.postMessage":      {token: "bot", scopes: []string{"chat:write"}, pace: true, fn: (*Server).chatPostMessage},
	"chat.update":           {token: "bot", scopes: []string{"chat:write"}, fn: (*Server).chatUpdate},
	"chat.postEphemeral":    {token: "bot", scopes: []string{"chat:write"}, fn: (*Server).chatPostEphemeral},
	"chat.delete":           {token: "bot", scopes: []string{"chat:write"}, fn: (*Server).chatDelete},
	"chat.getPermalink":     {token: "bot", fn: (*Server).chatGetPermalink},
	"conversations.open":    {token: "bot", scopes: []string{"im:write", "mpim:write", "channels:manage", "groups:write"}, fn: (*Server).conversationsOpen},
	"conversations.info":    {token: "bot", scopes: []string{"channels:read", "groups:read", "im:read", "mpim:read"}, fn: (*Server).conversationsInfo},
	"views.open":            {token: "bot", fn: (*Server).viewsOpen},
	"views.push":            {token: "bot", fn: (*Server).viewsPush},
	"views.update":          {token: "bot", fn: (*Server).viewsUpdate},
	"views.publish":         {token: "bot", fn: (*Server).viewsPublish},
	"users.info":            {token: "bot", scopes: []string{"users:read"}, fn: (*Server).usersInfo},
	"users.list":            {token: "bot", scopes: []string{"users:read"}, fn: (*Server).usersList},
	"users.lookupByEmail":   {token: "bot", scopes: []string{"users:read.email"}, fn: (*Server).usersLookupByEmail},
	"usergroups.list":       {token: "bot", scopes: []string{"usergroups:read"}, fn: (*Server).usergroupsList},
	"usergroups.users.list": {token: "bot", scopes: []string{"usergroups:read"}, fn: (*Server).usergroupsUsersList},
	"team.info":             {token: "bot", scopes: []string{"team:read"}, fn: (*Server).teamInfo},

	"files.getUploadURLExternal":   {token: "bot", scopes: []string{"files:write"}, fn: (*Server).filesGetUploadURLExternal},
	"files.completeUploadExternal": {token: "bot", scopes: []string{"files:write"}, fn: (*Server).filesCompleteUploadExternal},
}

func fail(code string) map[string]any { return map[string]any{"ok": false, "error": code} }

func failMessages(code string, msgs []string) map[string]any {
	return map[string]any{"ok": false, "error": code, "response_metadata": map[string]any{"messages": msgs}}
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	q, parseErr := parseRequest(r)
	q.method = method

	s.mu.Lock()
	at := s.now()
	var held time.Duration
	if win := s.hangWindowLocked(method); win != nil {
		released := s.released
		s.held++
		s.notifyLocked()
		s.mu.Unlock()
		start := time.Now()
		serve := s.hold(r.Context(), win, released)
		held = time.Since(start)
		s.mu.Lock()
		s.held--
		if !serve {
			call := Call{Method: method, At: at, Args: q.argStrings(), Outcome: OutcomeAbandoned, Injected: true, Held: held}
			s.calls = append(s.calls, call)
			s.notifyLocked()
			s.mu.Unlock()
			// The client is gone or the emulator is closing: nobody reads this.
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
	status, body, hdr := s.serveAPILocked(q, parseErr)
	call := Call{Method: method, At: at, Args: q.argStrings(), Token: q.kind, Status: status,
		Injected: q.injected || held > 0, Held: held}
	call.OK, _ = body["ok"].(bool)
	call.Error, _ = body["error"].(string)
	call.Outcome = outcome(status, call.OK)
	s.calls = append(s.calls, call)
	s.notifyLocked()
	s.mu.Unlock()

	for k, v := range hdr {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serveAPILocked(q *request, parseErr string) (int, map[string]any, map[string]string) {
	switch {
	case q.token == "":
	case s.revoked[q.token]:
		q.kind = "revoked"
	case q.token == s.opts.BotToken:
		q.kind = "bot"
	case q.token == s.opts.AppToken:
		q.kind = "app"
	default:
		q.kind = "unknown"
	}
	kind := q.kind
	if kind == "revoked" {
		q.kind = "bot"
		if q.token == s.opts.AppToken {
			q.kind = "app"
		}
	}

	if f := s.faults[q.method]; f != nil && f.remaining > 0 {
		f.remaining--
		q.injected = true
		if f.status == http.StatusTooManyRequests {
			return f.status, fail(f.code), map[string]string{"Retry-After": strconv.Itoa(f.retryAfter)}
		}
		return f.status, fail(f.code), nil
	}
	if status, body, hdr, ok := s.windowFaultLocked(q.method); ok {
		q.injected = true
		return status, body, hdr
	}
	if parseErr != "" {
		return http.StatusOK, fail(parseErr), nil
	}
	s.checkSpecLocked(q)

	def, ok := methods[q.method]
	if !ok {
		documented := s.spec != nil && s.spec.documented(q.method)
		msg := fmt.Sprintf("method %s is not implemented by localslack", q.method)
		if !documented {
			msg = fmt.Sprintf("method %s does not exist", q.method)
		}
		s.violationLocked(ViolationUnknownMethod, q.method, msg, true)
		return http.StatusOK, fail("unknown_method"), nil
	}

	switch kind {
	case "":
		return http.StatusOK, fail("not_authed"), nil
	case "revoked":
		return http.StatusOK, fail("token_revoked"), nil
	case "unknown":
		return http.StatusOK, fail("invalid_auth"), nil
	}
	if kind != def.token {
		return http.StatusOK, fail("not_allowed_token_type"), nil
	}
	hdr := map[string]string{}
	if kind == "bot" {
		provided := slices.Sorted(func(yield func(string) bool) {
			for sc := range s.scopes {
				if !yield(sc) {
					return
				}
			}
		})
		hdr["X-OAuth-Scopes"] = strings.Join(provided, ",")
		hdr["X-Accepted-OAuth-Scopes"] = strings.Join(def.scopes, ",")
		if len(def.scopes) > 0 && !slices.ContainsFunc(def.scopes, func(sc string) bool { return s.scopes[sc] }) {
			body := fail("missing_scope")
			body["needed"] = strings.Join(def.scopes, ",")
			body["provided"] = strings.Join(provided, ",")
			return http.StatusOK, body, hdr
		}
	}
	if def.pace {
		// Slack paces chat.postMessage per channel before it looks at the
		// message: an invalid message spends its slot too. A channel it
		// cannot resolve is answered by the method, unpaced.
		if ch, ok := s.resolveChannelLocked(q.str("channel")); ok {
			if ra, ok := s.paceLocked(ch); !ok {
				hdr["Retry-After"] = strconv.Itoa(ra)
				return http.StatusTooManyRequests, fail("ratelimited"), hdr
			}
		}
	}
	body := def.fn(s, q)
	if _, ok := body["ok"]; !ok {
		body["ok"] = true
	}
	return http.StatusOK, body, hdr
}

// checkSpecLocked validates the request against the spec, recording and
// reporting violations.
func (s *Server) checkSpecLocked(q *request) {
	if s.spec == nil {
		return
	}
	problems, unknown := s.spec.check(q.method, q.args)
	for _, p := range problems {
		s.violationLocked(ViolationSpec, q.method, p, s.strictSpec)
	}
	for _, name := range unknown {
		msg := fmt.Sprintf("parameter %q is not documented in the spec", name)
		if s.opts.StrictUnknownParams {
			s.violationLocked(ViolationUnknownParam, q.method, msg, s.strictSpec)
			continue
		}
		if key := q.method + "/" + name; !s.loggedParam[key] {
			s.loggedParam[key] = true
			s.tb.Logf("localslack: %s: %s; accepted (see Options.StrictUnknownParams)", q.method, msg)
		}
	}
}

func (s *Server) authTest(*request) map[string]any {
	return map[string]any{
		"url":                   "https://" + s.opts.TeamDomain + ".slack.com/",
		"team":                  s.opts.TeamDomain,
		"user":                  s.users[s.opts.BotUserID].Name,
		"team_id":               s.opts.TeamID,
		"user_id":               s.opts.BotUserID,
		"bot_id":                s.opts.BotID,
		"is_enterprise_install": false,
	}
}

func (s *Server) appsConnectionsOpen(*request) map[string]any {
	ticket := s.randHexLocked(32)
	s.tickets[ticket] = true
	return map[string]any{"url": "ws://" + s.hs.ln.Addr().String() + "/socket?ticket=" + ticket + "&app_id=" + s.opts.AppID}
}

// composeLocked reads text, blocks and attachments, enforcing Block Kit
// limits. A non-nil map is the error answer.
func (s *Server) composeLocked(q *request, requireContent bool) (text string, blocks, atts json.RawMessage, errBody map[string]any) {
	text = q.str("text")
	if utf8.RuneCountInString(text) > maxMessageText {
		return "", nil, nil, fail("msg_too_long")
	}
	hasBlocks := false
	if q.has("blocks") && q.str("blocks") != "" {
		v, err := q.structured("blocks")
		arr, ok := v.([]any)
		if err != nil || !ok {
			return "", nil, nil, fail("invalid_blocks_format")
		}
		if msgs := validateMessageBlocks(arr); len(msgs) > 0 {
			s.blockViolationsLocked(q.method, msgs)
			return "", nil, nil, failMessages("invalid_blocks", msgs)
		}
		s.fillIDsLocked(arr)
		hasBlocks = len(arr) > 0
		if hasBlocks {
			blocks, _ = json.Marshal(arr)
		}
	}
	if q.has("attachments") && q.str("attachments") != "" {
		v, err := q.structured("attachments")
		arr, ok := v.([]any)
		if err != nil || !ok {
			return "", nil, nil, fail("invalid_attachments")
		}
		if len(arr) > maxAttachments {
			return "", nil, nil, fail("too_many_attachments")
		}
		if len(arr) > 0 {
			atts, _ = json.Marshal(arr)
		}
	}
	if requireContent && text == "" && !hasBlocks && len(atts) == 0 {
		return "", nil, nil, fail("no_text")
	}
	return text, blocks, atts, nil
}

func (s *Server) blockViolationsLocked(method string, msgs []string) {
	for _, m := range msgs {
		s.violationLocked(ViolationBlockKit, method, m, s.opts.StrictBlocks)
	}
}

func (s *Server) chatPostMessage(q *request) map[string]any {
	ch, ok := s.resolveChannelLocked(q.str("channel"))
	if !ok {
		return fail("channel_not_found")
	}
	text, blocks, atts, e := s.composeLocked(q, true)
	if e != nil {
		return e
	}
	now := s.now()
	m := &Message{Channel: ch, TS: s.nextTSLocked(), ThreadTS: q.str("thread_ts"), User: s.opts.BotUserID,
		Text: text, Blocks: blocks, Attachments: atts, PostedAt: now, UpdatedAt: now}
	s.messages[ch] = append(s.messages[ch], m)
	return map[string]any{"channel": ch, "ts": m.TS, "message": s.messageJSONLocked(m)}
}

func (s *Server) chatUpdate(q *request) map[string]any {
	ch, ok := s.resolveChannelLocked(q.str("channel"))
	if !ok {
		return fail("channel_not_found")
	}
	m := s.findMessageLocked(ch, q.str("ts"))
	if m == nil || m.Deleted {
		return fail("message_not_found")
	}
	text, blocks, atts, e := s.composeLocked(q, false)
	if e != nil {
		return e
	}
	if !q.has("text") && !q.has("blocks") && !q.has("attachments") {
		return fail("no_text")
	}
	s.editMessageLocked(m, q.has("text"), text, q.has("blocks"), blocks, q.has("attachments"), atts)
	return map[string]any{"channel": ch, "ts": m.TS, "text": m.Text, "message": s.messageJSONLocked(m)}
}

func (s *Server) editMessageLocked(m *Message, setText bool, text string, setBlocks bool, blocks json.RawMessage, setAtts bool, atts json.RawMessage) {
	now := s.now()
	m.Edits = append(m.Edits, Edit{Text: m.Text, Blocks: m.Blocks, At: now})
	if setText {
		m.Text = text
	}
	if setBlocks {
		m.Blocks = blocks
	}
	if setAtts {
		m.Attachments = atts
	}
	m.UpdatedAt = now
}

func (s *Server) chatPostEphemeral(q *request) map[string]any {
	ch, ok := s.resolveChannelLocked(q.str("channel"))
	if !ok {
		return fail("channel_not_found")
	}
	user := q.str("user")
	if _, ok := s.users[user]; !ok {
		return fail("user_not_in_channel")
	}
	text, blocks, _, e := s.composeLocked(q, true)
	if e != nil {
		return e
	}
	ts := s.nextTSLocked()
	s.ephemerals = append(s.ephemerals, &Ephemeral{Channel: ch, User: user, TS: ts, Text: text, Blocks: blocks, At: s.now(), Source: "chat.postEphemeral"})
	return map[string]any{"message_ts": ts}
}

func (s *Server) chatDelete(q *request) map[string]any {
	ch, ok := s.resolveChannelLocked(q.str("channel"))
	if !ok {
		return fail("channel_not_found")
	}
	m := s.findMessageLocked(ch, q.str("ts"))
	if m == nil || m.Deleted {
		return fail("message_not_found")
	}
	m.Deleted = true
	m.UpdatedAt = s.now()
	return map[string]any{"channel": ch, "ts": m.TS}
}

func (s *Server) chatGetPermalink(q *request) map[string]any {
	ch, ok := s.resolveChannelLocked(q.str("channel"))
	if !ok {
		return fail("channel_not_found")
	}
	ts := q.str("message_ts")
	if m := s.findMessageLocked(ch, ts); m == nil {
		return fail("message_not_found")
	}
	return map[string]any{"channel": ch, "permalink": fmt.Sprintf("https://%s.slack.com/archives/%s/p%s", s.opts.TeamDomain, ch, strings.ReplaceAll(ts, ".", ""))}
}
