package bot_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/review"
)

// A run of the employees rule asks each manager about the inactive people
// of their own team only, with Keep and Suspend per person and for all,
// and posts one digest in the rule's channel with the people nobody
// manages, a PNG chart and the CSV in its thread.
func TestReview_PromptAndDigest(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")

	bob := r.dmWith(uBob, "Licence review", "Alice Archer (alice@example.com)", "gina@example.com")
	if strings.Contains(bob.AllText(), "hank@example.com") || strings.Contains(bob.AllText(), "kim@example.com") {
		t.Errorf("bob's prompt lists people of other teams:\n%s", bob.AllText())
	}
	for _, email := range []string{"alice@example.com", "gina@example.com"} {
		it := r.item(run.ID, email)
		for _, b := range []string{"review_keep.", "review_suspend."} {
			if _, ok := buttonOf(bob, b, it.ID); !ok {
				t.Errorf("bob's prompt has no %s button for %s", b, email)
			}
		}
	}
	if !containsAll(bob.AllText(), "jira-software: last active", "confluence: never used", "days idle", "14.65 a month", "Keep all 2", "Suspend all 2") {
		t.Errorf("bob's prompt misses products, idle days, cost or the bulk buttons:\n%s", bob.AllText())
	}
	// The display name is the directory's, shown as plain text only.
	if !inPlainTextPart(t, bob.Blocks, "Gina *Gray* <!channel> (gina@example.com)") {
		t.Errorf("the display name is not in a plain_text object: %s", bob.Blocks)
	}
	if n := len(r.srv.DMsTo(uBob)); n != 1 {
		t.Errorf("bob got %d messages, want one prompt", n)
	}
	carol := r.dmWith(uCarol, "Licence review", "hank@example.com")
	if strings.Contains(carol.AllText(), "alice@example.com") {
		t.Errorf("carol's prompt lists bob's people")
	}

	// The digest: figures, the unassigned kim with Keep and Suspend, and
	// the chart and CSV uploaded into its thread.
	r.postIn(cLicences, "Licence review: employees", "Actions taken", "waiting for an answer 4", "unassigned (IT answers) 1", "kim@example.com")
	var digest = r.srv.Messages(cLicences)[0]
	if _, ok := buttonOf(digest, "review_suspend.", r.item(run.ID, "kim@example.com").ID); !ok {
		t.Errorf("the digest has no Suspend for kim, who has no manager: %s", digest.AllText())
	}
	r.wait("the chart and the CSV in the digest's thread", func() bool { return len(r.srv.FilesIn(cLicences)) == 2 })
	var sawPNG, sawCSV bool
	for _, f := range r.srv.FilesIn(cLicences) {
		if f.ThreadTS != digest.TS {
			t.Errorf("%s was shared outside the digest's thread", f.Name)
		}
		switch {
		case strings.HasSuffix(f.Name, ".png"):
			if _, err := png.Decode(bytes.NewReader(f.Bytes)); err != nil {
				t.Errorf("the chart is not a PNG: %v", err)
			}
			sawPNG = true
		case strings.HasSuffix(f.Name, ".csv"):
			rows, err := csv.NewReader(bytes.NewReader(f.Bytes)).ReadAll()
			if err != nil || len(rows) != 5 { // the header, alice, gina, hank, kim
				t.Errorf("the CSV: %d rows, %v:\n%s", len(rows), err, f.Bytes)
			}
			sawCSV = true
		}
	}
	if !sawPNG || !sawCSV {
		t.Errorf("files in the thread: %+v", r.srv.FilesIn(cLicences))
	}
	if v := r.srv.Violations(); len(v) > 0 {
		t.Errorf("Slack saw violations: %+v", v)
	}
}

// Keep opens a modal whose reason is required; once given, the person is
// kept, the card says so, and the next run within keep_for does not ask
// about them again.
func TestReview_KeepNeedsAReason(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")
	alice := r.item(run.ID, "alice@example.com")
	card := r.dmWith(uBob, "alice@example.com")
	r.clickItem(uBob, card, "review_keep.", alice.ID)
	modal := r.modal(uBob, "review_keep")
	if ack := r.submitReason(uBob, modal, "   "); ack.ResponseAction() != "errors" || !strings.Contains(ack.Errors()["reason"], "Say why") {
		t.Fatalf("an empty reason: %q %v", ack.ResponseAction(), ack.Errors())
	}
	if ack := r.submitReason(uBob, modal, "month-end close *every* quarter"); ack.ResponseAction() != "" {
		t.Fatalf("a reason: %q %v", ack.ResponseAction(), ack.Errors())
	}
	kept := r.waitItem(run.ID, "alice@example.com", review.ItemKept)
	if kept.DecidedBy != "bob@example.com" || kept.Reason != "month-end close *every* quarter" {
		t.Errorf("kept by %q for %q", kept.DecidedBy, kept.Reason)
	}
	r.dmWith(uBob, "Kept* by you", "month-end close *every* quarter")
	if r.org.isSuspended("alice@example.com") {
		t.Error("alice was suspended")
	}
	// A week later alice is still inactive; within keep_for she is not
	// asked about again.
	r.clock.Advance(7 * rDay)
	next := r.run("employees")
	if its, _ := r.eng.Items(context.Background(), review.ItemFilter{RunID: next.ID, Email: "alice@example.com"}); len(its) != 0 {
		t.Errorf("alice is asked about again within keep_for: %+v", its[0])
	}
}

// Suspend suspends through the engine at once and the card says what
// happened; someone else's click is refused and changes nothing.
func TestReview_SuspendAndRefusedClick(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")
	alice := r.item(run.ID, "alice@example.com")
	card := r.dmWith(uBob, "alice@example.com")

	// carol manages Finance, not alice; hank is alice's colleague.
	r.clickItem(uCarol, card, "review_suspend.", alice.ID)
	r.ephemeralWith(uCarol, "only bob@example.com (their manager) or IT can answer for alice@example.com")
	r.clickItem(uHank, card, "review_keep.", alice.ID)
	r.ephemeralWith(uHank, "only bob@example.com")
	if it := r.item(run.ID, "alice@example.com"); it.State != review.ItemPending {
		t.Fatalf("a refused click changed alice: %s", it.State)
	}

	r.clickItem(uBob, card, "review_suspend.", alice.ID)
	r.waitItem(run.ID, "alice@example.com", review.ItemSuspended)
	if !r.org.isSuspended("alice@example.com") {
		t.Fatal("alice is not suspended at Atlassian")
	}
	got := r.dmWith(uBob, "Suspended", "by you", "2 group memberships recorded")
	if got.TS != card.TS {
		t.Error("the card was not edited in place")
	}
	if _, ok := buttonOf(got, "review_keep.", alice.ID); ok {
		t.Error("alice still has a Keep button after her suspension")
	}
	// IT may answer for anyone: dave suspends gina on bob's card.
	gina := r.item(run.ID, "gina@example.com")
	r.clickItem(uDave, got, "review_suspend.", gina.ID)
	if it := r.waitItem(run.ID, "gina@example.com", review.ItemSuspended); it.DecidedBy != "dave@example.com" {
		t.Errorf("gina suspended by %q, want dave", it.DecidedBy)
	}
}

// Suspend all asks to confirm, then suspends everyone still waiting.
func TestReview_SuspendAll(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")
	card := r.dmWith(uBob, "Suspend all 2")
	ref := review.PromptRef(run.ID, "bob@example.com")
	action, ok := buttonOf(card, "review_suspend_all", ref)
	if !ok || !hasConfirm(card, action) {
		t.Fatalf("Suspend all has no confirm dialog: %s", card.Blocks)
	}
	// Someone else's Suspend all is refused before anything changes.
	r.click(uCarol, card, action)
	r.ephemeralWith(uCarol, "only bob@example.com")
	r.click(uBob, card, action)
	for _, email := range []string{"alice@example.com", "gina@example.com"} {
		r.waitItem(run.ID, email, review.ItemSuspended)
		if !r.org.isSuspended(email) {
			t.Errorf("%s is not suspended", email)
		}
	}
	r.wait("the bulk buttons to go", func() bool {
		m, _ := r.srv.Message(card.Channel, card.TS)
		return !strings.Contains(m.AllText(), "Suspend all")
	})
	if r.item(run.ID, "hank@example.com").State != review.ItemPending {
		t.Error("Suspend all reached carol's people")
	}
}

// Halfway through answer_within the manager is reminded in the prompt's
// thread; when it runs out, the default applies and the card says so.
func TestReview_ReminderAndDefault(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")
	card := r.dmWith(uBob, "alice@example.com")
	r.clock.Advance(5*rDay/2 + time.Minute)
	r.wait("the reminder", func() bool {
		for _, m := range r.srv.DMsTo(uBob) {
			if m.ThreadTS == card.TS && strings.Contains(m.AllText(), "Reminder: 2 of the 2 people") {
				return true
			}
		}
		return false
	})
	// bob answers for gina; alice is left to the default.
	gina := r.item(run.ID, "gina@example.com")
	r.clickItem(uBob, card, "review_suspend.", gina.ID)
	r.waitItem(run.ID, "gina@example.com", review.ItemSuspended)
	r.clock.Advance(5*rDay/2 + time.Minute)
	r.sweep()
	if it := r.waitItem(run.ID, "alice@example.com", review.ItemKept); it.DecidedBy != review.ActorDefault {
		t.Errorf("alice decided by %q, want the default", it.DecidedBy)
	}
	r.dmWith(uBob, "Kept* — no answer by", "the rule's default applied")
	if r.org.isSuspended("alice@example.com") {
		t.Error("the default keep suspended alice")
	}
	// The second reminder (a day before the end) found nobody waiting on
	// bob and sent nothing.
	n := 0
	for _, m := range r.srv.DMsTo(uBob) {
		if strings.Contains(m.AllText(), "Reminder") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("bob got %d reminders, want 1 (the second found nobody waiting)", n)
	}
}

// A consultant about to be suspended is warned with their manager; their
// "I still need it" reaches the manager's card, who keeps them.
func TestReview_WarningAndStillNeedIt(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("consultants")
	erin := r.item(run.ID, "erin@partner.io")
	warn := r.dmWith(uErin, "Your Atlassian access will be suspended", "consultants")
	managerCard := r.dmWith(uBob, "will be suspended", "erin@partner.io")
	if _, ok := buttonOf(managerCard, "review_keep.", erin.ID); !ok {
		t.Fatalf("the manager's card has no Keep: %s", managerCard.AllText())
	}
	// Only erin may say she still needs it.
	r.click(uAlice, warn, "review_need")
	r.ephemeralWith(uAlice, "Only erin@partner.io can ask")
	r.click(uErin, warn, "review_need")
	modal := r.modal(uErin, "review_need")
	r.submitReason(uErin, modal, "the Q1 audit needs me in Jira")
	r.wait("the request on bob's card", func() bool {
		m, _ := r.srv.Message(managerCard.Channel, managerCard.TS)
		return strings.Contains(m.AllText(), "They asked to keep access: “the Q1 audit needs me in Jira”")
	})
	r.wait("a reply telling bob", func() bool {
		for _, m := range r.srv.DMsTo(uBob) {
			if m.ThreadTS == managerCard.TS && strings.Contains(m.AllText(), "says they still need their access") {
				return true
			}
		}
		return false
	})
	r.dmWith(uErin, "You asked to keep it")
	r.clickItem(uBob, managerCard, "review_keep.", erin.ID)
	r.submitReason(uBob, r.modal(uBob, "review_keep"), "audit season")
	r.waitItem(run.ID, "erin@partner.io", review.ItemKept)
	r.clock.Advance(rDay + time.Minute)
	r.sweep()
	if r.org.isSuspended("erin@partner.io") {
		t.Error("erin was suspended although her manager kept her")
	}
	r.dmWith(uErin, "Kept* by bob@example.com")
}

// /access restore is for IT: it restores through the engine and says
// what came back and what could not.
func TestReview_RestoreCommand(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("consultants")
	r.clock.Advance(rDay + time.Minute)
	r.sweep()
	r.waitItem(run.ID, "erin@partner.io", review.ItemSuspended)
	r.cmd(uAlice, "restore <@"+uErin+"|erin>")
	r.ephemeralWith(uAlice, "is for IT only")
	if !r.org.isSuspended("erin@partner.io") {
		t.Fatal("a refused restore restored")
	}
	r.org.mu.Lock()
	r.org.groups["acc-erin"] = nil // suspension kept none in this fake
	r.org.mu.Unlock()
	r.cmd(uDave, "restore <@"+uErin+"|erin>")
	r.ephemeralWith(uDave, "erin@partner.io is restored", "Re-added by jitbot: staff", "the group no longer exists: old-project")
	if r.org.isSuspended("erin@partner.io") {
		t.Error("erin is still suspended")
	}
}

// App Home lists the reviews waiting for the manager, with the same
// buttons; IT members also see the people nobody manages.
func TestReview_AppHome(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")
	r.dmWith(uBob, "alice@example.com")
	if _, err := r.srv.AppHomeOpened(uBob); err != nil {
		t.Fatal(err)
	}
	alice := r.item(run.ID, "alice@example.com")
	r.wait("bob's App Home", func() bool {
		v, ok := r.srv.Home(uBob)
		return ok && strings.Contains(string(v.Blocks), "Reviews waiting for you") && strings.Contains(string(v.Blocks), "review_suspend."+alice.ID)
	})
	if _, err := r.srv.BlockAction(uBob, blockInHome(r, uBob, "review_suspend."+alice.ID)); err != nil {
		t.Fatal(err)
	}
	r.waitItem(run.ID, "alice@example.com", review.ItemSuspended)
	r.wait("alice to leave bob's App Home", func() bool {
		v, _ := r.srv.Home(uBob)
		return !strings.Contains(string(v.Blocks), alice.ID)
	})
	if _, err := r.srv.AppHomeOpened(uDave); err != nil {
		t.Fatal(err)
	}
	r.wait("kim in IT's App Home", func() bool {
		v, ok := r.srv.Home(uDave)
		return ok && strings.Contains(string(v.Blocks), "kim@example.com")
	})
}

// Slack answering 429 to every message does not hold a suspension back:
// it runs on the access lane, and the card catches up afterwards.
func TestReview_SuspensionWhileSlackRateLimited(t *testing.T) {
	r := newReviewEnv(t, envOptions{})
	run := r.run("employees")
	card := r.dmWith(uBob, "alice@example.com")
	r.srv.RateLimitFor(time.Minute, 60, "chat.postMessage", "chat.update", "views.publish", "conversations.open")
	alice := r.item(run.ID, "alice@example.com")
	answered := time.Now()
	if _, err := r.eng.Answer(context.Background(), review.AnswerInput{ItemID: alice.ID, By: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	r.wait("the suspension", func() bool { return r.org.isSuspended("alice@example.com") })
	if d := time.Since(answered); d > time.Second {
		t.Errorf("suspended %v after the answer while Slack answered 429, want within 1s", d)
	}
	r.waitItem(run.ID, "alice@example.com", review.ItemSuspended)
	if m, _ := r.srv.Message(card.Channel, card.TS); strings.Contains(m.AllText(), "Suspended") {
		t.Error("the card was edited while Slack answered 429")
	}
	if _, ok := r.advanceWhenIdle(time.Second, 2*time.Minute, func() bool {
		m, _ := r.srv.Message(card.Channel, card.TS)
		return strings.Contains(m.AllText(), "Suspended")
	}); !ok {
		t.Error("the card did not catch up once Slack let it")
	}
}

// blockInHome is a click on a button of user's App Home.
func blockInHome(r *reviewEnv, user, action string) localslack.BlockActionArgs {
	v, _ := r.srv.Home(user)
	return localslack.BlockActionArgs{ViewID: v.ID, ActionID: action}
}

// With licence reviews that post digests, the bot refuses to start
// without files:write (the chart and the CSV), and the manifest asks for it.
func TestReview_FilesWriteScope(t *testing.T) {
	manifest, err := os.ReadFile("../deploy/slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "- files:write") {
		t.Error("the manifest does not ask for files:write")
	}
	r := newReviewEnv(t, envOptions{})
	r.stop()
	r.srv.SetScopes("chat:write", "commands", "im:write", "users:read", "users:read.email", "usergroups:read")
	if err := r.bot.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "files:write") {
		t.Fatalf("missing files:write: %v", err)
	}
}

// Without a digest channel, IT's list of the people nobody manages goes to
// the alert channel; only IT may answer for them.
func TestReview_UnassignedWithoutDigest(t *testing.T) {
	r := newReviewEnvPolicy(t, envOptions{}, strings.Replace(reviewPolicy, "    default: keep\n    keep_for: 90d\n    digest: \"#it-licences\"\n", "    default: keep\n    keep_for: 90d\n", 1))
	run := r.run("employees")
	kim := r.item(run.ID, "kim@example.com")
	var list localslack.Message
	r.wait("IT's list in the alert channel", func() bool {
		for _, m := range r.srv.Messages(cAlert) {
			if strings.Contains(m.AllText(), "kim@example.com") && strings.Contains(m.AllText(), "without a manager") {
				list = m
				return true
			}
		}
		return false
	})
	r.clickItem(uBob, list, "review_keep.", kim.ID)
	r.ephemeralWith(uBob, "only IT can answer for them")
	r.clickItem(uDave, list, "review_keep.", kim.ID)
	r.submitReason(uDave, r.modal(uDave, "review_keep"), "contractor returning in January")
	if it := r.waitItem(run.ID, "kim@example.com", review.ItemKept); it.DecidedBy != "dave@example.com" {
		t.Errorf("kim kept by %q", it.DecidedBy)
	}
	r.wait("IT's list to say so", func() bool {
		m, _ := r.srv.Message(list.Channel, list.TS)
		return strings.Contains(m.AllText(), "Kept* by dave@example.com")
	})
	if len(r.srv.Messages(cLicences)) != 0 {
		t.Error("a rule without a digest posted one")
	}
}

// itSelfPolicy: dave, in IT, has no manager and has been idle for 60
// days, so his own item is on IT's list (in the alert channel).
func itSelfEnv(t *testing.T, o envOptions) (*reviewEnv, *review.Item, localslack.Message) {
	t.Helper()
	policy := strings.Replace(reviewPolicy, "    default: keep\n    keep_for: 90d\n    digest: \"#it-licences\"\n", "    default: keep\n    keep_for: 90d\n", 1)
	policy = strings.Replace(policy, "{email: dave@example.com, department: IT, manager: carol@example.com,", "{email: dave@example.com, department: IT,", 1)
	r := newReviewEnvPolicy(t, o, policy)
	r.org.users[5] = r.person("dave@example.com", "Dave Dunn", "IT", 60, false)
	if _, err := r.eng.Sync(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	run := r.run("employees")
	dave := r.item(run.ID, "dave@example.com")
	var list localslack.Message
	r.wait("IT's list in the alert channel", func() bool {
		for _, m := range r.srv.Messages(cAlert) {
			if strings.Contains(m.AllText(), "dave@example.com") && strings.Contains(m.AllText(), "without a manager") {
				list = m
				return true
			}
		}
		return false
	})
	return r, dave, list
}

// A member of IT cannot keep their own account: another member does.
func TestReview_ITNotForThemselves(t *testing.T) {
	r, dave, list := itSelfEnv(t, envOptions{})
	r.clickItem(uDave, list, "review_keep.", dave.ID)
	r.ephemeralWith(uDave, "you cannot answer for yourself: another member of IT must answer for dave@example.com")
	r.clickItem(uDave, list, "review_suspend.", dave.ID)
	r.ephemeralWith(uDave, "you cannot answer for yourself: another member of IT must answer for dave@example.com")
	if it := r.item(dave.RunID, "dave@example.com"); it.State != review.ItemPending {
		t.Fatalf("dave after his own clicks: %s, want pending", it.State)
	}
	r.clickItem(uFrank, list, "review_keep.", dave.ID)
	r.submitReason(uFrank, r.modal(uFrank, "review_keep"), "runs the IT on-call")
	if it := r.waitItem(dave.RunID, "dave@example.com", review.ItemKept); it.DecidedBy != "frank@example.com" {
		t.Errorf("dave kept by %q, want frank@example.com", it.DecidedBy)
	}
}

// Where IT is one person, their own item is raised in the alert channel
// and stays open.
func TestReview_ITOfOnePerson(t *testing.T) {
	r, dave, list := itSelfEnv(t, envOptions{botConfig: func(c *bot.Config) { c.ITGroup = "it-leads" }})
	r.clickItem(uDave, list, "review_keep.", dave.ID)
	r.ephemeralWith(uDave, "You cannot answer for yourself, and you are the only member of IT: this was raised in the alert channel, and your review stays open until someone else answers it.")
	want := "dave@example.com is the only member of the IT group @it-leads, and their own licence review item (rule employees) needs an answer from someone else: add a second member to @it-leads to answer it. It stays open until then."
	r.wait("the alert", func() bool {
		for _, m := range r.srv.Messages(cAlert) {
			if strings.Contains(m.AllText(), want) {
				return true
			}
		}
		return false
	})
	if it := r.item(dave.RunID, "dave@example.com"); it.State != review.ItemPending || it.DecidedBy != "" {
		t.Errorf("dave: %s decided by %q, want pending", it.State, it.DecidedBy)
	}
}
