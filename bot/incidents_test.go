package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/localslack"
)

// incidentPolicy: it-tools waits on the manager or frank and escalates to
// the IT leads after 30 minutes; the manager may file it for someone.
var incidentPolicy = testenv.Policy(testenv.PolicyParts{
	RulesFirst: `  - name: escalating
    if: {resource: [it-tools]}
    then:
      approvals:
        - approvers: [manager, frank@example.com]
          escalate_after: 30m
          escalate_to: [group:it-leads]
      on_behalf: [manager]
  - name: incident
    if: {resource: [jira-admins], requester: {department: [IT]}}
    then:
      approvals: [{approvers: [manager]}]
      break_glass: {max_duration: 1h, notify: ["#it-access-log"], review_by: [frank@example.com, group:it-leads], max_uses: 1}
`,
})

// Unanswered, the step escalates: dave gets a card saying why, alice's DM
// says to whom, and bob's card keeps its buttons; dave decides.
func TestE2E_Escalation(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: incidentPolicy})
	e.cmd(uAlice, "it-tools 2h the deploy is stuck")
	r := e.waitRequest("alice@example.com")
	short := approvals.Short(r.ID)
	e.dmWith(uBob, short)
	e.clock.Advance(29 * time.Minute)
	if len(e.srv.DMsTo(uDave)) != 0 {
		t.Fatal("dave was asked before the escalation")
	}
	e.clock.Advance(time.Minute)
	card := e.dmWith(uDave, short, "Escalated to you", "within 30m")
	if !card.HasAction("approve") {
		t.Fatalf("dave's card has no buttons: %v", card.ActionIDs())
	}
	e.dmWith(uAlice, short, "Escalated to dave@example.com", "within 30m")
	if c := e.only(uBob, short); !c.HasAction("approve") {
		t.Error("bob's card lost its buttons at the escalation")
	}
	e.click(uDave, card, "approve")
	e.waitState(r.ID, approvals.StateActive)
	e.dmWith(uBob, short, "Approved", "dave@example.com")
	if e.events(r.ID, approvals.ActionRequestEscalated) != 1 {
		t.Errorf("escalation events: %d, want 1", e.events(r.ID, approvals.ActionRequestEscalated))
	}
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}

// bob files for alice: the request is hers (her DM says who filed it and
// offers Cancel); bob gets no card, and the step escalates to dave.
func TestE2E_OnBehalf(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: incidentPolicy})
	e.cmd(uBob, "it-tools 2h for <@"+uAlice+"|alice> on call tonight")
	e.ephemeralWith(uBob, "filed for alice@example.com", "Neither of you may approve it")
	r := e.waitRequest("alice@example.com")
	short := approvals.Short(r.ID)
	dm := e.dmWith(uAlice, short, "Filed for you by bob@example.com", "on call tonight")
	if !dm.HasAction("cancel") {
		t.Errorf("alice's DM has no Cancel: %v", dm.ActionIDs())
	}
	e.clock.Advance(30 * time.Minute)
	card := e.dmWith(uDave, short, "Filed by bob@example.com for alice@example.com")
	for _, m := range e.srv.DMsTo(uBob) {
		if m.HasAction("approve") {
			t.Fatalf("bob, who filed it, got a card with Approve: %s", m.AllText())
		}
	}
	e.click(uDave, card, "approve")
	e.waitState(r.ID, approvals.StateActive)

	// carol is not alice's manager: refused with a sentence.
	e.cmd(uCarol, "it-tools 1h for @alice because")
	e.ephemeralWith(uCarol, "Not filed", "may not file requests for alice@example.com")
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}

// bob delegates to carol: the card already out is sent to her, saying
// whom she stands in for; she approves. A chain is refused with a
// sentence; off ends it.
func TestE2E_Delegation(t *testing.T) {
	e := newEnv(t)
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	short := approvals.Short(r.ID)
	e.dmWith(uBob, short)
	e.cmd(uBob, "delegate <@"+uCarol+"|carol> until 2026-12-24")
	e.ephemeralWith(uBob, "Done: until", "carol@example.com")
	card := e.dmWith(uCarol, short, "You stand in for bob@example.com")
	e.cmd(uCarol, "delegate @dave until 3d")
	e.ephemeralWith(uCarol, "Not delegated", "does not chain")
	e.cmd(uBob, "delegate")
	e.ephemeralWith(uBob, "wait on carol@example.com too")
	e.click(uCarol, card, "approve")
	e.waitState(r.ID, approvals.StateActive)
	e.cmd(uBob, "delegate off")
	e.ephemeralWith(uBob, "carol@example.com no longer approves for you")
	e.cmd(uBob, "delegate off")
	e.ephemeralWith(uBob, "no delegation to end")
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}

// dave breaks the glass: access at once, the alert and the channel post,
// frank's review card (dave never reviews his own), Flag with a reason;
// a second use in 30 days is refused; alice, whom no rule allows, too.
func TestE2E_BreakGlass(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: incidentPolicy})
	e.cmd(uDave, "jira-admins 30m --break-glass prod is down INC-7")
	e.ephemeralWith(uDave, "Break-glass request", "without approval")
	r := e.waitRequest("dave@example.com")
	short := approvals.Short(r.ID)
	e.waitState(r.ID, approvals.StateActive)
	e.postIn(cAlert, "Break-glass", "dave@example.com", "jira-admins", "prod is down")
	e.postIn(cLog, short)
	e.dmWith(uDave, short, "Break-glass", "Active until")
	card := e.dmWith(uFrank, "Break-glass review", "dave@example.com", "prod is down", "The grant")
	for _, m := range e.srv.DMsTo(uDave) {
		if m.HasAction("bg_ack") {
			t.Fatal("dave got a review card for his own use")
		}
	}
	e.click(uFrank, card, "bg_flag")
	var modal localslack.View
	e.wait("the flag form", func() bool {
		v, ok := e.srv.LastView(uFrank)
		modal = v
		return ok && v.Open && v.CallbackID == "bg_flag"
	})
	if ack, err := e.srv.ViewSubmission(uFrank, modal.ID, localslack.Values{"reason": {"text": ""}}); err != nil || ack.ResponseAction() != "errors" {
		t.Fatalf("an empty reason: %v %q", err, ack.ResponseAction())
	}
	if _, err := e.srv.ViewSubmission(uFrank, modal.ID, localslack.Values{"reason": {"text": "no incident was open"}}); err != nil {
		t.Fatal(err)
	}
	done := e.dmWith(uFrank, "Break-glass review", "Flagged", "frank@example.com", "no incident was open")
	if done.HasAction("bg_ack") {
		t.Error("the answered card keeps its buttons")
	}
	e.postIn(cAlert, "flagged by frank@example.com", "no incident was open")
	if e.events(r.ID, approvals.ActionBreakGlassFlagged) != 1 {
		t.Error("no breakglass.flagged event")
	}

	e.cmd(uDave, "jira-admins 30m --break-glass again")
	e.ephemeralWith(uDave, "Not filed", "used break-glass once in the last 30 days")
	e.cmd(uAlice, "jira-admins 30m --break-glass let me in")
	e.ephemeralWith(uAlice, "Not filed", "does not allow break-glass")
	e.clock.Advance(30 * time.Minute)
	e.waitState(r.ID, approvals.StateExpired)
	e.wait("dave removed", func() bool { return !e.member("jira-admins", "dave@example.com") })
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}

// The form shows the break-glass checkbox only where the chosen resource's
// rule allows it for the person; ticked, the request is break-glass.
func TestE2E_BreakGlassForm(t *testing.T) {
	e := newEnvWith(t, envOptions{policy: incidentPolicy})
	open := func(user, resource string) localslack.View {
		e.cmd(user, "")
		var view localslack.View
		e.wait("the request modal", func() bool {
			v, ok := e.srv.LastView(user)
			view = v
			return ok && v.Open && v.CallbackID == "request"
		})
		if strings.Contains(view.AllText(), "Break the glass") {
			t.Fatal("the checkbox shows before a resource is chosen")
		}
		if _, err := e.srv.BlockAction(user, localslack.BlockActionArgs{ViewID: view.ID, ActionID: "resource", SelectedOption: resource}); err != nil {
			t.Fatal(err)
		}
		e.wait("the modal narrowed to "+resource, func() bool {
			v, _ := e.srv.ViewByID(view.ID)
			view = v
			return strings.Contains(v.AllText(), "for you and "+resource)
		})
		return view
	}
	// alice (Engineering): no rule lets her break the glass on jira-admins.
	if v := open(uAlice, "jira-admins"); strings.Contains(v.AllText(), "Break the glass") {
		t.Error("alice's form offers break-glass")
	}
	v := open(uDave, "jira-admins")
	if !strings.Contains(v.AllText(), "Break the glass") {
		t.Fatalf("dave's form lacks the checkbox:\n%s", v.AllText())
	}
	ack, err := e.srv.ViewSubmission(uDave, v.ID, localslack.Values{"resource": {"resource": "jira-admins"}, "duration": {"duration": "30m"},
		"reason": {"text": "prod is down"}, "breakglass": {"breakglass": []string{"yes"}}})
	if err != nil || ack.ResponseAction() != "" {
		t.Fatalf("submission: %v %q %v", err, ack.ResponseAction(), ack.Errors())
	}
	r := e.waitRequest("dave@example.com")
	e.waitState(r.ID, approvals.StateActive)
	e.dmWith(uFrank, "Break-glass review", "prod is down")
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}

// App Home offers to delegate: the form takes a person and a day; the
// home then says who approves for you, with End delegation.
func TestE2E_DelegationFromHome(t *testing.T) {
	e := newEnv(t)
	if _, err := e.srv.AppHomeOpened(uBob); err != nil {
		t.Fatal(err)
	}
	var home localslack.View
	e.wait("bob's home offers to delegate", func() bool {
		v, ok := e.srv.Home(uBob)
		home = v
		return ok && strings.Contains(v.AllText(), "Delegate your approvals")
	})
	if _, err := e.srv.BlockAction(uBob, localslack.BlockActionArgs{ViewID: home.ID, ActionID: "delegate_open"}); err != nil {
		t.Fatal(err)
	}
	var form localslack.View
	e.wait("the delegation form", func() bool {
		v, ok := e.srv.LastView(uBob)
		form = v
		return ok && v.Open && v.CallbackID == "delegate"
	})
	if _, err := e.srv.ViewSubmission(uBob, form.ID, localslack.Values{"delegate": {"delegate_user": uCarol}, "until": {"until": "2026-12-24"}}); err != nil {
		t.Fatal(err)
	}
	e.wait("bob's home says carol approves for him", func() bool {
		v, _ := e.srv.Home(uBob)
		home = v
		return strings.Contains(v.AllText(), "delegated to carol@example.com")
	})
	d, err := e.svc.DelegationOf(context.Background(), "bob@example.com")
	if err != nil || d == nil || d.Delegate != "carol@example.com" || !d.Until.Equal(time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("bob's delegation: %+v, %v", d, err)
	}
	if _, err := e.srv.BlockAction(uBob, localslack.BlockActionArgs{ViewID: home.ID, ActionID: "delegate_off"}); err != nil {
		t.Fatal(err)
	}
	e.wait("the delegation ended", func() bool {
		d, _ := e.svc.DelegationOf(context.Background(), "bob@example.com")
		return d == nil
	})
	if v := e.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack violations: %+v", v)
	}
}
