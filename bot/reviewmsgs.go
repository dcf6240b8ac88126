package bot

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/slack-go/slack"
)

// Action and callback ids of the licence review. Buttons carry an item id
// (or, for the bulk buttons, the prompt's reference) as their value and
// after a dot in the action id, so that ids stay unique on a page and in
// App Home; who may answer is decided from the stored item on every click.
const (
	actReviewKeep       = "review_keep"
	actReviewSuspend    = "review_suspend"
	actReviewKeepAll    = "review_keep_all"
	actReviewSuspendAll = "review_suspend_all"
	actReviewNeed       = "review_need" // the person's "I still need it"
	cbReviewKeep        = "review_keep"
	cbReviewKeepAll     = "review_keep_all"
	cbReviewNeed        = "review_need"
)

// reviewPageSize is how many people one message of a prompt lists: two
// blocks each, and five for the first message's heading, totals and bulk
// buttons, within Slack's 50.
const reviewPageSize = (maxMessageBlocks - 5) / 2

// reviewReason bounds a typed reason on a page line; the digest's CSV and
// the evidence keep it whole.
const reviewReason = 300

// reviewEntry is one person as the review's messages show them.
type reviewEntry struct {
	Item *review.Item
	Cost float64 // the licences at stake a month (licence_costs); 0 when unpriced
	// Groups is how many memberships were recorded at the suspension, -1
	// when not known.
	Groups int
}

// promptView is what a manager's (or IT's) prompt shows.
type promptView struct {
	Run     *review.Run
	Manager string // the manager asked; "" for IT, who answers for the unassigned
	Entries []reviewEntry
	Priced  bool // the policy has licence_costs
}

// reviewMsg is one message of the review.
type reviewMsg struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

func (v promptView) open() int {
	n := 0
	for _, e := range v.Entries {
		if waitsForAnswer(e.Item) {
			n++
		}
	}
	return n
}

func waitsForAnswer(it *review.Item) bool {
	return it.State == review.ItemPending || it.State == review.ItemWarned
}

// promptPages renders a prompt as messages of at most size people each,
// the totals and the bulk buttons on the first. Names come from the
// directory and reasons were typed by people: both are plain_text.
func promptPages(v promptView, size int) []reviewMsg {
	return pagedCard{Text: v.text(), Entries: len(v.Entries), Head: v.heading,
		More: func(p, n int) slack.Block {
			return slack.NewContextBlock("", mrkdwn("Licence review, rule *%s* — message %d of %d (the totals and the buttons for everyone are on the first)",
				esc(v.Run.Rule), p+1, n))
		},
		Entry: func(i int) []slack.Block { return entryBlocks(v.Entries[i], v.Manager, true) },
	}.pages(size)
}

func (v promptView) text() string {
	if v.Manager == "" {
		return fmt.Sprintf("Licence review %s: %d people without a manager wait for IT", v.Run.Rule, v.open())
	}
	return fmt.Sprintf("Licence review %s: %d people wait for your answer", v.Run.Rule, v.open())
}

// heading is the first message's top: what is asked, by when, the totals
// and the buttons for everyone still waiting.
func (v promptView) heading(pages int) []slack.Block {
	set := v.Run.Settings
	title := fmt.Sprintf("Licence review: %d inactive people in your team", len(v.Entries))
	who := "you"
	if v.Manager == "" {
		title = fmt.Sprintf("Licence review: %d inactive people without a manager", len(v.Entries))
		who = "IT"
	}
	intro := fmt.Sprintf("These people have not used their Atlassian products for %s or more (rule *%s*). "+
		"*Keep* those who still need access — %s will be asked why, and they are not asked about again for %s — "+
		"or *Suspend* them: the licence stops, their group memberships are recorded, and IT can restore them.",
		policies.FormatDuration(set.InactiveFor), esc(v.Run.Rule), who, policies.FormatDuration(keepFor(set)))
	if v.Manager == "" {
		intro += "\nNobody in jitbot's directory manages them: only members of IT may answer."
	}
	if set.AnswerWithin > 0 {
		intro += fmt.Sprintf("\nAnswer by %s; after that the rule *%s* whoever is left.", when(v.Run.AsOf.Add(set.AnswerWithin)), defaultVerb(set))
	}
	licences, cost := 0, 0.0
	for _, e := range v.Entries {
		licences += len(e.Item.Products)
		cost += e.Cost
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*People*\n%d (%d waiting)", len(v.Entries), v.open()),
		mrkdwn("*Licences at stake*\n%d", licences),
	}
	if v.Priced {
		fields = append(fields, mrkdwn("*Monthly cost*\n%.2f", cost))
	}
	if pages > 1 {
		fields = append(fields, mrkdwn("*Messages*\n%d, of up to %d people each", pages, reviewPageSize))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(title)),
		section(mrkdwn("%s", intro)),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if open := v.open(); open > 0 {
		ref := review.PromptRef(v.Run.ID, v.Manager)
		suspendAll := button(actReviewSuspendAll, fmt.Sprintf("Suspend all %d", open), ref, "danger")
		suspendAll.Confirm = slack.NewConfirmationBlockObject(plain("Suspend everyone waiting?"),
			mrkdwn("Suspend the %d people on these messages who still wait for an answer? Their group memberships are recorded; IT can restore them.", open),
			plain("Suspend all"), plain("Back"))
		suspendAll.Confirm.Style = slack.StyleDanger
		blocks = append(blocks, slack.NewActionBlock("review_all",
			button(actReviewKeepAll, fmt.Sprintf("Keep all %d…", open), ref, ""), suspendAll))
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn("run `%s` · started %s", shortID(v.Run.ID), when(v.Run.StartedAt))))
	return blocks
}

func keepFor(s review.Settings) time.Duration {
	if s.KeepFor > 0 {
		return s.KeepFor
	}
	return policies.DefaultKeepFor
}

func defaultVerb(s review.Settings) string {
	if s.Default == policies.ReviewDefaultSuspend {
		return "suspends"
	}
	return "keeps"
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// entryBlocks shows one person: who, what they have and since when they
// have not used it, then Keep and Suspend while they wait for an answer
// (buttons only when withButtons), or what became of them. viewer is the
// manager the message is for ("" for IT).
func entryBlocks(e reviewEntry, viewer string, withButtons bool) []slack.Block {
	it := e.Item
	blocks := []slack.Block{section(plain(entryLine(e)))}
	if waitsForAnswer(it) && withButtons {
		return append(blocks, slack.NewActionBlock("",
			button(actReviewKeep+"."+it.ID, "Keep…", it.ID, "primary"),
			button(actReviewSuspend+"."+it.ID, "Suspend", it.ID, "danger")))
	}
	return append(blocks, outcomeContext(e, viewer))
}

// entryLine is the person's line, as plain text.
func entryLine(e reviewEntry) string {
	it := e.Item
	var b strings.Builder
	if it.Name != "" && !strings.EqualFold(it.Name, it.Email) {
		fmt.Fprintf(&b, "%s (%s)", it.Name, it.Email)
	} else {
		b.WriteString(it.Email)
	}
	if it.Department != "" {
		b.WriteString(" · " + it.Department)
	}
	b.WriteString("\n" + productsLine(it))
	idle := ""
	if !it.InactiveSince.IsZero() {
		idle = fmt.Sprintf("%d days idle", it.IdleDays(asOf(it)))
	}
	if e.Cost > 0 {
		idle = strings.TrimPrefix(idle+fmt.Sprintf(" · %.2f a month", e.Cost), " · ")
	}
	if idle != "" {
		b.WriteString("\n" + idle)
	}
	if it.KeepRequest != "" {
		b.WriteString("\nThey asked to keep access: “" + clip(it.KeepRequest, reviewReason) + "”")
	}
	return b.String()
}

// asOf is when the run measured inactivity: an item's idle days are
// counted at its creation (the run's first pass), so a card does not
// change by itself every day.
func asOf(it *review.Item) time.Time {
	if !it.CreatedAt.IsZero() {
		return it.CreatedAt
	}
	return it.InactiveSince
}

func productsLine(it *review.Item) string {
	if len(it.Products) == 0 {
		return "no product activity known"
	}
	parts := make([]string, len(it.Products))
	for i, p := range it.Products {
		when := "never used"
		if !p.LastActive.IsZero() {
			when = "last active " + p.LastActive.UTC().Format("2006-01-02")
		}
		parts[i] = p.Key + ": " + when
	}
	return strings.Join(parts, " · ")
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n]) + "…"
	}
	return s
}

// outcomeContext says what became of a person: the state and who decided
// (mrkdwn, written by jitbot), then the reason they gave (plain_text).
func outcomeContext(e reviewEntry, viewer string) *slack.ContextBlock {
	it := e.Item
	by := it.DecidedBy
	switch {
	case by == "":
	case viewer != "" && by == viewer:
		by = "you"
	case by == review.ActorPolicy:
		by = "the rule"
	}
	groups := ""
	switch {
	case e.Groups == 1:
		groups = "; 1 group membership recorded"
	case e.Groups >= 0:
		groups = fmt.Sprintf("; %d group memberships recorded", e.Groups)
	}
	var line string
	showReason := it.Reason != ""
	switch it.State {
	case review.ItemPending, review.ItemWarned:
		line = ":hourglass_flowing_sand: Waiting for an answer."
	case review.ItemSuspending:
		line = ":hourglass_flowing_sand: *Suspending* — decided by " + esc(by) + "."
	case review.ItemKept:
		if it.DecidedBy == review.ActorDefault {
			line, showReason = ":white_check_mark: *Kept* — no answer by "+when(it.DecidedAt)+", so the rule's default applied.", false
		} else {
			line = ":white_check_mark: *Kept* by " + esc(by) + "."
		}
	case review.ItemSuspended:
		switch it.DecidedBy {
		case review.ActorDefault:
			line, showReason = ":no_entry: *Suspended* "+when(it.DoneAt)+" — no answer in time, so the rule's default applied"+groups+".", false
		case review.ActorPolicy:
			line = ":no_entry: *Suspended* " + when(it.DoneAt) + " by the rule" + groups + "."
		default:
			line = ":no_entry: *Suspended* " + when(it.DoneAt) + " by " + esc(by) + groups + "."
		}
	case review.ItemIdPManaged:
		line, showReason = ":warning: *Not suspended*: an identity provider manages this account — it must be deactivated at the IdP. IT has been told.", false
	case review.ItemFailed:
		line, showReason = ":warning: *The suspension failed*; IT has been alerted.", false
	case review.ItemAlreadySuspended:
		line, showReason = ":white_circle: *Already suspended* when jitbot came to it.", false
	case review.ItemDryRun:
		line, showReason = ":test_tube: Dry run: jitbot would "+esc(it.Would)+"; nothing was changed.", false
	default:
		line = esc(it.State.Outcome()) + "."
	}
	els := []slack.MixedElement{mrkdwn("%s", line)}
	if showReason {
		els = append(els, plain("“"+clip(it.Reason, reviewReason)+"”"))
	}
	return slack.NewContextBlock("", els...)
}

// reminderMsg reminds whoever was asked that some people still wait.
func reminderMsg(v promptView) reviewMsg {
	set := v.Run.Settings
	whom := "your answer"
	if v.Manager == "" {
		whom = "an answer from IT"
	}
	line := fmt.Sprintf(":bell: Reminder: %d of the %d people on this licence review still wait for %s.", v.open(), len(v.Entries), whom)
	if set.AnswerWithin > 0 {
		line += fmt.Sprintf(" By %s the rule *%s* whoever is left.", when(v.Run.AsOf.Add(set.AnswerWithin)), defaultVerb(set))
	}
	return reviewMsg{Text: fmt.Sprintf("Reminder: %d people wait for %s", v.open(), whom), Blocks: []slack.Block{section(mrkdwn("%s", line))}}
}

// warningToPerson tells a person they are about to be suspended, and why,
// with "I still need it" while the warning runs.
func warningToPerson(e reviewEntry, run *review.Run) reviewMsg {
	it := e.Item
	set := run.Settings
	head := fmt.Sprintf(":warning: *Your Atlassian access will be suspended %s*", when(it.SuspendAt))
	switch it.State {
	case review.ItemKept:
		head = ":white_check_mark: *Your Atlassian access stays*: it was going to be suspended " + when(it.SuspendAt) + "."
	case review.ItemSuspending, review.ItemSuspended:
		head = ":no_entry: *Your Atlassian access is suspended*"
	}
	lines := []string{head}
	lines = append(lines, fmt.Sprintf("You have not used %s for %s or more (licence review rule *%s*). Suspending an unused account stops its licence; your group memberships are recorded, and IT can restore them.",
		esc(productNames(it)), policies.FormatDuration(set.InactiveFor), esc(run.Rule)))
	manager := "IT"
	if !it.Unassigned {
		manager = esc(it.Manager)
	}
	blocks := []slack.Block{section(mrkdwn("%s", strings.Join(lines, "\n")))}
	switch {
	case it.State == review.ItemWarned && it.KeepRequest == "":
		blocks = append(blocks, section(mrkdwn("If you still need it, say why: %s decides.", manager)),
			slack.NewActionBlock("review_need", button(actReviewNeed, "I still need it…", it.ID, "primary")))
	case it.State == review.ItemWarned:
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn("You asked to keep it; %s decides before %s:", manager, when(it.SuspendAt)),
			plain("“"+clip(it.KeepRequest, reviewReason)+"”")))
	default:
		blocks = append(blocks, outcomeContext(e, it.Email))
	}
	text := "Your Atlassian access will be suspended " + it.SuspendAt.UTC().Format("2006-01-02 15:04 UTC")
	if !waitsForAnswer(it) {
		text = "Your Atlassian access: " + it.State.Outcome()
	}
	return reviewMsg{Text: text, Blocks: blocks}
}

// warningToManager tells the manager that someone of theirs is about to
// be suspended: the card on which their "I still need it" arrives and the
// manager decides.
func warningToManager(e reviewEntry, run *review.Run) reviewMsg {
	it := e.Item
	head := fmt.Sprintf(":warning: Licence review *%s*: this person will be suspended %s unless you keep them.", esc(run.Rule), when(it.SuspendAt))
	blocks := []slack.Block{section(mrkdwn("%s", head))}
	blocks = append(blocks, entryBlocks(e, it.Manager, true)...)
	return reviewMsg{Text: fmt.Sprintf("%s will be suspended %s", it.Email, it.SuspendAt.UTC().Format("2006-01-02 15:04 UTC")), Blocks: blocks}
}

// keepRequestNote is the reply on the manager's card when the person asks
// to keep their access.
func keepRequestNote(it *review.Item) reviewMsg {
	return reviewMsg{Text: it.Email + " asks to keep their access",
		Blocks: []slack.Block{
			section(mrkdwn(":raising_hand: %s says they still need their access; Keep or Suspend on the card above decides.", esc(it.Email))),
			section(plain("“" + clip(it.KeepRequest, maxSectionText-10) + "”")),
		}}
}

func productNames(it *review.Item) string {
	if len(it.Products) == 0 {
		return "your Atlassian products"
	}
	names := make([]string, len(it.Products))
	for i, p := range it.Products {
		names[i] = p.Key
	}
	return strings.Join(names, ", ")
}

// reviewKeepModal asks for the business reason of a Keep (of one person,
// or of everyone on a prompt with all set).
func reviewKeepModal(callback, meta, summary string) slack.ModalViewRequest {
	return reasonModal{Callback: callback, Meta: meta, Title: "Keep access", Submit: "Keep", Summary: summary,
		Placeholder: "e.g. month-end close, uses Jira every quarter", Label: "Business reason",
		Hint: "Required: it is shown in IT's digest and kept as evidence."}.view()
}

// reviewNeedModal asks the person why they still need their access.
func reviewNeedModal(itemID, summary string) slack.ModalViewRequest {
	return reasonModal{Callback: cbReviewNeed, Meta: itemID, Title: "I still need it", Submit: "Ask to keep it", Summary: summary,
		Placeholder: "What you use it for, and when", Label: "Why", Hint: "Your manager sees this and decides."}.view()
}

// restoreReply says what a restore brought back and what it did not.
func restoreReply(r *review.RestoreReport) reviewMsg {
	var lines []string
	head := fmt.Sprintf(":arrows_counterclockwise: *%s is restored* (Admin API v2 restore).", esc(r.Email))
	if r.WasActive {
		head = fmt.Sprintf(":arrows_counterclockwise: *%s was not suspended*; the restore changed nothing at Atlassian.", esc(r.Email))
	}
	lines = append(lines, head)
	names := func(gs []review.Group) string {
		out := make([]string, len(gs))
		for i, g := range gs {
			out[i] = esc(g.Name)
		}
		return strings.Join(out, ", ")
	}
	if !r.Recorded {
		lines = append(lines, "jitbot had recorded no memberships for them, so it re-added none; what the account has now is below.")
	}
	if len(r.Back) > 0 {
		lines = append(lines, "• Came back with the account: "+names(r.Back))
	}
	if len(r.ReAdded) > 0 {
		lines = append(lines, "• Re-added by jitbot: "+names(r.ReAdded))
	}
	if len(r.Deleted) > 0 {
		lines = append(lines, "• Not re-added — the group no longer exists: "+names(r.Deleted))
	}
	for _, f := range r.Forbidden {
		lines = append(lines, fmt.Sprintf("• Not re-added — %s: %s", esc(f.Name), esc(f.Why)))
	}
	if len(r.Failed) > 0 {
		failed := make([]review.Group, len(r.Failed))
		for i, f := range r.Failed {
			failed[i] = f.Group
		}
		lines = append(lines, "• Could not be re-added (the cause is in jitbot's log; try again or add them by hand): "+names(failed))
	}
	if len(r.Roles) > 0 {
		lines = append(lines, "• Roles recorded at suspension (they come back with the account): "+esc(strings.Join(r.Roles, ", ")))
	}
	if r.Recorded && len(r.Back)+len(r.ReAdded)+len(r.Deleted)+len(r.Forbidden)+len(r.Failed) == 0 {
		lines = append(lines, "They had no group memberships when they were suspended.")
	}
	var blocks []slack.Block
	for _, c := range chunks(strings.Join(lines, "\n"), textChunk) {
		blocks = append(blocks, section(mrkdwn("%s", c)))
	}
	return reviewMsg{Text: "Restored " + r.Email, Blocks: capBlocks(blocks, maxMessageBlocks)}
}
