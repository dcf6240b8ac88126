package localslack

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// User is a workspace member known to the emulator. users.info,
// users.lookupByEmail, conversations.open and the interaction payloads use it.
type User struct {
	ID          string // "U..." (required)
	Name        string // handle, e.g. "alice"; defaults to the ID
	RealName    string
	DisplayName string
	Email       string // returned only while the bot token holds users:read.email
	Title       string
	TZ          string // IANA name, e.g. "Europe/Berlin"; defaults to "UTC"
	TZOffset    int    // seconds east of UTC
	IsBot       bool
	IsAdmin     bool
	// IsRestricted marks a multi-channel guest, IsUltraRestricted a
	// single-channel guest.
	IsRestricted      bool
	IsUltraRestricted bool
	Deleted           bool
	// IsStranger marks a user of another organisation seen through Slack
	// Connect; TeamID, when set, is a workspace other than the emulator's.
	IsStranger bool
	TeamID     string
}

// Message is the current state of a message the bot posted, with the
// versions chat.update (or a response_url with replace_original) replaced.
type Message struct {
	Channel     string
	TS          string
	ThreadTS    string
	User        string // the bot user that posted it
	Text        string
	Blocks      json.RawMessage // as stored: Slack fills in missing block_id and action_id
	Attachments json.RawMessage
	Deleted     bool
	// Files are the ids of the files shared with the message
	// (files.completeUploadExternal); see Server.File.
	Files     []string
	Edits     []Edit // earlier versions, oldest first
	PostedAt  time.Time
	UpdatedAt time.Time
}

// Edit is an earlier version of a message, replaced at At.
type Edit struct {
	Text   string
	Blocks json.RawMessage
	At     time.Time
}

// AllText returns the message text and every text in its blocks, one per
// line, for assertions such as strings.Contains(m.AllText(), "Approved").
func (m Message) AllText() string { return joinText(m.Text, m.Blocks) }

// ActionIDs returns the action_id of every interactive element in the
// message, in block order.
func (m Message) ActionIDs() []string { return collectKey(m.Blocks, "action_id") }

// HasAction reports whether the message has an element with actionID.
func (m Message) HasAction(actionID string) bool { return slices.Contains(m.ActionIDs(), actionID) }

// Ephemeral is a message only one user sees: chat.postEphemeral, a slash
// command ack with a payload, or a response_url reply.
type Ephemeral struct {
	Channel string
	User    string
	TS      string
	Text    string
	Blocks  json.RawMessage
	Deleted bool
	At      time.Time
	Source  string // "chat.postEphemeral", "ack" or "response_url"
}

// AllText returns the text and every text in the blocks, one per line.
func (e Ephemeral) AllText() string { return joinText(e.Text, e.Blocks) }

// View is the current state of a modal or App Home view.
type View struct {
	ID              string
	UserID          string
	Type            string // "modal" or "home"
	Title           string
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string
	RootViewID      string
	PreviousViewID  string
	Blocks          json.RawMessage
	// JSON is the whole view object as Slack returns it from views.* and
	// sends it in interaction payloads.
	JSON json.RawMessage
	// Open is false once the modal was submitted, closed or cleared.
	Open bool
	// Versions counts views.open/push/publish plus every update.
	Versions  int
	UpdatedAt time.Time
}

// AllText returns the title and every text in the blocks, one per line.
func (v View) AllText() string { return joinText(v.Title, v.Blocks) }

// ActionIDs returns the action_id of every interactive element in the view.
func (v View) ActionIDs() []string { return collectKey(v.Blocks, "action_id") }

// BlockIDs returns the block_id of every block in the view.
func (v View) BlockIDs() []string {
	var blocks []map[string]any
	_ = json.Unmarshal(v.Blocks, &blocks)
	var out []string
	for _, b := range blocks {
		if id, ok := b["block_id"].(string); ok {
			out = append(out, id)
		}
	}
	return out
}

// Call is one Web API request (or response_url post, Method "response_url")
// the emulator answered.
type Call struct {
	Method string
	At     time.Time // Options.Now when the request arrived
	// Args holds the request arguments from the query string, form or JSON
	// body; the token is never recorded. JSON values are re-encoded.
	Args map[string]string
	// Token is "bot", "app", "unknown" or "" (none sent).
	Token  string
	Status int // HTTP status; 0 for an abandoned call
	OK     bool
	Error  string // Slack's error code when OK is false
	// Outcome sums up how the call ended: OutcomeOK, OutcomeError,
	// OutcomeRateLimited, OutcomeServerError or OutcomeAbandoned. Only an
	// OutcomeOK call took effect (posted, updated, opened …).
	Outcome string
	// Injected marks a failure a test asked for (RateLimit, FailNext,
	// ServerErrorNext, RateLimitFor, HangFor), as opposed to Slack's own
	// behaviour such as the chat.postMessage pace.
	Injected bool
	// Held is the wall-clock time HangFor held the call before it was
	// served or abandoned.
	Held time.Duration
}

// Call outcomes.
const (
	// OutcomeOK: answered {"ok":true}; the call took effect.
	OutcomeOK = "ok"
	// OutcomeError: answered HTTP 200 {"ok":false,"error":…}.
	OutcomeError = "error"
	// OutcomeRateLimited: answered HTTP 429 ratelimited with Retry-After.
	OutcomeRateLimited = "ratelimited"
	// OutcomeServerError: answered an HTTP 5xx status (ServerErrorNext).
	OutcomeServerError = "server_error"
	// OutcomeAbandoned: held by HangFor until the client gave up or the
	// emulator closed; never served.
	OutcomeAbandoned = "abandoned"
)

// outcome classifies an answer.
func outcome(status int, ok bool) string {
	switch {
	case status == 429:
		return OutcomeRateLimited
	case status >= 500:
		return OutcomeServerError
	case ok:
		return OutcomeOK
	}
	return OutcomeError
}

// Ack is a Socket Mode acknowledgement received from the app.
type Ack struct {
	EnvelopeID string
	Type       string // envelope type: slash_commands, interactive, events_api
	// Payload is the ack's payload, nil when the app acked without one.
	Payload json.RawMessage
	// Latency is the wall time from writing the envelope to reading the ack.
	Latency   time.Duration
	TriggerID string // trigger_id the envelope carried, if any
	EventID   string // events_api only
	ViewID    string // view_submission / view_closed / block action in a view
	At        time.Time
	Conn      int // the connection that acked (numbered from 1 in the order they opened)
}

// Decode unmarshals the ack payload into v.
func (a Ack) Decode(v any) error {
	if len(a.Payload) == 0 {
		return json.Unmarshal([]byte("null"), v)
	}
	return json.Unmarshal(a.Payload, v)
}

// ResponseAction returns the payload's response_action ("errors",
// "update", "push", "clear") or "".
func (a Ack) ResponseAction() string {
	var p struct {
		ResponseAction string `json:"response_action"`
	}
	_ = json.Unmarshal(a.Payload, &p)
	return p.ResponseAction
}

// Errors returns the payload's errors map (block_id to message) of a
// response_action "errors" ack.
func (a Ack) Errors() map[string]string {
	var p struct {
		Errors map[string]string `json:"errors"`
	}
	_ = json.Unmarshal(a.Payload, &p)
	return p.Errors
}

// AllText returns the text and every text in the blocks of the payload
// (for a slash command answered in the ack).
func (a Ack) AllText() string {
	var p struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	_ = json.Unmarshal(a.Payload, &p)
	return joinText(p.Text, p.Blocks)
}

// Violation kinds.
const (
	// ViolationSpec: a request broke the Slack Web API OpenAPI spec.
	ViolationSpec = "spec"
	// ViolationBlockKit: blocks or a view broke a Block Kit limit; Slack
	// answered invalid_blocks or invalid_arguments.
	ViolationBlockKit = "block_kit"
	// ViolationUnknownMethod: the app called a method the emulator does not
	// implement; it is answered unknown_method and always fails the test.
	ViolationUnknownMethod = "unknown_method"
	// ViolationProtocol: a Socket Mode frame Slack would reject or ignore
	// (ack for an unknown envelope, duplicate ack, oversized ack).
	ViolationProtocol = "protocol"
	// ViolationUnknownParam: an argument the spec does not document; only
	// recorded with Options.StrictUnknownParams.
	ViolationUnknownParam = "unknown_param"
	// ViolationUpload: bytes sent to a file upload URL that Slack's file
	// service rejects (wrong length, unknown or used URL); fails the test
	// under Options.StrictSpec.
	ViolationUpload = "upload"
)

// Violation is a request or frame that real Slack would reject, or that
// breaks the published spec.
type Violation struct {
	Kind    string
	Method  string
	Message string
	At      time.Time
}

// joinText returns first and the texts in raw blocks, one per line.
func joinText(first string, blocks json.RawMessage) string {
	parts := []string{}
	if first != "" {
		parts = append(parts, first)
	}
	parts = append(parts, collectKey(blocks, "text")...)
	return strings.Join(parts, "\n")
}

// collectKey walks raw JSON and returns every string value under key, in
// document order.
func collectKey(raw json.RawMessage, key string) []string {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			// Map order is random; a stable order keeps AllText predictable:
			// "type" and "text" first, then the rest.
			slices.SortFunc(keys, func(a, b string) int {
				if ra, rb := keyRank(a), keyRank(b); ra != rb {
					return ra - rb
				}
				return strings.Compare(a, b)
			})
			for _, k := range keys {
				if k == key {
					if s, ok := t[k].(string); ok {
						out = append(out, s)
						continue
					}
				}
				walk(t[k])
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

func keyRank(k string) int {
	switch k {
	case "text":
		return 0
	case "fields":
		return 1
	case "elements", "element", "accessory":
		return 2
	}
	return 3
}
