package bot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
)

// certEscPolicy: bob manages alice and frank; carol manages bob and dave
// and has no manager; dave owns ops-admins. Each member is reviewed by
// their manager; halfway the items go to the owner and to the manager of
// the reviewer who has not answered.
const certEscPolicy = `directory:
  people:
    - {email: carol@example.com, department: IT, employment: internal}
    - {email: bob@example.com, department: IT, manager: carol@example.com, employment: internal}
    - {email: alice@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: frank@example.com, department: IT, manager: bob@example.com, employment: internal}
    - {email: dave@example.com, department: IT, manager: carol@example.com, employment: internal}
resources:
  - {id: ops-admins, name: Ops admins, provider: dryrun, group: ops-admins, max_duration: 4h, owners: [dave@example.com]}
rules:
  - {name: the manager approves, then: {approvals: [{approvers: [manager]}]}}
certifications:
  - name: ops quarterly
    resources: [ops-admins]
    reviewers: [%s]
    schedule: "@monthly"
    answer_within: 14d
    escalate_to: [%s]
`

// certEnv is the bot env with the certification engine over its store.
type certEnv struct {
	*env
	eng *certify.Engine
}

// newCertEnv starts the bot with a certification rule reviewed by
// reviewers and escalated to escalateTo, and members standing in
// ops-admins.
func newCertEnv(t *testing.T, reviewers, escalateTo string, slack localslack.Options, members ...string) *certEnv {
	t.Helper()
	c := &certEnv{}
	c.env = newEnvWith(t, envOptions{policy: fmt.Sprintf(certEscPolicy, reviewers, escalateTo), slack: slack,
		certify: func(e *env) bot.Certifier {
			c.eng = certify.New(certify.Config{Store: e.db, Access: e.svc, Resolver: e.svc, ITGroup: "it", Clock: e.clock})
			return c.eng
		}})
	for _, m := range members {
		if err := c.dry.AddMember(context.Background(), approvals.Membership{Provider: "dryrun", Group: "ops-admins", Person: m}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// start runs the campaign now and returns its items by person.
func (c *certEnv) start() (*certify.Campaign, map[string]*certify.Item) {
	c.t.Helper()
	rule, _ := c.eng.Policy().CertRule("ops quarterly")
	camp, err := c.eng.Start(context.Background(), rule, certify.TriggerCLI)
	if err != nil {
		c.t.Fatal(err)
	}
	return camp, c.items(camp)
}

func (c *certEnv) items(camp *certify.Campaign) map[string]*certify.Item {
	c.t.Helper()
	_, items, err := c.eng.Campaign(context.Background(), camp.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]*certify.Item{}
	for _, it := range items {
		out[it.Person] = it
	}
	return out
}

// sweep escalates and defaults at the test clock's now.
func (c *certEnv) sweep() int {
	c.t.Helper()
	n, err := c.eng.Sweep(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// escalationCards returns user's DMs that are escalation cards.
func (c *certEnv) escalationCards(user string) []localslack.Message {
	var out []localslack.Message
	for _, m := range c.srv.DMsTo(user) {
		if strings.Contains(m.Text, "escalated to you") {
			out = append(out, m)
		}
	}
	return out
}

// Halfway to answer_within, the unanswered items reach escalate_to's
// owner (the resource's owner) and manager (the manager of the reviewer
// who did not answer) in Slack: one card each, saying whose items they are
// and why they come to them, never with the reader's own membership; the
// people reached answer from it. Terms that name nobody are recorded on
// the items.
func TestCertification_EscalationReachesOwnerAndManager(t *testing.T) {
	c := newCertEnv(t, "manager", "owner, manager", localslack.Options{StrictBlocks: true},
		"alice@example.com", "frank@example.com", "bob@example.com", "dave@example.com")
	camp, items := c.start()
	if items["alice@example.com"].Reviewer != "bob@example.com" || items["dave@example.com"].Reviewer != "carol@example.com" {
		t.Fatalf("reviewers: alice %q, dave %q", items["alice@example.com"].Reviewer, items["dave@example.com"].Reviewer)
	}
	bobCard := c.dmWith(uBob, "Access review: 2 standing memberships", "alice@example.com in ops-admins", "frank@example.com in ops-admins")
	c.dmWith(uCarol, "Access review: 2 standing memberships", "bob@example.com in ops-admins", "dave@example.com in ops-admins")

	// Just before halfway nothing is escalated, and nobody gets a card.
	c.clock.Advance(7*24*time.Hour - time.Millisecond)
	if n := c.sweep(); n != 0 {
		t.Fatalf("sweep before halfway: %d items, want none", n)
	}
	c.wait("the message lane to be idle", func() bool { return c.messagesDue() == 0 })
	if got := len(c.escalationCards(uDave)) + len(c.escalationCards(uCarol)); got != 0 {
		t.Fatalf("escalation cards before halfway: %d", got)
	}

	c.clock.Advance(time.Millisecond)
	if n := c.sweep(); n != 4 {
		t.Fatalf("sweep at halfway: %d items, want 4 escalated", n)
	}
	// dave owns ops-admins: alice, frank and bob come to him, his own
	// membership does not.
	daveCard := c.dmWith(uDave, "Access review escalated to you: 3 standing memberships",
		"alice@example.com in ops-admins", "frank@example.com in ops-admins", "bob@example.com in ops-admins",
		"Asked of bob@example.com; it comes to you as an owner of ops-admins.",
		"Asked of carol@example.com; it comes to you as an owner of ops-admins.",
		"still unanswered by bob@example.com and carol@example.com")
	if strings.Contains(daveCard.AllText(), "dave@example.com in ops-admins") {
		t.Errorf("dave's escalation card asks him about his own access:\n%s", daveCard.AllText())
	}
	// carol manages bob, who did not answer: alice and frank come to her.
	carolCard := c.dmWith(uCarol, "Access review escalated to you: 2 standing memberships",
		"alice@example.com in ops-admins", "frank@example.com in ops-admins",
		"Asked of bob@example.com; it comes to you as the manager of bob@example.com.")
	if strings.Contains(carolCard.AllText(), "bob@example.com in ops-admins") {
		t.Errorf("carol's escalation card lists bob, whose reviewer (carol) has no manager:\n%s", carolCard.AllText())
	}
	if n := len(c.escalationCards(uDave)); n != 1 {
		t.Errorf("dave has %d escalation cards, want one with all his items", n)
	}
	for _, u := range []string{uAlice, uFrank, uBob} {
		if n := len(c.escalationCards(u)); n != 0 {
			t.Errorf("%s got %d escalation cards, want none", u, n)
		}
	}

	// What named nobody is on the items, for the report.
	items = c.items(camp)
	for p, want := range map[string]string{
		"alice@example.com": "",
		"bob@example.com":   "manager: the reviewer carol@example.com has no manager in the directory",
		"dave@example.com": "owner: it names only dave@example.com, who may not certify their own access; " +
			"manager: the reviewer carol@example.com has no manager in the directory",
	} {
		if got := items[p].Unescalated; got != want {
			t.Errorf("%s unescalated: got %q, want %q", p, got, want)
		}
	}

	// dave removes alice from his card; carol keeps frank, with a reason.
	c.click(uDave, daveCard, "cert_remove."+items["alice@example.com"].ID)
	c.wait("alice's removal", func() bool { return !c.member("ops-admins", "alice@example.com") })
	c.click(uCarol, carolCard, "cert_keep."+items["frank@example.com"].ID)
	v := c.modal(uCarol, "cert_keep")
	if _, err := c.srv.ViewSubmission(uCarol, v.ID, localslack.Values{"reason": {"text": "runs the on-call rota"}}); err != nil {
		t.Fatal(err)
	}
	c.wait("the cards to show both answers", func() bool {
		d, _ := c.srv.Message(daveCard.Channel, daveCard.TS)
		b, _ := c.srv.Message(bobCard.Channel, bobCard.TS)
		return containsAll(d.AllText(), "Remove by dave@example.com: removed.", "Kept by carol@example.com: “runs the on-call rota”") &&
			containsAll(b.AllText(), "Remove by dave@example.com: removed.", "Kept by carol@example.com")
	})
	// dave may not answer for himself, whatever card he clicks from.
	if _, err := c.eng.Answer(context.Background(), items["dave@example.com"].ID, "dave@example.com", policies.CertRemove, ""); approvals.ErrorCode(err) != certify.ESelfReview {
		t.Errorf("dave on his own access: got %v, want self_review", err)
	}
	if v := c.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack saw calls outside its API: %+v", v)
	}
}

// Two hundred unanswered items escalated to one owner reach them as one
// card, paged as a reviewer's is (22 a message, within Block Kit's limits,
// which the local Slack enforces strictly), each item on it once with its
// buttons, at Slack's pace of one message a second per channel.
func TestCertification_EscalationOf200ToOneOwner(t *testing.T) {
	const n = 200
	members := make([]string, n)
	for i := range members {
		members[i] = fmt.Sprintf("member%03d@example.com", i)
	}
	c := newCertEnv(t, "carol@example.com", "owner", localslack.Options{StrictBlocks: true}, members...)
	_, items := c.start()
	if len(items) != n {
		t.Fatalf("items: got %d, want %d", len(items), n)
	}
	pages := (n + 21) / 22
	if _, ok := c.advanceWhenIdle(time.Second, time.Minute, func() bool { return len(c.srv.DMsTo(uCarol)) == pages }); !ok {
		t.Fatalf("carol's card: %d messages, want %d", len(c.srv.DMsTo(uCarol)), pages)
	}
	c.clock.Advance(7 * 24 * time.Hour)
	if got := c.sweep(); got != n {
		t.Fatalf("sweep at halfway: %d, want %d", got, n)
	}
	took, ok := c.advanceWhenIdle(time.Second, time.Minute, func() bool { return len(c.escalationCards(uDave)) == pages })
	if !ok {
		t.Fatalf("dave's escalation card: %d messages, want %d", len(c.escalationCards(uDave)), pages)
	}
	t.Logf("%d escalated items: %d messages to the owner in %s of Slack's pace", n, pages, took)
	seen := map[string]int{}
	for i, m := range c.escalationCards(uDave) {
		if i == 0 && !containsAll(m.AllText(), fmt.Sprintf("Access review escalated to you: %d standing memberships", n), "*Messages*\n10") {
			t.Errorf("the first message lacks the heading:\n%.400s", m.AllText())
		}
		if i > 0 && !strings.Contains(m.AllText(), fmt.Sprintf("message %d of %d", i+1, pages)) {
			t.Errorf("message %d does not say which it is:\n%.300s", i+1, m.AllText())
		}
		for _, it := range items {
			if _, ok := buttonOf(m, "cert_remove.", it.ID); ok {
				seen[it.ID]++
			}
		}
	}
	for p, it := range items {
		if seen[it.ID] != 1 {
			t.Errorf("%s: on %d of dave's messages, want 1", p, seen[it.ID])
		}
	}
	if v := c.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack refused or saw calls outside its API: %+v", v)
	}
	// An answer from the last page edits it, and the escalation job does
	// not post again.
	last := c.escalationCards(uDave)[pages-1]
	var lastItem *certify.Item
	for _, it := range items {
		if _, ok := buttonOf(last, "cert_remove.", it.ID); ok {
			lastItem = it
		}
	}
	if lastItem == nil {
		t.Fatal("no item on the last message")
	}
	c.click(uDave, last, "cert_remove."+lastItem.ID)
	c.wait("the last message to show the removal", func() bool {
		m, _ := c.srv.Message(last.Channel, last.TS)
		return strings.Contains(m.AllText(), "Remove by dave@example.com: removed.")
	})
	c.advanceWhenIdle(time.Second, 10*time.Second, func() bool { return false })
	if got := len(c.escalationCards(uDave)); got != pages {
		t.Errorf("after an answer dave has %d messages, want %d (edited, not posted again)", got, pages)
	}
}
