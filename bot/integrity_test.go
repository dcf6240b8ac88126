package bot_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/localslack"
)

// Integrity item 11: the directory's slack_id decides who a Slack account
// is. Another account whose profile email equals an approver's cannot act
// as them; nor can a deactivated account, a bot, a Slack Connect stranger
// or a user of another workspace.
func TestIntegrity11_SlackAccountIsWhoTheDirectorySays(t *testing.T) {
	pol := strings.Replace(testPolicy, "{email: bob@example.com, department: Engineering, employment: internal}",
		"{email: bob@example.com, department: Engineering, employment: internal, slack_id: U0BOB}", 1)
	impostors := []localslack.User{
		{ID: "U0BOB2", Name: "bob2", RealName: "Not Bob", Email: "bob@example.com"},
	}
	refused := []localslack.User{
		{ID: "U0GONE", Name: "gone", Email: "carol@example.com", Deleted: true},
		{ID: "U0BOTTY", Name: "botty", Email: "carol@example.com", IsBot: true},
		{ID: "U0STRANGE", Name: "stranger", Email: "carol@example.com", IsStranger: true},
		{ID: "U0OTHER", Name: "other", Email: "carol@example.com", TeamID: "T0ELSEWHERE"},
	}
	e := newEnvWith(t, envOptions{policy: pol, users: append(impostors, refused...)})
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	card := e.dmWith(uBob, approvals.Short(r.ID))

	e.click("U0BOB2", card, "approve")
	e.ephemeralWith("U0BOB2", "not the one jitbot's directory names for bob@example.com")
	if got := e.state(r.ID); got != approvals.StatePending {
		t.Fatalf("after the impostor's click: %s, want pending", got)
	}
	if _, err := e.srv.AppHomeOpened("U0BOB2"); err != nil {
		t.Fatal(err)
	}
	e.wait("the impostor's App Home", func() bool { _, ok := e.srv.Home("U0BOB2"); return ok })
	if home, _ := e.srv.Home("U0BOB2"); len(home.ActionIDs()) != 0 || !strings.Contains(home.AllText(), "not the one") {
		t.Errorf("the impostor's App Home: %q with actions %v, want a refusal without buttons", home.AllText(), home.ActionIDs())
	}
	for _, u := range refused {
		e.cmd(u.ID, "list")
		e.ephemeralWith(u.ID, "jitbot only acts for people of its own workspace")
	}
	// bob himself still decides.
	e.click(uBob, card, "approve")
	e.waitState(r.ID, approvals.StateActive)
}

// Integrity item 16: what a requester controls — their Slack display name
// and the ticket they type — never renders as markdown on an approver's
// card; the form's ticket is checked like the command's.
func TestIntegrity16_RequesterTextIsPlain(t *testing.T) {
	e := newEnvWith(t, envOptions{users: []localslack.User{
		{ID: uAlice, Name: "alice", RealName: "*Pre-approved by CISO* :tada: <https://evil.example|docs>", Email: "alice@example.com"},
	}})
	e.cmd(uAlice, "confluence-finance 10d quarter close")
	r := e.waitRequest("alice@example.com")
	card := e.dmWith(uBob, approvals.Short(r.ID))
	name := "*Pre-approved by CISO* :tada: <https://evil.example|docs>"
	if !inPlainText(t, card.Blocks, name+" (alice@example.com) asks for Confluence Finance space") {
		t.Errorf("the display name is not shown as plain text: %s", card.Blocks)
	}

	// The form's ticket must look like a ticket key.
	e.cmd(uAlice, "")
	var modal localslack.View
	e.wait("the request modal", func() bool {
		v, ok := e.srv.LastView(uAlice)
		modal = v
		return ok && v.Open && v.CallbackID == "request"
	})
	ack, err := e.srv.ViewSubmission(uAlice, modal.ID, localslack.Values{
		"resource": {"resource": "jira-admins"}, "duration": {"duration": "1h"},
		"reason": {"text": "fixing"}, "ticket": {"text": "*Pre-approved by CISO*"}})
	if err != nil {
		t.Fatal(err)
	}
	if ack.ResponseAction() != "errors" || !strings.Contains(ack.Errors()["ticket"], "OPS-1234") {
		t.Fatalf("modal ack: %q %v, want the ticket refused next to its field", ack.ResponseAction(), ack.Errors())
	}
}
