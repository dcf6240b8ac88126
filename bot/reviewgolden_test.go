package bot

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/slack-go/slack"
)

var gCosts = map[string]float64{"jira-software": 8.60, "confluence": 6.05}

func gRun(n int) *review.Run {
	return &review.Run{ID: "7e57ab1e-0000-4000-8000-000000000013", Rule: "employees", State: review.RunOpen, Trigger: review.TriggerSchedule,
		AsOf: gNow, StartedAt: gNow, FinishedAt: gNow.Add(time.Minute),
		Settings: review.Settings{InactiveFor: 30 * policies.Day, Action: policies.ReviewPromptManager, AnswerWithin: 5 * policies.Day,
			Default: policies.ReviewDefaultKeep, KeepFor: 90 * policies.Day, Digest: "#it-licences"},
		Counts: review.Counts{Directory: 4 * n, Covered: 3 * n, Active: 2 * n, Items: n}}
}

var gDepartments = []string{"Engineering", "Sales", "Finance", "Marketing", "Support", "Legal", "Operations", "Design",
	"Data", "Security", "People", "Procurement"}

// gItems are n people of one run: the first few in every outcome a card
// shows, the rest waiting; every fifth has no manager (IT answers).
func gItems(n int) []*review.Item {
	out := make([]*review.Item, 0, n)
	states := []review.ItemState{review.ItemKept, review.ItemSuspended, review.ItemPending, review.ItemSuspending,
		review.ItemIdPManaged, review.ItemFailed}
	for i := range n {
		it := &review.Item{ID: fmt.Sprintf("17e30000-0000-4000-8000-%012d", i), RunID: gRun(n).ID, Rule: "employees",
			Email: fmt.Sprintf("person%03d@example.com", i), Name: fmt.Sprintf("Person %03d", i),
			Department: gDepartments[i%len(gDepartments)], Manager: "bob@example.com", CreatedAt: gNow,
			InactiveSince: gNow.Add(-time.Duration(31+i%60) * policies.Day), State: review.ItemPending, AnswerBy: gNow.Add(5 * policies.Day),
			Products: []review.ProductActivity{{Key: "jira-software", LastActive: gNow.Add(-time.Duration(31+i%60) * policies.Day)}, {Key: "confluence"}}}
		if i%5 == 2 {
			it.Manager, it.Unassigned = "", true
		}
		if i < len(states) {
			it.State = states[i]
		}
		switch it.State {
		case review.ItemKept:
			it.DecidedBy, it.DecidedAt, it.Reason = "bob@example.com", gNow.Add(time.Hour), "month-end close *every* quarter <!channel>"
		case review.ItemSuspended, review.ItemSuspending:
			it.DecidedBy, it.DecidedAt, it.DoneAt = "dave@example.com", gNow.Add(time.Hour), gNow.Add(time.Hour)
		case review.ItemIdPManaged, review.ItemFailed:
			it.DecidedBy, it.DoneAt = review.ActorDefault, gNow.Add(5*policies.Day)
		}
		if i == 7 {
			it.KeepRequest = "I run the quarterly audit in Jira"
		}
		out = append(out, it)
	}
	return out
}

func gEntries(items []*review.Item) []reviewEntry {
	out := make([]reviewEntry, len(items))
	for i, it := range items {
		out[i] = reviewEntry{Item: it, Cost: it.MonthlyCost(gCosts), Groups: -1}
		if it.State == review.ItemSuspended {
			out[i].Groups = 4
		}
	}
	return out
}

// gPrompt is bob's prompt about n people.
func gPrompt(n int) promptView {
	items := gItems(n)
	for _, it := range items {
		it.Manager, it.Unassigned = "bob@example.com", false
	}
	return promptView{Run: gRun(n), Manager: "bob@example.com", Entries: gEntries(items), Priced: true}
}

// gDigest is a run's digest and, when many have no manager, IT's pages
// in its thread.
func gDigest(n int) []reviewMsg {
	items := gItems(n)
	rep := review.BuildReport(gRun(n), items, gCosts)
	var unassigned []*review.Item
	for _, it := range items {
		if it.Unassigned {
			unassigned = append(unassigned, it)
		}
	}
	it := promptView{Run: rep.Run, Entries: gEntries(unassigned), Priced: true}
	out := []reviewMsg{digestMessage(rep, it, true)}
	if len(it.Entries) > inlineUnassigned {
		out = append(out, promptPages(it, 0)...)
	}
	return out
}

func goldenReview() map[string][]reviewMsg {
	warned := gItems(3)[2]
	warned.State, warned.SuspendAt, warned.Email, warned.Name = review.ItemWarned, gNow.Add(policies.Day), "erin@partner.io", "Erin *External*"
	run := gRun(3)
	run.Rule, run.Settings.Action, run.Settings.WarnBefore, run.Settings.InactiveFor = "consultants", policies.ReviewSuspend, policies.Day, 2*policies.Day
	asked := *warned
	asked.KeepRequest = "the Q1 audit <@U0BOSS>"
	kept := asked
	kept.State, kept.DecidedBy, kept.Reason = review.ItemKept, "bob@example.com", "audit season"
	e := func(it *review.Item) reviewEntry { return gEntries([]*review.Item{it})[0] }
	restore := &review.RestoreReport{Email: "erin@partner.io", Recorded: true, Back: []review.Group{{Name: "staff"}},
		ReAdded: []review.Group{{Name: "design"}}, Deleted: []review.Group{{Name: "old-project"}},
		Forbidden: []review.Forbidden{{Group: review.Group{Name: "confluence-finance"}, Why: "today's policy grants confluence-finance just in time"}},
		Failed:    []review.FailedGroup{{Group: review.Group{Name: "flaky"}, Error: "HTTP 500 <raw>"}}}
	return map[string][]reviewMsg{
		"review_prompt_3":          promptPages(gPrompt(3), 0),
		"review_prompt_300":        promptPages(gPrompt(300), 0),
		"review_digest_3":          gDigest(3),
		"review_digest_300":        gDigest(300),
		"review_reminder":          {reminderMsg(gPrompt(3))},
		"review_warning_person":    {warningToPerson(e(warned), run), warningToPerson(e(&asked), run), warningToPerson(e(&kept), run)},
		"review_warning_manager":   {warningToManager(e(&asked), run), warningToManager(e(&kept), run)},
		"review_keep_request":      {keepRequestNote(&asked)},
		"review_restore":           {restoreReply(restore)},
		"review_restore_untouched": {restoreReply(&review.RestoreReport{Email: "kim@example.com", WasActive: true})},
	}
}

func goldenReviewViews() map[string]any {
	many := gEntries(gItems(300)[6:])
	return map[string]any{
		"modal_review_keep":     reviewKeepModal(cbReviewKeep, "17e30000-0000-4000-8000-000000000006", "Keep Person 006 (person006@example.com)'s Atlassian access?"),
		"modal_review_keep_all": reviewKeepModal(cbReviewKeepAll, review.PromptRef(gRun(3).ID, "bob@example.com"), "Keep all 2 people still waiting?"),
		"modal_review_need":     reviewNeedModal("17e30000-0000-4000-8000-000000000002", "Your Atlassian access is due to be suspended tomorrow."),
		"home_reviews":          homeView(nil, nil, nil, many[:2]...),
		"home_294_reviews":      homeView(nil, nil, nil, many...),
	}
}

func TestGolden_Review(t *testing.T) {
	for name, msgs := range goldenReview() {
		t.Run(name, func(t *testing.T) { golden(t, name, msgs) })
	}
	for name, v := range goldenReviewViews() {
		t.Run(name, func(t *testing.T) { golden(t, name, v) })
	}
}

// Every message of the review, every message of a
// 300-person prompt and the digest's thread included, is accepted by the local Slack with its
// Block Kit limits enforced strictly.
func TestGolden_ReviewWithinBlockKitLimits(t *testing.T) {
	srv := localslack.New(t, localslack.Options{StrictBlocks: true, PostRate: -1})
	srv.AddUser(localslack.User{ID: "U1", Name: "bob", Email: "bob@example.com"})
	srv.AddChannel("C1", "it-licences")
	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()))
	ctx := context.Background()
	for name, msgs := range goldenReview() {
		for i, m := range msgs {
			if len(m.Blocks) > maxMessageBlocks {
				t.Errorf("%s[%d]: %d blocks", name, i, len(m.Blocks))
			}
			if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText(m.Text, true), slack.MsgOptionBlocks(m.Blocks...)); err != nil {
				t.Errorf("%s[%d]: Slack refused it: %v", name, i, err)
			}
		}
	}
	for name, v := range goldenReviewViews() {
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
	if got, want := len(goldenReview()["review_prompt_300"]), (300+reviewPageSize-1)/reviewPageSize; got != want {
		t.Errorf("the prompt of 300 people is %d messages, want %d of up to %d people", got, want, reviewPageSize)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("violations: %+v", v)
	}
}
