package playground

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
)

type testNames struct{}

func (testNames) UserName(id string) string    { return map[string]string{"U0ALICE": "alice"}[id] }
func (testNames) ChannelName(id string) string { return map[string]string{"C0IT": "it-access"}[id] }

func TestMrkdwnHTML(t *testing.T) {
	for _, tc := range []struct {
		name, give, want string
	}{
		{"bold italic strike", "*Active* _soon_ ~gone~", "<b>Active</b> <i>soon</i> <s>gone</s>"},
		{"code", "request `0b1e2c3d`", "request <code>0b1e2c3d</code>"},
		{"code is not formatted", "`*x*`", "<code>*x*</code>"},
		{"block", "```a\n&lt;b&gt;```", "<pre>a\n&lt;b&gt;</pre>"},
		{"an unescaped < starts a link to nowhere", "<b>x</b>", "b" + "x" + "/b"},
		{"slack entities become text", "a &lt;b&gt; &amp; c", "a &lt;b&gt; &amp; c"},
		{"raw html from a person is text", `<img src=x onerror=alert(1)>`, `img src=x onerror=alert(1)`},
		{"mention", "<@U0ALICE> asks", `<span class="mention">@alice</span> asks`},
		{"mention with label", "<@U9|eve &amp; co>", `<span class="mention">@eve &amp; co</span>`},
		{"channel", "see <#C0IT>", `see <span class="mention">#it-access</span>`},
		{"date", "until <!date^1796126400^{date_short_pretty} {time}|2026-12-01 12:00 UTC>", "until <time>2026-12-01 12:00 UTC</time>"},
		{"link", "<https://example.com/a?b=1&amp;c=2|the docs>", `<a href="https://example.com/a?b=1&amp;c=2" rel="noreferrer noopener" target="_blank">the docs</a>`},
		{"no javascript links", "<javascript:alert(1)|click>", "click"},
		{"bold around a link", "*<https://x.io|x>*", `<b><a href="https://x.io" rel="noreferrer noopener" target="_blank">x</a></b>`},
		{"emoji", ":white_check_mark: *Kept*", "✅ <b>Kept</b>"},
		{"unknown emoji stays", ":not_an_emoji:", ":not_an_emoji:"},
		{"quote", "&gt; quoted\nnot", "<q>quoted</q><br>not"},
		{"nul bytes cannot forge a placeholder", "a\x000\x00b <@U0ALICE>", `a0b <span class="mention">@alice</span>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mrkdwnHTML(tc.give, testNames{}); got != tc.want {
				t.Errorf("mrkdwnHTML(%q):\n got %s\nwant %s", tc.give, got, tc.want)
			}
		})
	}
}

// What people type reaches the page as text in every place the renderer
// writes it: plain text, fields, button labels, options, input values,
// errors, confirm dialogs.
func TestRender_EscapesEverything(t *testing.T) {
	const evil = `<script>alert(1)</script>"'&`
	blocks, _ := json.Marshal([]any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": evil}},
		map[string]any{"type": "section", "text": map[string]any{"type": "plain_text", "text": evil},
			"fields": []any{map[string]any{"type": "plain_text", "text": evil}}},
		map[string]any{"type": "actions", "block_id": evil, "elements": []any{
			map[string]any{"type": "button", "action_id": evil, "value": evil, "text": map[string]any{"type": "plain_text", "text": evil},
				"confirm": map[string]any{"title": map[string]any{"type": "plain_text", "text": evil}, "text": map[string]any{"type": "plain_text", "text": evil},
					"confirm": map[string]any{"type": "plain_text", "text": evil}, "deny": map[string]any{"type": "plain_text", "text": evil}}},
			map[string]any{"type": "static_select", "action_id": "s", "placeholder": map[string]any{"type": "plain_text", "text": evil},
				"options": []any{map[string]any{"value": evil, "text": map[string]any{"type": "plain_text", "text": evil}}}},
		}},
		map[string]any{"type": "input", "block_id": "reason", "label": map[string]any{"type": "plain_text", "text": evil},
			"element": map[string]any{"type": "plain_text_input", "action_id": "text", "multiline": true}},
		map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": evil}}},
	})
	r := renderer{names: testNames{}, at: target{view: "V1"}, values: map[string]string{"reason/text": evil},
		errors: map[string]string{"reason": evil}}
	out := r.blocks(blocks)
	for _, bad := range []string{"<script", `"'&<`, "'&<"} {
		if strings.Contains(out, bad) {
			t.Errorf("the rendering holds %q unescaped:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the text is missing, escaped:\n%s", out)
	}
	if !strings.Contains(out, `<textarea required`) || !strings.Contains(out, `role="alert"`) {
		t.Errorf("the required input or its error is missing:\n%s", out)
	}
}

func TestRender_BadBlocksDoNotPanic(t *testing.T) {
	for _, raw := range []string{`not json`, `[1, "x", null, {"type": 3}]`, `[{"type":"section","fields":"x","accessory":[]}]`,
		`[{"type":"actions","elements":[{"type":"button"},{"type":"static_select","options":[null,{"text":1}]}]}]`,
		`[{"type":"input","element":null}]`, `[{"type":"rich_text","elements":[{"elements":[{"text":"hi"}]}]}]`} {
		r := renderer{}
		_ = r.blocks(json.RawMessage(raw))
	}
}

const testPolicy = `directory:
  people:
    - {email: ann.lee@example.com, department: Engineering, manager: max@example.com, employment: internal}
    - {email: max@example.com, department: Engineering, employment: internal}
    - {email: sam@example.com, department: IT, employment: internal}
resources:
  - {id: db-admins, provider: atlassian-admin, group: db-admins, kind: admin, max_duration: 2h}
  - {id: sandbox, provider: dryrun, group: sandbox}
rules:
  - name: admins
    if: {resource_kind: admin}
    then: {approvals: [{approvers: [manager]}, {approvers: ["group:sre"]}], notify: ["#sre-log"]}
  - {name: rest, then: {auto_approve: true}}
reviews:
  - {name: all, inactive_for: 30d, schedule: "@weekly", action: report, digest: "#licences"}
`

func loadTestPolicy(t *testing.T, text string) *policies.Policy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := policies.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A policy author's own policy: its people become Slack users, its
// approver groups Slack user groups (IT by default, or as told), its
// channels channels, its groups Atlassian groups (not the dry-run ones),
// and everyone gets seeded activity.
func TestNewWorld_FromAPolicy(t *testing.T) {
	p := loadTestPolicy(t, testPolicy)
	start := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	w, err := NewWorld(p, WorldOptions{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got := w.Clock.Now(); !got.Equal(start) {
		t.Errorf("clock: got %v, want %v", got, start)
	}
	var ids []string
	for _, per := range w.People {
		ids = append(ids, per.SlackID+"="+per.Name)
	}
	if got, want := strings.Join(ids, " "), "U0ANNLEE=ann.lee U0MAX=max U0SAM=sam"; got != want {
		t.Errorf("people: got %s, want %s", got, want)
	}
	var chans []string
	for _, c := range w.Slack.Channels() {
		chans = append(chans, c.Name)
	}
	if got, want := strings.Join(chans, " "), "it-alerts sre-log licences"; got != want {
		t.Errorf("channels: got %s, want %s", got, want)
	}
	var groups []string
	for _, g := range w.Atlassian.Groups() {
		groups = append(groups, g.Name)
	}
	if got, want := strings.Join(groups, " "), "db-admins engineering it staff"; got != want {
		t.Errorf("Atlassian groups: got %s, want %s", got, want)
	}
	u, ok := w.Atlassian.User("ann.lee@example.com")
	if !ok || len(u.Products) != 2 || u.Name != "Ann Lee" {
		t.Errorf("ann's account: %+v, %v", u, ok)
	}
	sam, _ := w.Person("U0SAM")
	if got := sam.Label(); !strings.Contains(got, "IT (@it)") || !strings.Contains(got, "in @sre") {
		t.Errorf("sam's label: %q, want IT and @sre", got)
	}
	for k, want := range map[string]string{"JITBOT_IT_GROUP": "it", "JITBOT_ALERT_CHANNEL": "#it-alerts", "SLACK_API_URL": w.Slack.APIURL(),
		"ATLASSIAN_API_URL": w.Atlassian.URL()} {
		if got := w.Getenv(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}

	// Groups named on the command line win; a stranger is refused.
	w2, err := NewWorld(p, WorldOptions{Start: start, Groups: map[string][]string{"sre": {"max@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if max, _ := w2.Person("U0MAX"); !strings.Contains(max.Label(), "in @sre") {
		t.Errorf("max's label: %q, want in @sre", max.Label())
	}
	if _, err := NewWorld(p, WorldOptions{Groups: map[string][]string{"sre": {"eve@example.com"}}}); err == nil ||
		!strings.Contains(err.Error(), "eve@example.com is not in the policy's directory") {
		t.Errorf("a stranger in a group: got %v", err)
	}
}

func TestClock_SkipAndPause(t *testing.T) {
	start := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.SetRunning(false)
	timer := c.Fake().NewTimer(time.Hour)
	changed := c.Changed()
	c.Skip(59 * time.Minute)
	select {
	case <-changed:
	default:
		t.Error("Skip did not announce a change")
	}
	select {
	case <-timer.Chan():
		t.Fatal("a timer an hour away fired after 59 minutes")
	default:
	}
	c.Skip(time.Minute)
	select {
	case <-timer.Chan():
	case <-time.After(5 * time.Second):
		t.Fatal("a timer an hour away did not fire when the clock passed it")
	}
	// Paused, the clock moved by the skips alone (and the instant it ran
	// before the pause).
	if got, want := c.Now(), start.Add(time.Hour); got.Before(want) || got.Sub(want) > time.Second {
		t.Errorf("paused clock: got %v, want %v", got, want)
	}

	// Running, it follows the wall clock.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	c.SetRunning(true)
	before := c.Now()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Now().After(before) {
		if time.Now().After(deadline) {
			t.Fatal("a running clock did not move in 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type noEvents struct{}

func (noEvents) Events(context.Context, time.Time, time.Time, func(*approvals.Event) error) error {
	return nil
}

// The page answers loopback names only (DNS rebinding) and POSTs with the
// X-Playground header only (a cross-site form cannot set it).
func TestServer_RefusesOtherSites(t *testing.T) {
	p, w := newTestWorld(t, testPolicy)
	s, err := NewServer(Config{World: w, Policy: func() *policies.Policy { return p }, Audit: noEvents{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	do := func(method, host, header string) int {
		req := httptest.NewRequest(method, "http://"+host+"/api/clock", strings.NewReader(`{"skip":"1h"}`))
		if method == http.MethodGet {
			req = httptest.NewRequest(method, "http://"+host+"/", nil)
		}
		if header != "" {
			req.Header.Set("X-Playground", header)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tc := range []struct {
		name, method, host, header string
		want                       int
	}{
		{"the page", http.MethodGet, "127.0.0.1:8080", "", http.StatusOK},
		{"localhost", http.MethodGet, "localhost:8080", "", http.StatusOK},
		{"another name", http.MethodGet, "evil.example:8080", "", http.StatusMisdirectedRequest},
		{"a post from the page", http.MethodPost, "127.0.0.1:8080", "1", http.StatusOK},
		{"a cross-site post", http.MethodPost, "127.0.0.1:8080", "", http.StatusForbidden},
	} {
		if got := do(tc.method, tc.host, tc.header); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
	if got, want := time.Until(w.Clock.Now()), 50*time.Minute; got < want {
		t.Errorf("the page's skip did not move the clock: %v ahead", got)
	}
}
