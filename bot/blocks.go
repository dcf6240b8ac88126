package bot

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// Block Kit limits the bot stays within.
const (
	maxMessageBlocks = 50
	maxViewBlocks    = 100
	maxSectionText   = 3000
	textChunk        = 2900 // leaves room for a label
	maxOptions       = 100
)

// Action ids. Buttons in a message carry the request id as their value;
// in App Home, where action ids must be unique, it follows a dot.
const (
	actApprove      = "approve"
	actDecline      = "decline"
	actCancel       = "cancel"
	actRelease      = "release"
	actExtend       = "extend"
	actResource     = "resource"
	cbRequest       = "request"
	cbDecline       = "decline"
	cbExtend        = "extend"
	blkResource     = "resource"
	blkDuration     = "duration"
	blkReason       = "reason"
	blkTicket       = "ticket"
	actDurationPick = "duration"
	actText         = "text"
)

// snapshot is everything a message about a request shows, read from the
// store at render time. Rendering is pure: the same snapshot gives the same
// JSON (golden tests hold it).
type snapshot struct {
	Req       *approvals.Request
	Grants    []*approvals.Grant
	Decisions []*approvals.Decision
	Resource  *policies.Resource
	Requester who
	Others    []other // the requester's other active grants
}

// who is a person as cards show them.
type who struct {
	Email      string
	Name       string
	Department string
	Manager    string
	Employment string
}

type other struct {
	Resource string
	Until    time.Time
}

// esc escapes text for mrkdwn: &, < and > are the only characters Slack
// gives meaning to in links and mentions (<!channel>, <@U…>, <http…>).
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// when formats t for Slack, which shows it in each reader's own time zone.
func when(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// chunks splits s into pieces of at most n bytes on rune boundaries, so a
// long text is shown whole across several blocks, never cut.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		if j := strings.LastIndexAny(s[:i], " \n"); j > n/2 {
			i = j + 1
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}

func mrkdwn(format string, args ...any) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, fmt.Sprintf(format, args...), false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func section(t *slack.TextBlockObject) *slack.SectionBlock { return slack.NewSectionBlock(t, nil, nil) }

// userText shows text a person typed: as plain_text, so that neither
// markdown nor mentions in it are interpreted, split so none is cut.
func userText(label, text string) []slack.Block {
	var out []slack.Block
	out = append(out, section(mrkdwn("*%s*", label)))
	for _, c := range chunks(text, textChunk) {
		out = append(out, section(plain(c)))
	}
	return out
}

func button(actionID, text, value, style string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(text))
	if style != "" {
		b.Style = slack.Style(style)
	}
	return b
}

// resourceLabel names what was asked for, with admin escalations marked.
func (s *snapshot) resourceLabel() string {
	name := s.Req.Resource
	if s.Resource != nil {
		name = s.Resource.Name
	}
	label := esc(name) + " (`" + esc(s.Req.Resource) + "`)"
	if s.Req.Admin {
		label = ":rotating_light: *ADMIN ESCALATION* " + label
	}
	return label
}

// stateLine is the one line that says where the request stands.
// toRequester words it for the requester ("adding you"), else for others.
func (s *snapshot) stateLine(toRequester bool) string {
	r := s.Req
	by := ""
	if r.DecidedBy != "" && r.DecidedBy != approvals.ActorSystem {
		by = " by " + esc(r.DecidedBy)
	}
	adding := " — being added to the group now."
	if toRequester {
		adding = " — adding you now."
	}
	switch r.State {
	case approvals.StatePending:
		return fmt.Sprintf(":hourglass_flowing_sand: *Waiting for approval* — step %d of %d (%s). Times out %s.",
			r.CurrentStep+1, len(r.Steps), esc(strings.Join(r.Steps[r.CurrentStep].Terms, ", ")), when(r.ExpiresAt))
	case approvals.StateApproved:
		if r.AutoApproved {
			return ":white_check_mark: *Approved automatically* by rule " + esc(r.Rule) + adding
		}
		return ":white_check_mark: *Approved*" + by + adding
	case approvals.StateActive:
		return ":large_green_circle: *Active until " + when(r.EndsAt) + "*"
	case approvals.StateExpired:
		return ":white_circle: *Ended* — expired " + when(r.EndedAt)
	case approvals.StateReleased:
		return ":white_circle: *Ended* — released " + when(r.EndedAt)
	case approvals.StateRevoked:
		return ":no_entry: *Revoked*" + by + " " + when(r.EndedAt)
	case approvals.StateDeclined:
		return ":x: *Declined*" + by
	case approvals.StateCancelled:
		return ":heavy_multiplication_x: *Cancelled* by the requester"
	case approvals.StateTimedOut:
		return ":alarm_clock: *Timed out* — nobody decided in time"
	case approvals.StateFailed:
		return ":warning: *Failed* — IT has been alerted"
	}
	return string(r.State)
}

// details are the facts every message about the request shows.
func (s *snapshot) details() []slack.Block {
	r := s.Req
	fields := []*slack.TextBlockObject{
		mrkdwn("*What*\n%s", s.resourceLabel()),
		mrkdwn("*For*\n%s", policies.FormatDuration(r.Duration)),
		mrkdwn("*Request*\n`%s`", approvals.Short(r.ID)),
		mrkdwn("*Rule*\n%s", esc(r.Rule)),
	}
	if r.Ticket != "" {
		fields = append(fields, mrkdwn("*Ticket*\n%s", esc(r.Ticket)))
	}
	if r.ExtendsID != "" {
		fields = append(fields, mrkdwn("*Extends*\n`%s`", approvals.Short(r.ExtendsID)))
	}
	return []slack.Block{slack.NewSectionBlock(nil, fields, nil)}
}

// outcome says why the request ended where it did, and what happened to
// each membership.
func (s *snapshot) outcome() []slack.Block {
	var out []slack.Block
	r := s.Req
	if r.StateReason != "" && r.State != approvals.StatePending && r.State != approvals.StateActive {
		out = append(out, userText("Why", r.StateReason)...)
	}
	var notes []string
	for _, g := range s.Grants {
		if g.Note != "" {
			notes = append(notes, fmt.Sprintf("• %s: %s", esc(g.Group), esc(g.Note)))
		} else if g.Standing {
			notes = append(notes, fmt.Sprintf("• %s: you were already a member before this grant; jitbot will not remove it", esc(g.Group)))
		}
	}
	if len(notes) > 0 {
		for _, c := range chunks(strings.Join(notes, "\n"), textChunk) {
			out = append(out, section(mrkdwn("%s", c)))
		}
	}
	return out
}

// requesterMessage is the requester's one DM about a request.
func requesterMessage(s *snapshot) (string, []slack.Block) {
	r := s.Req
	blocks := []slack.Block{
		section(mrkdwn("Your access request\n%s", s.stateLine(true))),
	}
	blocks = append(blocks, s.details()...)
	blocks = append(blocks, userText("Reason", r.Reason)...)
	blocks = append(blocks, s.outcome()...)
	switch r.State {
	case approvals.StatePending:
		blocks = append(blocks, slack.NewActionBlock("requester", button(actCancel, "Cancel request", r.ID, "danger")))
	case approvals.StateActive:
		blocks = append(blocks, slack.NewActionBlock("requester",
			button(actExtend, "Extend", r.ID, "primary"), button(actRelease, "Release now", r.ID, "")))
	}
	return fmt.Sprintf("Your request for %s: %s", r.Resource, r.State), capBlocks(blocks, maxMessageBlocks)
}

// approverMessage is the card an approver gets. Buttons show only while
// the request waits for a step this approver belongs to.
func approverMessage(s *snapshot, approver string) (string, []slack.Block) {
	r := s.Req
	q := s.Requester
	employment := q.Employment
	if employment == "" {
		employment = "not stated"
	}
	manager := q.Manager
	if manager == "" {
		manager = "none"
	}
	head := fmt.Sprintf("*%s* (%s) asks for %s", esc(q.Name), esc(q.Email), s.resourceLabel())
	blocks := []slack.Block{
		section(mrkdwn("%s", head)),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*Department*\n%s", esc(orNone(q.Department))),
			mrkdwn("*Manager*\n%s", esc(manager)),
			mrkdwn("*Employment*\n%s", esc(employment)),
			mrkdwn("*Step*\n%d of %d", min(r.CurrentStep+1, max(len(r.Steps), 1)), max(len(r.Steps), 1)),
		}, nil),
	}
	blocks = append(blocks, s.details()...)
	blocks = append(blocks, userText("Reason", r.Reason)...)
	if len(s.Others) > 0 {
		var lines []string
		for _, o := range s.Others {
			lines = append(lines, fmt.Sprintf("• %s until %s", esc(o.Resource), when(o.Until)))
		}
		for _, c := range chunks("*Other active access*\n"+strings.Join(lines, "\n"), textChunk) {
			blocks = append(blocks, section(mrkdwn("%s", c)))
		}
	}
	if progress := s.progress(); progress != "" {
		blocks = append(blocks, slack.NewContextBlock("progress", mrkdwn("%s", progress)))
	}
	text := fmt.Sprintf("%s asks for %s for %s", q.Email, r.Resource, policies.FormatDuration(r.Duration))
	if r.State == approvals.StatePending && onStep(r, approver) {
		blocks = append(blocks, slack.NewActionBlock("decide",
			button(actApprove, "Approve", r.ID, "primary"), button(actDecline, "Decline", r.ID, "danger")))
		return text, capBlocks(blocks, maxMessageBlocks)
	}
	// Who decided stays on the card whatever happens to the grant later.
	switch r.State {
	case approvals.StateApproved, approvals.StateActive, approvals.StateExpired, approvals.StateReleased,
		approvals.StateRevoked, approvals.StateFailed:
		if r.State != approvals.StateApproved && r.DecidedBy != "" && r.DecidedBy != approvals.ActorSystem {
			blocks = append(blocks, section(mrkdwn(":white_check_mark: *Approved* by %s %s", esc(r.DecidedBy), when(r.DecidedAt))))
		}
	}
	blocks = append(blocks, section(mrkdwn("%s", s.stateLine(false))))
	blocks = append(blocks, s.outcome()...)
	return text, capBlocks(blocks, maxMessageBlocks)
}

// progress lists the approvals recorded so far.
func (s *snapshot) progress() string {
	var parts []string
	for _, d := range s.Decisions {
		verb := "approved"
		if !d.Approve {
			verb = "declined"
		}
		parts = append(parts, fmt.Sprintf("step %d %s by %s", d.Step+1, verb, esc(d.Approver)))
	}
	return strings.Join(parts, " · ")
}

func onStep(r *approvals.Request, approver string) bool {
	if r.CurrentStep >= len(r.Steps) {
		return false
	}
	for _, a := range r.Steps[r.CurrentStep].Approvers {
		if a == approver {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// capBlocks keeps a message within Slack's block limit. Only free text can
// make a message long, and it is limited when it is typed; should a message
// still run over, the last block says so instead of Slack refusing it.
func capBlocks(blocks []slack.Block, limit int) []slack.Block {
	if len(blocks) <= limit {
		return blocks
	}
	out := append([]slack.Block(nil), blocks[:limit-1]...)
	return append(out, section(mrkdwn("_%d more blocks are not shown; `/access list` and `jitbot report` show everything._", len(blocks)-limit+1)))
}

// expiringMessage warns the requester before access ends.
func expiringMessage(s *snapshot) (string, []slack.Block) {
	r := s.Req
	return fmt.Sprintf("Your access to %s ends soon", r.Resource), []slack.Block{
		section(mrkdwn(":hourglass: Your access to %s ends %s.", s.resourceLabel(), when(r.EndsAt))),
		slack.NewActionBlock("expiring", button(actExtend, "Extend", r.ID, "primary"), button(actRelease, "Release now", r.ID, "")),
	}
}

// reminderMessage reminds approvers of a request about to time out.
func reminderMessage(s *snapshot) (string, []slack.Block) {
	r := s.Req
	return "Reminder: a request waits for you", []slack.Block{
		section(mrkdwn(":bell: Reminder: %s asks for %s and waits for your decision. The request times out %s.",
			esc(s.Requester.Email), s.resourceLabel(), when(r.ExpiresAt))),
	}
}

// channelMessage is the post a notify channel gets per decision.
func channelMessage(s *snapshot) (string, []slack.Block) {
	r := s.Req
	line := fmt.Sprintf("%s — %s for %s: %s", esc(r.Requester), s.resourceLabel(), policies.FormatDuration(r.Duration), s.stateLine(false))
	blocks := []slack.Block{section(mrkdwn("%s", line))}
	blocks = append(blocks, userText("Reason", r.Reason)...)
	if r.StateReason != "" && (r.State == approvals.StateDeclined || r.State == approvals.StateRevoked || r.State == approvals.StateFailed) {
		blocks = append(blocks, userText("Why", r.StateReason)...)
	}
	blocks = append(blocks, slack.NewContextBlock("meta", mrkdwn("request `%s` · rule %s", approvals.Short(r.ID), esc(r.Rule))))
	return fmt.Sprintf("%s: %s %s", r.Requester, r.Resource, r.State), blocks
}

// alertMessage is what the alert channel gets.
func alertMessage(requestID, message string) (string, []slack.Block) {
	head := ":rotating_light: jitbot alert"
	if requestID != "" {
		head += " on request `" + approvals.Short(requestID) + "`"
	}
	blocks := []slack.Block{section(mrkdwn("%s", head))}
	blocks = append(blocks, userText("What happened", message)...)
	return "jitbot alert: " + message, blocks
}

// durationChoices are the durations the pickers offer, up to max.
var durationChoices = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
	8 * time.Hour, 24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour}

func durationOptions(maxD time.Duration) []*slack.OptionBlockObject {
	var out []*slack.OptionBlockObject
	for _, d := range durationChoices {
		if d <= maxD {
			s := policies.FormatDuration(d)
			out = append(out, slack.NewOptionBlockObject(s, plain(s), nil))
		}
	}
	if len(out) == 0 || durationChoices[len(out)-1] != maxD && len(out) < maxOptions {
		s := policies.FormatDuration(maxD)
		out = append(out, slack.NewOptionBlockObject(s, plain(s+" (the most allowed)"), nil))
	}
	return out
}

// catalogueOption is one resource a person may ask for.
type catalogueOption struct {
	ID, Name string
	Admin    bool
	Bundle   bool
	Max      time.Duration
}

func resourceOptions(cat []catalogueOption) ([]*slack.OptionBlockObject, []*slack.OptionGroupBlockObject) {
	var opts []*slack.OptionBlockObject
	for _, c := range cat {
		label := c.Name
		if c.Bundle {
			label += " (bundle)"
		}
		if c.Admin {
			label = "⚠ ADMIN · " + label
		}
		label += " · up to " + policies.FormatDuration(c.Max)
		if utf8.RuneCountInString(label) > 75 {
			label = string([]rune(label)[:74]) + "…"
		}
		opts = append(opts, slack.NewOptionBlockObject(c.ID, plain(label), nil))
	}
	if len(opts) <= maxOptions {
		return opts, nil
	}
	// Over a hundred resources: Slack allows a hundred options per group.
	var groups []*slack.OptionGroupBlockObject
	for i := 0; i < len(opts); i += maxOptions {
		part := opts[i:min(i+maxOptions, len(opts))]
		groups = append(groups, slack.NewOptionGroupBlockElement(plain(fmt.Sprintf("Catalogue %d", len(groups)+1)), part...))
	}
	return nil, groups
}

// requestModal is the /access modal. selected, when set, bounds the
// duration picker by that resource's maximum and says whether a ticket is
// required.
func requestModal(cat []catalogueOption, selected *catalogueOption, ticketRequired bool) slack.ModalViewRequest {
	opts, groups := resourceOptions(cat)
	sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose what you need"), actResource, opts...)
	sel.OptionGroups = groups
	maxD := time.Duration(0)
	for _, c := range cat {
		maxD = max(maxD, c.Max)
	}
	if selected != nil {
		maxD = selected.Max
		for _, o := range opts {
			if o.Value == selected.ID {
				sel.InitialOption = o
			}
		}
		for _, g := range groups {
			for _, o := range g.Options {
				if o.Value == selected.ID {
					sel.InitialOption = o
				}
			}
		}
	}
	resource := slack.NewInputBlock(blkResource, plain("Resource"), plain("Admin escalations are marked ⚠ and need more approvals."), sel)
	resource.DispatchAction = true
	dur := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("How long"), actDurationPick, durationOptions(maxD)...)
	durHint := "At most " + policies.FormatDuration(maxD) + " for you."
	if selected != nil {
		durHint = "At most " + policies.FormatDuration(maxD) + " for you and " + selected.ID + "."
	}
	reason := slack.NewPlainTextInputBlockElement(plain("What do you need it for?"), actText)
	reason.Multiline = true
	reason.MaxLength = maxSectionText
	ticketEl := slack.NewPlainTextInputBlockElement(plain("e.g. OPS-1234"), actText)
	ticketEl.MaxLength = 200
	ticketLabel := "Ticket"
	ticket := slack.NewInputBlock(blkTicket, plain(ticketLabel), plain("Required by the rule for admin escalations."), ticketEl)
	ticket.Optional = !ticketRequired
	if !ticketRequired {
		ticket.Hint = plain("Optional unless the policy's rule requires one.")
	}
	meta := ""
	if selected != nil {
		meta = selected.ID
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      cbRequest,
		Title:           plain("Request access"),
		Submit:          plain("Request"),
		Close:           plain("Cancel"),
		PrivateMetadata: meta,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			resource,
			slack.NewInputBlock(blkDuration, plain("Duration"), plain(durHint), dur),
			slack.NewInputBlock(blkReason, plain("Reason"), nil, reason),
			ticket,
		}},
	}
}

// declineModal asks an approver why they decline.
func declineModal(requestID, summary string) slack.ModalViewRequest {
	reason := slack.NewPlainTextInputBlockElement(plain("The requester sees this"), actText)
	reason.Multiline = true
	reason.MaxLength = maxSectionText
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      cbDecline,
		Title:           plain("Decline request"),
		Submit:          plain("Decline"),
		Close:           plain("Back"),
		PrivateMetadata: requestID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(mrkdwn("%s", summary)),
			slack.NewInputBlock(blkReason, plain("Why"), nil, reason),
		}},
	}
}

// extendModal asks for more time on an active grant.
func extendModal(requestID, summary string, maxD time.Duration) slack.ModalViewRequest {
	dur := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("How much longer"), actDurationPick, durationOptions(maxD)...)
	reason := slack.NewPlainTextInputBlockElement(plain("Leave empty to keep the original reason"), actText)
	reason.Multiline = true
	reason.MaxLength = maxSectionText
	reasonBlock := slack.NewInputBlock(blkReason, plain("Reason"), nil, reason)
	reasonBlock.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      cbExtend,
		Title:           plain("Extend access"),
		Submit:          plain("Ask"),
		Close:           plain("Back"),
		PrivateMetadata: requestID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(mrkdwn("%s", summary)),
			slack.NewInputBlock(blkDuration, plain("Duration"), plain("An extension is a new request under the same rules."), dur),
			reasonBlock,
		}},
	}
}

// listItem is one line of /access list and App Home.
type listItem struct {
	Req      *approvals.Request
	Resource string // display name
	Approver bool   // shown to an approver: the request waits for them
}

func (it listItem) line() string {
	r := it.Req
	label := esc(it.Resource)
	if r.Admin {
		label = ":rotating_light: " + label
	}
	switch {
	case it.Approver:
		return fmt.Sprintf("`%s` %s asks for %s for %s", approvals.Short(r.ID), esc(r.Requester), label, policies.FormatDuration(r.Duration))
	case r.State == approvals.StateActive:
		return fmt.Sprintf("`%s` %s — active until %s", approvals.Short(r.ID), label, when(r.EndsAt))
	case r.State == approvals.StatePending:
		return fmt.Sprintf("`%s` %s for %s — waiting for step %d of %d", approvals.Short(r.ID), label, policies.FormatDuration(r.Duration), r.CurrentStep+1, len(r.Steps))
	default:
		return fmt.Sprintf("`%s` %s — %s", approvals.Short(r.ID), label, r.State)
	}
}

// homeView is App Home: my access, my requests, my approvals.
func homeView(active, pending, approvals_ []listItem) slack.HomeTabViewRequest {
	var blocks []slack.Block
	budget := maxViewBlocks - 8 // headers, dividers and "more" notes
	add := func(title string, items []listItem, buttons func(listItem) []slack.BlockElement) {
		blocks = append(blocks, slack.NewHeaderBlock(plain(title)))
		if len(items) == 0 {
			blocks = append(blocks, section(mrkdwn("_Nothing here._")))
			return
		}
		for i, it := range items {
			bs := buttons(it)
			need := 1
			if len(bs) > 1 {
				need = 2
			}
			if budget < need {
				blocks = append(blocks, section(mrkdwn("_…and %d more: `/access list` shows them all._", len(items)-i)))
				break
			}
			budget -= need
			sec := section(mrkdwn("%s", it.line()))
			switch {
			case len(bs) == 1:
				// One action fits the section's accessory.
				if btn, ok := bs[0].(*slack.ButtonBlockElement); ok {
					sec.Accessory = slack.NewAccessory(btn)
				}
				blocks = append(blocks, sec)
			case len(bs) > 1:
				blocks = append(blocks, sec, slack.NewActionBlock("", bs...))
			default:
				blocks = append(blocks, sec)
			}
		}
	}
	add("My access", active, func(it listItem) []slack.BlockElement {
		return []slack.BlockElement{button(actRelease+"."+it.Req.ID, "Release", it.Req.ID, "")}
	})
	if len(active) > 0 {
		var ext []slack.BlockElement
		for i, it := range active {
			if i == 5 { // an actions block holds at most 25 elements; keep it small
				break
			}
			ext = append(ext, button(actExtend+"."+it.Req.ID, "Extend "+approvals.Short(it.Req.ID), it.Req.ID, ""))
		}
		blocks = append(blocks, slack.NewActionBlock("extend", ext...))
	}
	blocks = append(blocks, slack.NewDividerBlock())
	add("My requests", pending, func(it listItem) []slack.BlockElement {
		return []slack.BlockElement{button(actCancel+"."+it.Req.ID, "Cancel", it.Req.ID, "danger")}
	})
	blocks = append(blocks, slack.NewDividerBlock())
	add("Waiting for me", approvals_, func(it listItem) []slack.BlockElement {
		return []slack.BlockElement{button(actApprove+"."+it.Req.ID, "Approve", it.Req.ID, "primary"),
			button(actDecline+"."+it.Req.ID, "Decline", it.Req.ID, "danger")}
	})
	blocks = append(blocks, slack.NewContextBlock("help", mrkdwn("`/access` to ask for access · `/access help` for every command")))
	return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: capBlocks(blocks, maxViewBlocks)}}
}

// pageLines splits lines into messages of at most maxMessageBlocks
// sections, each within the section text limit: long lists are paged.
func pageLines(title string, lines []string) [][]slack.Block {
	var pages [][]slack.Block
	cur := []slack.Block{section(mrkdwn("*%s*", esc(title)))}
	for _, l := range lines {
		if len(cur) == maxMessageBlocks-1 {
			pages = append(pages, cur)
			cur = nil
		}
		for _, c := range chunks(l, textChunk) {
			cur = append(cur, section(mrkdwn("%s", c)))
		}
	}
	pages = append(pages, cur)
	if len(pages) > 1 {
		for i, p := range pages {
			pages[i] = append(p, slack.NewContextBlock("", mrkdwn("page %d of %d", i+1, len(pages))))
		}
	}
	return pages
}

const helpText = "*jitbot — temporary access, approved in Slack*\n" +
	"• `/access` — open the request form\n" +
	"• `/access RESOURCE DURATION REASON…` — e.g. `/access jira-admins 1h fixing the deploy`\n" +
	"• `/access list` — your requests and access\n" +
	"• `/access cancel ID` — withdraw a pending request\n" +
	"• `/access release ID` — give access back early\n" +
	"• `/access extend ID DURATION` — ask for more time (a new request under the same rules)\n" +
	"• `/access audit @person` — evidence about a person (IT only)\n" +
	"Durations: 30m, 2h, 3d. IDs are shown on every message about a request."
