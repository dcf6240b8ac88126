package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/localslack"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The whole life of an admin escalation filed by command: two steps of
// approvers, provisioning, the expiry warning, expiry and revocation, with
// the requester's one DM and every card edited in place.
func TestE2E_CommandToExpiry(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "jira-admins 1h fixing the deploy OPS-12")
	e.ephemeralWith(uAlice, "filed")
	r := e.request("alice@example.com")
	short := approvals.Short(r.ID)
	if r.Ticket != "OPS-12" || r.Rule != "admin escalation" {
		t.Fatalf("filed with ticket %q rule %q", r.Ticket, r.Rule)
	}

	dm := e.dmWith(uAlice, short, "Waiting for approval", "step 1 of 2")
	if !dm.HasAction("cancel") {
		t.Errorf("pending DM has no Cancel button: %v", dm.ActionIDs())
	}
	card := e.dmWith(uBob, short, "ADMIN ESCALATION", "Alice Archer", "Engineering", "fixing the deploy", "OPS-12", "admin escalation", "1 of 2")
	if !card.HasAction("approve") || !card.HasAction("decline") {
		t.Fatalf("manager's card lacks buttons: %v", card.ActionIDs())
	}
	if len(e.srv.DMsTo(uDave)) != 0 {
		t.Fatal("step 2 approvers were asked before step 1 decided")
	}

	e.click(uBob, card, "approve")
	daveCard := e.dmWith(uDave, short, "2 of 2", "step 1 approved by bob@example.com")
	e.dmWith(uBob, short, "step 1 approved by bob@example.com") // bob's card shows progress
	if m, _ := e.srv.Message(card.Channel, card.TS); m.HasAction("approve") {
		t.Error("bob's card still has buttons after he approved")
	}
	e.click(uDave, daveCard, "approve")
	e.waitState(r.ID, approvals.StateActive)
	if !e.member("jira-admins", "alice@example.com") {
		t.Fatal("alice is not in jira-admins after approval")
	}
	e.dmWith(uAlice, short, "Active until")
	e.dmWith(uDave, short, "Approved", "dave@example.com")
	e.postIn(cLog, short)

	// 15 minutes before the end: a warning with an Extend button.
	e.clock.Advance(46 * time.Minute)
	warn := e.dmWith(uAlice, "ends soon")
	if !warn.HasAction("extend") {
		t.Errorf("expiry warning has no Extend button: %v", warn.ActionIDs())
	}
	e.clock.Advance(15 * time.Minute)
	e.waitState(r.ID, approvals.StateExpired)
	e.wait("alice removed", func() bool { return !e.member("jira-admins", "alice@example.com") })
	final := e.dmWith(uAlice, short, "Ended", "expired")
	if final.HasAction("release") {
		t.Error("ended DM still offers Release")
	}
	// One DM about the request, edited in place: pending → approved → active → ended.
	only := e.only(uAlice, short)
	if len(only.Edits) < 3 {
		t.Errorf("requester DM edited %d times, want ≥3 (pending→approved→active→ended)", len(only.Edits))
	}
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}

// A request through the modal: errors are answered inside the modal; the
// duration picker follows the chosen resource; a two-person quorum.
func TestE2E_ModalQuorum(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "")
	var view localslack.View
	e.wait("the request modal", func() bool {
		v, ok := e.srv.LastView(uAlice)
		view = v
		return ok && v.Open && v.CallbackID == "request"
	})
	if !strings.Contains(view.AllText(), "ADMIN") {
		t.Error("admin escalations are not marked in the resource list")
	}
	if _, err := e.srv.BlockAction(uAlice, localslack.BlockActionArgs{ViewID: view.ID, ActionID: "resource", SelectedOption: "it-tools"}); err != nil {
		t.Fatal(err)
	}
	e.wait("the modal narrowed to it-tools", func() bool {
		v, _ := e.srv.ViewByID(view.ID)
		return strings.Contains(v.AllText(), "for you and it-tools") && !strings.Contains(v.AllText(), "14d")
	})
	vals := func(d, reason string) localslack.Values {
		return localslack.Values{"resource": {"resource": "it-tools"}, "duration": {"duration": d}, "reason": {"text": reason}}
	}
	// A duration over the maximum is refused inside the modal.
	e.srv.SetUserGroupMembers("S0IT", uDave, uFrank)
	ack, err := e.srv.ViewSubmission(uAlice, view.ID, localslack.Values{"resource": {"resource": "jira-admins"}, "duration": {"duration": "7d"}, "reason": {"text": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.ResponseAction() != "errors" || !strings.Contains(ack.Errors()["duration"], "at most") {
		t.Fatalf("over-long duration: response_action %q errors %v", ack.ResponseAction(), ack.Errors())
	}
	// Admin escalations need a ticket: said next to the ticket field.
	ack, _ = e.srv.ViewSubmission(uAlice, view.ID, localslack.Values{"resource": {"resource": "jira-admins"}, "duration": {"duration": "1h"}, "reason": {"text": "x"}})
	if ack.ResponseAction() != "errors" || !strings.Contains(ack.Errors()["ticket"], "requires a ticket") {
		t.Fatalf("missing ticket: %q %v", ack.ResponseAction(), ack.Errors())
	}
	ack, err = e.srv.ViewSubmission(uAlice, view.ID, vals("1d", "rotating the build agents"))
	if err != nil || ack.ResponseAction() != "" {
		t.Fatalf("valid submission: %v %q %v", err, ack.ResponseAction(), ack.Errors())
	}
	var r *approvals.Request
	e.wait("the request filed", func() bool {
		rs, _ := e.svc.List(context.Background(), approvals.RequestFilter{Requester: "alice@example.com"})
		if len(rs) == 1 {
			r = rs[0]
		}
		return r != nil
	})
	short := approvals.Short(r.ID)
	d1 := e.dmWith(uDave, short, "rotating the build agents")
	f1 := e.dmWith(uFrank, short)
	e.click(uDave, d1, "approve")
	e.dmWith(uFrank, short, "step 1 approved by dave@example.com")
	if e.state(r.ID) != approvals.StatePending {
		t.Fatal("quorum 2 was met by one approval")
	}
	e.click(uFrank, f1, "approve")
	e.waitState(r.ID, approvals.StateActive)
	if !e.member("it-tools", "alice@example.com") {
		t.Fatal("not provisioned")
	}
}

func TestE2E_DeclineWithReason(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	short := approvals.Short(r.ID)
	card := e.dmWith(uBob, short)
	e.click(uBob, card, "decline")
	var modal localslack.View
	e.wait("the decline modal", func() bool {
		v, ok := e.srv.LastView(uBob)
		modal = v
		return ok && v.Open && v.CallbackID == "decline"
	})
	ack, err := e.srv.ViewSubmission(uBob, modal.ID, localslack.Values{"reason": {"text": "use the *read-only* role <!channel>"}})
	if err != nil || ack.ResponseAction() != "" {
		t.Fatalf("decline submission: %v %q", err, ack.ResponseAction())
	}
	e.waitState(r.ID, approvals.StateDeclined)
	dm := e.dmWith(uAlice, short, "Declined", "bob@example.com", "use the *read-only* role <!channel>")
	// The reason is shown as plain_text: Slack interprets neither markdown
	// nor mentions there.
	if !inPlainText(t, dm.Blocks, "use the *read-only* role <!channel>") {
		t.Errorf("the decline reason is not in a plain_text object: %s", dm.Blocks)
	}
	if dm.HasAction("cancel") {
		t.Error("declined DM still offers Cancel")
	}
	c := e.dmWith(uBob, short, "Declined")
	if c.HasAction("approve") {
		t.Error("card keeps its buttons after the decision")
	}
	if e.member("confluence-finance", "alice@example.com") {
		t.Error("declined but provisioned")
	}
}

func TestE2E_CancelReleaseExtend(t *testing.T) {
	e := newEnv(t)
	// Cancel from the DM button.
	e.cmd(uAlice, "it-tools 2h build agents")
	r := e.waitRequest("alice@example.com")
	dm := e.dmWith(uAlice, approvals.Short(r.ID), "Waiting")
	e.dmWith(uDave, approvals.Short(r.ID)) // the approvers' cards follow the requester's DM
	e.click(uAlice, dm, "cancel")
	e.waitState(r.ID, approvals.StateCancelled)
	e.dmWith(uDave, approvals.Short(r.ID), "Cancelled")

	// Auto-approved access, released by command.
	e.cmd(uAlice, "confluence-finance 2h month end")
	r2 := e.waitRequestNot("alice@example.com", r.ID)
	e.waitState(r2.ID, approvals.StateActive)
	e.dmWith(uAlice, approvals.Short(r2.ID), "Active until")
	e.cmd(uAlice, "extend "+approvals.Short(r2.ID)+" 4h still closing")
	e.ephemeralWith(uAlice, "Extension filed")
	ext := e.waitRequestNot("alice@example.com", r.ID, r2.ID)
	if ext.ExtendsID != r2.ID {
		t.Fatalf("extension extends %q, want %q", ext.ExtendsID, r2.ID)
	}
	e.waitState(ext.ID, approvals.StateActive) // 4h internal: auto-approved by the same rule
	e.cmd(uAlice, "release "+approvals.Short(r2.ID))
	e.ephemeralWith(uAlice, "released")
	e.waitState(r2.ID, approvals.StateReleased)
	// The extension still covers the membership: released, not removed.
	e.wait("the released grant to end", func() bool {
		gs, _ := e.svc.Grants(context.Background(), r2.ID)
		return len(gs) == 1 && gs[0].State == approvals.GrantEnded
	})
	if !e.member("confluence-finance", "alice@example.com") {
		t.Fatal("releasing one grant removed a membership another grant covers")
	}
	// Release from the DM button ends the last cover.
	dm2 := e.dmWith(uAlice, approvals.Short(ext.ID), "Active until")
	e.click(uAlice, dm2, "release")
	e.waitState(ext.ID, approvals.StateReleased)
	e.wait("alice removed", func() bool { return !e.member("confluence-finance", "alice@example.com") })
	// #access-log heard of each decision (posted by the message lane, after
	// the states the test waited for).
	e.wait("two posts in #access-log", func() bool { return len(e.srv.Messages(cAcc)) >= 2 })
}

func TestE2E_TimeoutWithReminder(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	short := approvals.Short(r.ID)
	e.dmWith(uBob, short)
	e.clock.Advance(12*time.Hour + time.Second)
	e.dmWith(uBob, "Reminder", "times out")
	e.clock.Advance(12 * time.Hour)
	e.waitState(r.ID, approvals.StateTimedOut)
	e.dmWith(uAlice, short, "Timed out")
	c := e.dmWith(uBob, short, "Timed out")
	if c.HasAction("approve") {
		t.Error("timed-out card still has buttons")
	}
}

// Who may click what is decided from the stored request, never from the
// payload: each case has exactly the right single effect.
func TestE2E_Authorisation(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	short := approvals.Short(r.ID)
	card := e.dmWith(uBob, short)

	// Someone else clicking bob's card.
	e.click(uCarol, card, "approve")
	e.ephemeralWith(uCarol, "not an approver")
	// The requester clicking the approver's card.
	e.click(uAlice, card, "approve")
	e.ephemeralWith(uAlice, "cannot decide your own request")
	// A person Slack knows but the directory does not.
	e.click(uMal, card, "approve")
	e.ephemeralWith(uMal, "not in jitbot's directory")
	if e.state(r.ID) != approvals.StatePending {
		t.Fatal("an unauthorised click changed the request")
	}
	if ds, _ := e.svc.Decisions(context.Background(), r.ID); len(ds) != 0 {
		t.Fatalf("unauthorised clicks recorded %d decisions", len(ds))
	}

	// A forged request id: alice's own pending request id in a command
	// that only its owner may use, sent by carol.
	e.cmd(uCarol, "cancel "+short)
	e.ephemeralWith(uCarol, "no request "+short)
	if e.state(r.ID) != approvals.StatePending {
		t.Fatal("a forged id cancelled someone else's request")
	}

	// A double click: two envelopes at once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _, _ = e.srv.ClickButton(uBob, card.Channel, card.TS, "approve") })
	}
	wg.Wait()
	e.waitState(r.ID, approvals.StateActive)
	if ds, _ := e.svc.Decisions(context.Background(), r.ID); len(ds) != 1 {
		t.Fatalf("double click recorded %d decisions, want 1", len(ds))
	}
	if n := e.events(r.ID, approvals.ActionGrantProvisioned); n != 1 {
		t.Fatalf("double click provisioned %d times", n)
	}
	e.ephemeralWith(uBob, "already")

	// Two approvers of one step at once.
	e.srv.SetUserGroupMembers("S0ITLEADS", uDave, uFrank)
	e.cmd(uAlice, "jira-admins 1h hotfix OPS-7")
	r2 := e.waitRequestNot("alice@example.com", r.ID)
	s2 := approvals.Short(r2.ID)
	e.click(uBob, e.dmWith(uBob, s2), "approve")
	dc := e.dmWith(uDave, s2, "2 of 2")
	fc := e.dmWith(uFrank, s2, "2 of 2")
	wg.Go(func() { _, _ = e.srv.ClickButton(uDave, dc.Channel, dc.TS, "approve") })
	wg.Go(func() { _, _ = e.srv.ClickButton(uFrank, fc.Channel, fc.TS, "approve") })
	wg.Wait()
	e.waitState(r2.ID, approvals.StateActive)
	ds, _ := e.svc.Decisions(context.Background(), r2.ID)
	if len(ds) != 2 { // bob's step 1 and exactly one of dave and frank
		t.Fatalf("two approvers at once recorded %d decisions, want 2", len(ds))
	}
	if n := e.events(r2.ID, approvals.ActionRequestApproved); n != 1 {
		t.Fatalf("request approved %d times", n)
	}
	// Identities are cached: bob clicked and was notified many times, and
	// Slack was asked who he is once.
	lookups := 0
	for _, c := range e.srv.Calls("users.info") {
		if c.Args["user"] == uBob {
			lookups++
		}
	}
	if lookups < 1 || lookups > 2 { // two first lookups at once may both ask
		t.Errorf("users.info for bob called %d times, want 1 or 2 (cached)", lookups)
	}
}

// The emulator asks for a refresh and drops the socket mid-flow; the flow
// completes and nothing accepted is lost.
func TestE2E_Reconnect(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	card := e.dmWith(uBob, approvals.Short(r.ID))
	first := e.srv.Connections() // the bot keeps two
	if err := e.srv.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	e.wait("the connections refreshed", func() bool { return e.srv.Connections() >= 2*first })
	if err := e.srv.DropSocket(); err != nil {
		t.Fatal(err)
	}
	// The click waits for the bot to reconnect, then is delivered.
	e.click(uBob, card, "approve")
	e.waitState(r.ID, approvals.StateActive)
	e.dmWith(uAlice, approvals.Short(r.ID), "Active until")
	if n := e.srv.Connections(); n < 2*first+1 {
		t.Errorf("connections: %d, want ≥%d (first, after refresh, after drop)", n, 2*first+1)
	}
}

// The bot keeps two Socket Mode connections; Slack spreads envelopes over
// them, and every one is acked and answered whichever connection it came on.
func TestE2E_TwoConnections(t *testing.T) {
	e := newEnvWith(t, envOptions{slack: localslack.Options{Spread: true}})
	if !e.srv.WaitConnections(2, 5*time.Second) {
		t.Fatalf("connections: %d, want 2", e.srv.Connections())
	}
	if n := len(e.srv.Calls("apps.connections.open")); n != 3 {
		t.Errorf("apps.connections.open: %d calls, want 3 (Check's test of the token, then one per connection)", n)
	}
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := e.srv.SlashCommand(uAlice, cGen, "/access", "help"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e.wait("an answer to every command", func() bool { return len(e.srv.Ephemerals(uAlice)) >= n })
	if !e.bot.Connected() {
		t.Error("the bot says it is not connected")
	}
}

// Events are deduplicated by event_id; App Home shows my access, my
// requests and what waits for me.
func TestE2E_HomeAndEventDedup(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	e := newEnvWith(t, envOptions{log: zap.New(core)})
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	e.dmWith(uBob, approvals.Short(r.ID))
	if _, err := e.srv.AppHomeOpened(uBob); err != nil {
		t.Fatal(err)
	}
	var home localslack.View
	e.wait("bob's home", func() bool {
		v, ok := e.srv.Home(uBob)
		home = v
		return ok && strings.Contains(v.AllText(), approvals.Short(r.ID))
	})
	if !strings.Contains(home.AllText(), "Waiting for me") {
		t.Fatalf("home: %s", home.AllText())
	}
	ack, err := e.srv.AppHomeOpened(uAlice)
	if err != nil {
		t.Fatal(err)
	}
	e.wait("alice's home", func() bool { _, ok := e.srv.Home(uAlice); return ok })
	before := len(e.srv.Calls("views.publish"))
	if _, err := e.srv.RetryEvent(ack.EventID, "timeout"); err != nil {
		t.Fatal(err)
	}
	// The loop decides on the redelivery before it would start any work
	// for it, and says so: once it has, the count below is final.
	e.wait("the redelivery recognised", func() bool {
		return logs.FilterMessage("duplicate event ignored").FilterField(zap.String("event_id", ack.EventID)).Len() == 1
	})
	if after := len(e.srv.Calls("views.publish")); after != before {
		t.Errorf("a redelivered event was handled again: views.publish %d → %d", before, after)
	}
	// Cancel from App Home.
	home, _ = e.srv.Home(uAlice)
	if _, err := e.srv.BlockAction(uAlice, localslack.BlockActionArgs{ViewID: home.ID, ActionID: "cancel." + r.ID}); err != nil {
		t.Fatal(err)
	}
	e.waitState(r.ID, approvals.StateCancelled)
}

func TestE2E_CommandMistakes(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "jira-admin 1h x")
	e.ephemeralWith(uAlice, `no resource "jira-admin"`, "jira-admins")
	e.cmd(uAlice, "jira-admins forever x")
	e.ephemeralWith(uAlice, "not a duration")
	e.cmd(uAlice, "jira-admins 5h x OPS-1")
	e.ephemeralWith(uAlice, "Not filed", "at most 2h")
	e.cmd(uAlice, "help")
	e.ephemeralWith(uAlice, "/access release ID")
	e.cmd(uMal, "list")
	e.ephemeralWith(uMal, "not in jitbot's directory")
	e.cmd(uAlice, "audit <@"+uBob+"|bob>")
	e.ephemeralWith(uAlice, "IT only")
	// Nothing was filed by any of it.
	if rs, _ := e.svc.List(context.Background(), approvals.RequestFilter{Requester: "alice@example.com"}); len(rs) != 0 {
		t.Fatalf("mistakes filed %d requests", len(rs))
	}
}

func TestE2E_AuditForIT(t *testing.T) {
	var asked []string
	var mu sync.Mutex
	e := newEnvWith(t, envOptions{audit: func(_ context.Context, email string) (string, error) {
		mu.Lock()
		asked = append(asked, email)
		mu.Unlock()
		return "person: " + email + "\nrequest 1: granted", nil
	}})
	e.cmd(uDave, "audit <@"+uAlice+"|alice>")
	eph := e.ephemeralWith(uDave, "Evidence about alice@example.com", "request 1: granted")
	if eph.Source == "" {
		t.Fatal("no source")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != "alice@example.com" {
		t.Fatalf("audit asked for %v", asked)
	}
}

// A revoked token or a missing scope stops the bot with one sentence.
func TestCheck_Tokens(t *testing.T) {
	e := newEnv(t)
	e.stop()
	e.srv.SetScopes("chat:write", "commands", "im:write", "users:read", "usergroups:read")
	if err := e.bot.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "users:read.email") {
		t.Fatalf("missing scope: %v", err)
	}
	e.srv.RevokeBotToken()
	err := e.bot.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "token_revoked") || strings.Contains(err.Error(), e.srv.BotToken()) {
		t.Fatalf("revoked token: %v", err)
	}
}

// inPlainText reports whether text is the whole of a plain_text object in blocks.
func inPlainText(t *testing.T, blocks json.RawMessage, text string) bool {
	t.Helper()
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "plain_text" && x["text"] == text {
				return true
			}
			if x["type"] == "mrkdwn" && strings.Contains(fmt.Sprint(x["text"]), text) {
				t.Errorf("user text in mrkdwn: %v", x["text"])
			}
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		case []any:
			for _, c := range x {
				if walk(c) {
					return true
				}
			}
		}
		return false
	}
	var v any
	if err := json.Unmarshal(blocks, &v); err != nil {
		t.Fatal(err)
	}
	return walk(v)
}

func (e *env) waitRequest(requester string) *approvals.Request {
	e.t.Helper()
	return e.waitRequestNot(requester)
}

// waitRequestNot waits for a request of requester other than those given.
func (e *env) waitRequestNot(requester string, not ...string) *approvals.Request {
	e.t.Helper()
	var got *approvals.Request
	e.wait("a new request of "+requester, func() bool {
		rs, _ := e.svc.List(context.Background(), approvals.RequestFilter{Requester: requester})
		for _, r := range rs {
			seen := false
			for _, n := range not {
				seen = seen || r.ID == n
			}
			if !seen {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

// events counts the audit events of one action on a request.
func (e *env) events(requestID, action string) int {
	e.t.Helper()
	var n int
	if err := e.db.ReadDB().QueryRow(`SELECT count(*) FROM audit_events WHERE request_id = ? AND action = ?`, requestID, action).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// An envelope the client cannot parse is still acked, so Slack does not
// redeliver it, and the bot goes on working.
func TestE2E_UnparseableEnvelopeAcked(t *testing.T) {
	e := newEnv(t)
	ack, err := e.srv.Envelope("interactive", "this is not an interaction")
	if err != nil {
		t.Fatalf("no ack for an unparseable envelope: %v", err)
	}
	if ack.EnvelopeID == "" {
		t.Fatal("empty ack")
	}
	e.cmd(uAlice, "help")
	e.ephemeralWith(uAlice, "/access release ID")
}

// Slack answering 429 with Retry-After is waited out, not dropped: the
// message is put back until Retry-After has passed (no worker sleeps on
// it), and then it arrives.
func TestE2E_RateLimitedWebAPI(t *testing.T) {
	e := newEnv(t)
	e.srv.RateLimit("chat.postMessage", 1, 1)
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	limited := func() int {
		n := 0
		for _, c := range e.srv.Calls("chat.postMessage") {
			if c.Status == 429 {
				n++
			}
		}
		return n
	}
	e.wait("a 429 from chat.postMessage", func() bool { return limited() == 1 })
	// Within Retry-After the post is not tried again.
	e.wait("the job to be put back", func() bool { return e.pendingJobs(approvals.LaneMessage) > 0 && e.leasedJobs() == 0 })
	if got := e.posted(uAlice) + e.posted(uBob); got > 1 {
		t.Fatalf("%d DMs posted within Retry-After, want at most the one that was not limited", got)
	}
	e.clock.Advance(time.Second)
	e.dmWith(uBob, approvals.Short(r.ID))
	e.dmWith(uAlice, approvals.Short(r.ID))
	if limited() != 1 {
		t.Fatalf("want one 429 answered, got %d", limited())
	}
}

// Notify may be called again for a job after a crash: the second call
// edits the same messages and posts nothing new.
func TestNotifyIdempotent(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "jira-admins 1h fixing OPS-9")
	r := e.waitRequest("alice@example.com")
	e.dmWith(uBob, approvals.Short(r.ID))
	count := func() int { return len(e.srv.Calls("chat.postMessage")) }
	e.wait("the requester DM", func() bool { return len(e.srv.DMsTo(uAlice)) == 1 })
	before := count()
	for _, kind := range []string{approvals.NoteSubmitted, approvals.NoteReminder} {
		n := approvals.Notification{Kinds: []string{kind}, RequestID: r.ID, JobID: 424242}
		if err := e.bot.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		mid := count()
		if err := e.bot.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		if count() != mid {
			t.Errorf("%s delivered twice posted %d new messages the second time", kind, count()-mid)
		}
	}
	if got := count() - before; got != 1 { // the one reminder to bob
		t.Errorf("replays posted %d messages, want 1 (the reminder)", got)
	}
	if n := len(e.srv.DMsTo(uAlice)); n != 1 {
		t.Errorf("alice has %d DMs about one request", n)
	}
}

// A provisioning failure Atlassian will not fix (a deleted group) ends the
// request failed at once, tells the requester, and alerts IT in the alert
// channel with the reason.
func TestE2E_PermanentFailureAlerts(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "wiki-admins 2h tidy the space")
	r := e.waitRequest("alice@example.com")
	e.click(uBob, e.dmWith(uBob, approvals.Short(r.ID)), "approve")
	e.waitState(r.ID, approvals.StateFailed)
	e.dmWith(uAlice, approvals.Short(r.ID), "Failed", "group wiki-admins was deleted")
	e.postIn(cAlert, approvals.Short(r.ID), "group wiki-admins was deleted")
	if n := len(e.srv.Messages(cAlert)); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
}

// The Extend button on the expiry warning opens a modal; its submission
// files an extension under the same rules.
func TestE2E_ExtendFromWarning(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "confluence-finance 1h month end")
	r := e.waitRequest("alice@example.com")
	e.waitState(r.ID, approvals.StateActive)
	e.clock.Advance(46 * time.Minute)
	warn := e.dmWith(uAlice, "ends soon")
	e.click(uAlice, warn, "extend")
	var modal localslack.View
	e.wait("the extend modal", func() bool {
		v, ok := e.srv.LastView(uAlice)
		modal = v
		return ok && v.Open && v.CallbackID == "extend"
	})
	// Someone else cannot use alice's Extend button.
	e.click(uBob, warn, "extend")
	e.ephemeralWith(uBob, "only alice@example.com can extend")
	ack, err := e.srv.ViewSubmission(uAlice, modal.ID, localslack.Values{"duration": {"duration": "2h"}})
	if err != nil || ack.ResponseAction() != "" {
		t.Fatalf("extend submission: %v %q %v", err, ack.ResponseAction(), ack.Errors())
	}
	ext := e.waitRequestNot("alice@example.com", r.ID)
	if ext.ExtendsID != r.ID || ext.Duration != 2*time.Hour {
		t.Fatalf("extension %+v", ext)
	}
	e.waitState(ext.ID, approvals.StateActive)
	// The first grant ends; the extension keeps alice in the group.
	e.clock.Advance(15 * time.Minute)
	e.waitState(r.ID, approvals.StateExpired)
	if !e.member("confluence-finance", "alice@example.com") {
		t.Fatal("alice lost access her extension covers")
	}
}

// Neither token appears in any log line, even when Slack revokes the bot
// token mid-flow and every call fails.
func TestSecretsNeverLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	e := newEnvWith(t, envOptions{log: zap.New(core), slack: localslack.Options{BotToken: "xoxb-secret-4242", AppToken: "xapp-secret-4343"}})
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	card := e.dmWith(uBob, approvals.Short(r.ID))
	e.srv.RevokeBotToken()
	e.click(uBob, card, "approve") // users.info fails now; the reply goes by response_url
	// bob reads a plain sentence; the detail (token_revoked) is in the log only.
	e.ephemeralWith(uBob, "Something went wrong on jitbot's side")
	for _, m := range e.srv.Ephemerals(uBob) {
		if strings.Contains(m.AllText(), "token_revoked") || strings.Contains(m.AllText(), "users.info") {
			t.Errorf("a raw error reached bob: %q", m.AllText())
		}
	}
	if logs.FilterMessage("an error shown to a person as a plain sentence").Len() == 0 {
		t.Error("the error behind the sentence was not logged")
	}
	if _, err := e.srv.AppHomeOpened(uAlice); err != nil { // views.publish fails and is logged
		t.Fatal(err)
	}
	e.wait("a failed Web API call logged", func() bool { return logs.FilterMessage("views.publish").Len() > 0 })
	e.stop()
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, entry := range logs.All() {
		buf, err := enc.EncodeEntry(entry.Entry, entry.Context)
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String()
		if strings.Contains(line, "secret-4242") || strings.Contains(line, "secret-4343") {
			t.Fatalf("a token in the logs: %s", line)
		}
	}
}

// An approver the directory names but Slack does not know cannot get a
// card: the others still do, and IT is told instead of the request
// waiting in silence.
func TestE2E_UnreachableApproverAlerts(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "ghost-tools 2h audit prep")
	r := e.waitRequest("alice@example.com")
	e.dmWith(uBob, approvals.Short(r.ID))
	e.postIn(cAlert, approvals.Short(r.ID), "ghost@example.com cannot be asked in Slack")
	// Later notifications about the request do not alert again.
	if err := e.bot.Notify(context.Background(), approvals.Notification{Kinds: []string{approvals.NoteReminder}, RequestID: r.ID, JobID: 77}); err != nil {
		t.Fatal(err)
	}
	e.dmWith(uBob, "Reminder")
	if n := len(e.srv.Messages(cAlert)); n != 1 {
		t.Errorf("%d alerts about one unreachable approver, want 1", n)
	}
}
