package bot_test

import (
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/testenv"
)

// incidentPolicy: it-tools waits on the manager and escalates to the IT
// leads after 30 minutes.
var incidentPolicy = testenv.Policy(testenv.PolicyParts{
	RulesFirst: `  - name: escalating
    if: {resource: [it-tools]}
    then:
      approvals:
        - approvers: [manager]
          escalate_after: 30m
          escalate_to: [group:it-leads]
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
}
