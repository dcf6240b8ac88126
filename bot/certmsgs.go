package bot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// The certification's messages, built by pure functions from the stored
// campaign and items (golden files bot/testdata/cert_*.json).

// Actions and modals of the certification.
const (
	actCertKeep    = "cert_keep"
	actCertRemove  = "cert_remove"
	actCertConvert = "cert_convert"
	cbCertKeep     = "cert_keep"
)

// certView is what one reviewer's card shows.
type certView struct {
	Campaign *certify.Campaign
	Rule     *policies.CertRule // nil when the rule left the policy
	Items    []*certify.Item
	Viewer   string // who reads it: their own item has no buttons
	// Escalated: the card of someone escalate_to names; Why holds, per
	// item id, the term that names them (owner, manager, group:HANDLE or
	// their email).
	Escalated bool
	Why       map[string]string
}

func (v certView) waiting() int {
	n := 0
	for _, it := range v.Items {
		if it.State == certify.ItemPending {
			n++
		}
	}
	return n
}

func (v certView) text() string {
	if v.Escalated {
		return fmt.Sprintf("Access review %s: %d standing memberships escalated to you wait for an answer", v.Campaign.Rule, v.waiting())
	}
	return fmt.Sprintf("Access review %s: %d standing memberships wait for your answer", v.Campaign.Rule, v.waiting())
}

// certPages is a reviewer's card, paged as the licence prompts are.
func certPages(v certView, size int) []reviewMsg {
	return pagedCard{Text: v.text(), Entries: len(v.Items), Empty: true, Head: v.heading,
		More: func(p, n int) slack.Block {
			return slack.NewContextBlock("", mrkdwn("Access review *%s* — message %d of %d", esc(v.Campaign.Rule), p+1, n))
		},
		Entry: func(i int) []slack.Block { return certItemBlocks(v.Items[i], v.Viewer, v.whyLine(v.Items[i])) },
	}.pages(size)
}

// heading says what is asked, by when, and what happens otherwise.
func (v certView) heading(pages int) []slack.Block {
	title := fmt.Sprintf("Access review: %d standing memberships", len(v.Items))
	intro := fmt.Sprintf("These people are members of the groups below outside any just-in-time grant (certification *%s*). "+
		"For each: *Keep* (say why: the reason is kept as evidence), *Remove*, or *Convert to just in time*: "+
		"the membership goes now, and the person is told how to request it when they need it. "+
		"Nobody reviews their own access.", esc(v.Campaign.Rule))
	if v.Escalated {
		title = fmt.Sprintf("Access review escalated to you: %d standing memberships", len(v.Items))
		intro = v.escalatedIntro() + intro
	}
	def := policies.CertKeep
	if v.Rule != nil {
		def = v.Rule.Default
	}
	intro += fmt.Sprintf("\nAnswer by %s; after that the rule's default applies: *%s*.", when(v.Campaign.AnswerBy), defaultWord(def))
	fields := []*slack.TextBlockObject{
		mrkdwn("*Memberships*\n%d (%d waiting)", len(v.Items), v.waiting()),
		mrkdwn("*Answer by*\n%s", when(v.Campaign.AnswerBy)),
	}
	if pages > 1 {
		fields = append(fields, mrkdwn("*Messages*\n%d", pages))
	}
	return []slack.Block{slack.NewHeaderBlock(plain(title)), section(mrkdwn("%s", intro)), slack.NewSectionBlock(nil, fields, nil)}
}

func defaultWord(d string) string {
	switch d {
	case policies.CertRemove:
		return "remove"
	case policies.CertConvert:
		return "convert to just in time"
	}
	return "keep"
}

// escalatedIntro says whose items an escalation card shows and why they
// come to its reader, naming at most three of each.
func (v certView) escalatedIntro() string {
	var whose, why []string
	for _, it := range v.Items {
		if w := reviewerName(it.Reviewer); !slices.Contains(whose, w) {
			whose = append(whose, w)
		}
		if w := escalationWhy(it, v.Why[it.ID]); w != "" && !slices.Contains(why, w) {
			why = append(why, w)
		}
	}
	if len(whose) == 0 {
		return "Halfway to the deadline these were still unanswered, so they come to you as well. "
	}
	s := "Halfway to the deadline these were still unanswered by " + esc(fewOf(whose)) + ", who were asked first"
	if len(why) > 0 {
		s += ", so they come to you as well: the certification escalates to you " + esc(fewOf(why)) + " (each line says which)"
	}
	return s + ". "
}

// fewOf joins up to three names, and counts the rest.
func fewOf(names []string) string {
	if len(names) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
	}
	if len(names) > 1 {
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return strings.Join(names, "")
}

// reviewerName is who was asked about an item, as people read it.
func reviewerName(reviewer string) string {
	switch {
	case reviewer == "":
		return "IT"
	case strings.HasPrefix(reviewer, "group:"):
		return "@" + strings.TrimPrefix(reviewer, "group:")
	}
	return reviewer
}

// escalationWhy says why an escalated item comes to someone: the
// escalate_to term that names them.
func escalationWhy(it *certify.Item, term string) string {
	switch {
	case term == "":
		return ""
	case term == policies.ReviewerOwner:
		return "as an owner of " + it.Resource
	case term == policies.ReviewerManager:
		return "as the manager of " + reviewerName(it.Reviewer)
	case strings.HasPrefix(term, "group:"):
		return "as a member of @" + strings.TrimPrefix(term, "group:")
	}
	return "by name"
}

// whyLine is an escalated item's line saying who was asked and why it
// comes to the reader ("" on a reviewer's own card).
func (v certView) whyLine(it *certify.Item) string {
	if !v.Escalated {
		return ""
	}
	line := "Asked of " + reviewerName(it.Reviewer)
	if w := escalationWhy(it, v.Why[it.ID]); w != "" {
		line += "; it comes to you " + w
	}
	return line + "."
}

// certItemBlocks is one membership: the facts (and, on an escalation card,
// why it is there), then the buttons or the outcome.
func certItemBlocks(it *certify.Item, viewer, why string) []slack.Block {
	line := certLine(it)
	if why != "" {
		line += "\n" + why
	}
	blocks := []slack.Block{section(plain(line))}
	switch {
	case it.State == certify.ItemPending && it.Person == viewer:
		return append(blocks, slack.NewContextBlock("", plain("Your own access: someone else reviews it.")))
	case it.State == certify.ItemPending:
		return append(blocks, slack.NewActionBlock("",
			button(actCertKeep+"."+it.ID, "Keep…", it.ID, "primary"),
			button(actCertRemove+"."+it.ID, "Remove", it.ID, "danger"),
			button(actCertConvert+"."+it.ID, "Convert to just in time", it.ID, "")))
	}
	return append(blocks, slack.NewContextBlock("", plain(certOutcome(it))))
}

// certLine is the member's line, as plain text.
func certLine(it *certify.Item) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s in %s", it.Person, it.Group)
	if it.Resource != "" && it.Resource != it.Group {
		fmt.Fprintf(&b, " (%s)", it.Resource)
	}
	var facts []string
	if !it.MemberSince.IsZero() {
		facts = append(facts, "a member since at least "+it.MemberSince.UTC().Format("2 Jan 2006"))
	}
	if it.LastActive.IsZero() {
		facts = append(facts, "last activity not known")
	} else {
		facts = append(facts, "last active "+it.LastActive.UTC().Format("2 Jan 2006"))
	}
	if it.EverJIT {
		facts = append(facts, "has requested it just in time before")
	} else {
		facts = append(facts, "never requested it just in time")
	}
	if it.Standing {
		facts = append(facts, "standing from before jitbot")
	}
	if !it.InDirectory {
		facts = append(facts, "not in jitbot's directory (left?)")
	}
	b.WriteString("\n" + strings.Join(facts, " · "))
	return b.String()
}

// certOutcome says what became of an answered item.
func certOutcome(it *certify.Item) string {
	by := it.DecidedBy
	if it.Defaulted {
		by = "the rule's default"
	}
	switch it.State {
	case certify.ItemKept:
		if it.Defaulted {
			return "Kept: " + by + "."
		}
		return fmt.Sprintf("Kept by %s: “%s”", by, clip(it.Reason, reviewReason))
	case certify.ItemRemoving:
		return fmt.Sprintf("%s by %s: removing…", answerWord(it.Answer), by)
	case certify.ItemRemoved:
		return fmt.Sprintf("%s by %s: removed.", answerWord(it.Answer), by)
	case certify.ItemGone:
		return fmt.Sprintf("%s by %s: no longer a member.", answerWord(it.Answer), by)
	case certify.ItemCovered:
		return fmt.Sprintf("%s by %s: a grant covers it now; it goes when that grant ends.", answerWord(it.Answer), by)
	case certify.ItemFailed:
		return fmt.Sprintf("%s by %s: the removal failed; IT was alerted.", answerWord(it.Answer), by)
	case certify.ItemDryRun:
		return fmt.Sprintf("%s by %s: dry run, nothing changed.", answerWord(it.Answer), by)
	}
	return string(it.State)
}

func answerWord(a string) string {
	if a == policies.CertConvert {
		return "Converted to just in time"
	}
	return "Remove"
}

// certProgress is the campaign's post in the rule's channel.
func certProgress(c *certify.Campaign, items []*certify.Item) reviewMsg {
	counts := certify.Counts(items)
	removed := counts[certify.ItemRemoved] + counts[certify.ItemGone] + counts[certify.ItemCovered]
	text := fmt.Sprintf("Access review %s: %d standing memberships, %d kept, %d removed, %d waiting", c.Rule, len(items),
		counts[certify.ItemKept], removed, counts[certify.ItemPending]+counts[certify.ItemRemoving])
	state := "open until " + when(c.AnswerBy)
	if c.State == certify.CampaignClosed {
		state = "closed " + when(c.ClosedAt)
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Standing memberships*\n%d", len(items)),
		mrkdwn("*Kept*\n%d", counts[certify.ItemKept]),
		mrkdwn("*Removed*\n%d", removed),
		mrkdwn("*Waiting*\n%d", counts[certify.ItemPending]+counts[certify.ItemRemoving]),
	}
	if counts[certify.ItemFailed] > 0 {
		fields = append(fields, mrkdwn("*Failed*\n%d", counts[certify.ItemFailed]))
	}
	return reviewMsg{Text: text, Blocks: []slack.Block{
		slack.NewHeaderBlock(plain("Access review: " + clip(c.Rule, 100))),
		section(mrkdwn("Campaign %s, started %s, %s.", esc(c.ID[:min(8, len(c.ID))]), when(c.StartedAt), state)),
		slack.NewSectionBlock(nil, fields, nil),
	}}
}

// certConverted tells a person their standing membership became just in time.
func certConverted(it *certify.Item, maxFor time.Duration) reviewMsg {
	text := fmt.Sprintf("Your standing membership of %s was converted to just in time", it.Group)
	how := fmt.Sprintf("In the access review *%s*, your permanent membership of *%s* was removed: you now ask for it when you need it. "+
		"Type `/access %s` with how long and why (up to %s); the usual approvals apply.",
		esc(it.Rule), esc(it.Group), esc(it.Resource), policies.FormatDuration(maxFor))
	return reviewMsg{Text: text, Blocks: []slack.Block{section(mrkdwn("%s", how))}}
}

// certKeepModal asks why a standing membership is kept.
func certKeepModal(it *certify.Item) slack.ModalViewRequest {
	m := reviewKeepModal(cbCertKeep, it.ID, fmt.Sprintf("Keep %s's standing membership of %s? Say why it is still needed: the reason is kept as evidence.",
		esc(it.Person), esc(it.Group)))
	return m
}

// homeCertBlocks is App Home's "Access reviews waiting for you": the
// standing memberships the viewer may certify, with the same buttons as
// the cards, within budget blocks (nil when there is nothing or no room).
func homeCertBlocks(items []*certify.Item, viewer string, budget int) []slack.Block {
	head := []slack.Block{slack.NewDividerBlock(), slack.NewHeaderBlock(plain("Access reviews waiting for you")),
		slack.NewContextBlock("", mrkdwn("Standing memberships outside any grant: *Keep* (say why), *Remove*, or *Convert to just in time*."))}
	return homeSection(head, len(items), budget, 5, "_…and %d more on the access review messages in your DMs._",
		func(i int) []slack.Block { return certItemBlocks(items[i], viewer, "") })
}
