package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares v, encoded as indented JSON, with testdata/name.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <!date…> and &lt; readable in review
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bot -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is meant, run go test ./bot -run Golden -update and review the diff.\ngot:\n%s", path, got)
	}
}

var (
	gNow   = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	gAdmin = &policies.Resource{ID: "jira-admins", Name: "Jira administrators", Kind: "admin"}
)

// hostile is a reason a requester could type: as long as the modal allows,
// with markdown, a broadcast mention, a link and HTML.
var hostile = func() string {
	s := "*bold* _it_ ~strike~ `code` <!channel> <!here> <@U0BOSS> <https://evil.example|click> <script>alert(1)</script> & more "
	return (strings.Repeat(s, 3000/len(s)+1))[:3000]
}()

func gRequest(state approvals.State) *approvals.Request {
	r := &approvals.Request{
		ID: "0b1e2c3d-0000-4000-8000-000000000001", Requester: "alice@example.com", Resource: "jira-admins", Admin: true,
		Duration: time.Hour, Reason: "fixing the deploy", Ticket: "OPS-12", Rule: "admin escalation",
		Steps: []approvals.Step{
			{Terms: []string{"manager"}, Approvers: []string{"bob@example.com"}, Quorum: 1},
			{Terms: []string{"group:it-leads"}, Approvers: []string{"dave@example.com", "frank@example.com"}, Quorum: 1},
		},
		Notify: []string{"#it-access-log"}, State: state, CreatedAt: gNow, ExpiresAt: gNow.Add(24 * time.Hour),
	}
	switch state {
	case approvals.StatePending:
		r.CurrentStep = 1
	case approvals.StateDeclined:
		r.DecidedBy, r.DecidedAt, r.StateReason = "bob@example.com", gNow.Add(time.Minute), "use the read-only role"
	case approvals.StateCancelled, approvals.StateTimedOut:
	default:
		r.CurrentStep = 1
		r.DecidedBy, r.DecidedAt = "dave@example.com", gNow.Add(2*time.Minute)
		r.StartsAt, r.EndsAt = gNow.Add(3*time.Minute), gNow.Add(63*time.Minute)
	}
	switch state {
	case approvals.StateExpired, approvals.StateReleased:
		r.EndedAt = r.EndsAt
	case approvals.StateRevoked:
		r.EndedAt, r.DecidedBy, r.StateReason = gNow.Add(30*time.Minute), "security@example.com", "left the project"
	case approvals.StateFailed:
		r.StateReason = "group jira-admins was deleted"
	}
	return r
}

func gSnapshot(state approvals.State) *snapshot {
	s := &snapshot{
		Req:       gRequest(state),
		Resource:  gAdmin,
		Requester: who{Email: "alice@example.com", Name: "Alice Archer", Department: "Engineering", Manager: "bob@example.com", Employment: "internal"},
		Decisions: []*approvals.Decision{{Step: 0, Approver: "bob@example.com", Approve: true, At: gNow.Add(time.Minute)}},
		Others:    []other{{Resource: "confluence-finance", Until: gNow.Add(48 * time.Hour)}},
	}
	if state == approvals.StateExpired {
		s.Grants = []*approvals.Grant{{Group: "jira-admins", Standing: true, Note: "kept: alice@example.com was a member before this grant"}}
	}
	return s
}

type msg struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

func goldenMessages() map[string]msg {
	out := map[string]msg{}
	add := func(name string, text string, blocks []slack.Block) { out[name] = msg{text, blocks} }
	for _, st := range approvals.AllStates() {
		t, b := requesterMessage(gSnapshot(st))
		add("requester_"+string(st), t, b)
	}
	t, b := approverMessage(gSnapshot(approvals.StatePending), "dave@example.com")
	add("approver_pending", t, b)
	t, b = approverMessage(gSnapshot(approvals.StateActive), "dave@example.com")
	add("approver_decided", t, b)
	t, b = approverMessage(gSnapshot(approvals.StateDeclined), "bob@example.com")
	add("approver_declined", t, b)
	t, b = expiringMessage(gSnapshot(approvals.StateActive))
	add("expiring", t, b)
	t, b = reminderMessage(gSnapshot(approvals.StatePending))
	add("reminder", t, b)
	t, b = channelMessage(gSnapshot(approvals.StateDeclined))
	add("channel_declined", t, b)
	t, b = channelMessage(gSnapshot(approvals.StateApproved))
	add("channel_approved", t, b)
	// A pending request whose resource a policy change removed: ended by
	// jitbot, the reason shown to the requester and on the approver's card.
	gone := gSnapshot(approvals.StateCancelled)
	gone.Req.DecidedBy = approvals.ActorSystem
	gone.Req.StateReason = "jira-admins is no longer in the catalogue (a policy change removed it), so nothing was granted"
	t, b = requesterMessage(gone)
	add("requester_resource_removed", t, b)
	t, b = approverMessage(gone, "dave@example.com")
	add("approver_resource_removed", t, b)
	t, b = alertMessage("0b1e2c3d-0000-4000-8000-000000000001", "could not remove alice@example.com from jira-admins: the API token's user is not a site admin")
	add("alert", t, b)

	// Hostile input: a 3000-character reason full of markdown and mentions,
	// and a display name that tries the same.
	h := gSnapshot(approvals.StatePending)
	h.Req.Reason = hostile
	h.Requester.Name = "*Boss* <!channel>"
	t, b = approverMessage(h, "dave@example.com")
	add("hostile_approver", t, b)
	t, b = requesterMessage(h)
	add("hostile_requester", t, b)

	var lines []string
	for i := range 120 {
		lines = append(lines, fmt.Sprintf("`%08d` Jira administrators — active until tomorrow", i))
	}
	for i, page := range pageLines("Your access and requests", lines) {
		add(fmt.Sprintf("list_page_%d", i+1), "Your access and requests", page)
	}
	return out
}

func goldenViews() map[string]any {
	cat := []catalogueOption{
		{ID: "jira-admins", Name: "Jira administrators", Admin: true, Max: 2 * time.Hour},
		{ID: "confluence-finance", Name: "Confluence Finance space", Max: 30 * 24 * time.Hour},
		{ID: "incident-bundle", Name: "Incident responder", Admin: true, Bundle: true, Max: 2 * time.Hour},
	}
	item := func(st approvals.State, approver bool) listItem {
		return listItem{Req: gRequest(st), Resource: "Jira administrators", Approver: approver}
	}
	many := make([]listItem, 0, 150)
	for range 150 {
		many = append(many, item(approvals.StatePending, true))
	}
	return map[string]any{
		"modal_request":          requestModal(cat, nil, false),
		"modal_request_selected": requestModal(cat, &cat[0], true),
		"modal_decline":          declineModal("0b1e2c3d-0000-4000-8000-000000000001", "Decline alice@example.com's request for Jira administrators (1h)?"),
		"modal_extend":           extendModal("0b1e2c3d-0000-4000-8000-000000000001", "Extend your access to Jira administrators?", 2*time.Hour),
		"home":                   homeView([]listItem{item(approvals.StateActive, false)}, []listItem{item(approvals.StatePending, false)}, []listItem{item(approvals.StatePending, true)}),
		"home_empty":             homeView(nil, nil, nil),
		"home_150_waiting":       homeView(nil, nil, many),
	}
}

func TestGolden_Messages(t *testing.T) {
	for name, m := range goldenMessages() {
		t.Run(name, func(t *testing.T) { golden(t, name, m) })
	}
}

func TestGolden_Views(t *testing.T) {
	for name, v := range goldenViews() {
		t.Run(name, func(t *testing.T) { golden(t, name, v) })
	}
}

// Every golden message and view is accepted by the local Slack with its
// Block Kit limits enforced strictly (50 blocks a message, 100 a view,
// 3000 characters a section, option and label lengths).
func TestGolden_WithinBlockKitLimits(t *testing.T) {
	srv := localslack.New(t, localslack.Options{StrictBlocks: true, PostRate: -1}) // content, not pace
	srv.AddUser(localslack.User{ID: "U1", Name: "alice", Email: "alice@example.com"})
	srv.AddChannel("C1", "it-access-log")
	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()))
	ctx := context.Background()
	for name, m := range goldenMessages() {
		if len(m.Blocks) > maxMessageBlocks {
			t.Errorf("%s: %d blocks", name, len(m.Blocks))
		}
		if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(m.Text, true), slack.MsgOptionBlocks(m.Blocks...)); err != nil {
			t.Errorf("%s: Slack refused it: %v", name, err)
		}
	}
	for name, v := range goldenViews() {
		var err error
		switch v := v.(type) {
		case slack.ModalViewRequest:
			_, err = api.OpenViewContext(ctx, srv.NewTriggerID("U1"), v)
		case slack.HomeTabViewRequest:
			_, err = api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: v})
		}
		if err != nil {
			t.Errorf("%s: Slack refused it: %v", name, err)
		}
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("violations: %+v", v)
	}
}

// The hostile reason is shown whole, as plain_text, in pieces of at most
// 3000 characters; nothing of it reaches a mrkdwn object unescaped.
func TestHostileInputEscaped(t *testing.T) {
	h := gSnapshot(approvals.StatePending)
	h.Req.Reason = hostile
	h.Requester.Name = "*Boss* <!channel>"
	_, blocks := approverMessage(h, "dave@example.com")
	raw, _ := json.Marshal(blocks)
	var shown strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "plain_text" {
				txt := x["text"].(string)
				if len(txt) > maxSectionText {
					t.Errorf("a text of %d characters", len(txt))
				}
				if strings.Contains(hostile, txt) && len(txt) > 100 {
					shown.WriteString(txt)
				}
			}
			if x["type"] == "mrkdwn" {
				txt := x["text"].(string)
				for _, bad := range []string{"<!channel>", "<!here>", "<@U0BOSS>", "<https://evil", "<script>"} {
					if strings.Contains(txt, bad) {
						t.Errorf("mrkdwn carries %q unescaped: %q", bad, txt)
					}
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	walk(v)
	if shown.String() != hostile {
		t.Errorf("the reason is not shown whole: %d of %d characters", shown.Len(), len(hostile))
	}
	// The display name is shown as plain_text only (integrity item 16):
	// neither its markdown nor its mention renders.
	if !strings.Contains(string(raw), `{"type":"plain_text","text":"*Boss* \u003c!channel\u003e (alice@example.com) asks for`) {
		t.Errorf("the display name is not in a plain_text object: %s", raw)
	}
	if strings.Contains(string(raw), `"type":"mrkdwn","text":"*Boss*`) || strings.Contains(string(raw), `*Boss* \u0026lt;`) {
		t.Errorf("the display name reaches mrkdwn: %s", raw)
	}
}
