package bot

import (
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

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

// resourceName is the resource's name from the policy, with admin
// escalations marked, as plain text.
func (s *snapshot) resourceName() string {
	name := s.Req.Resource
	if s.Resource != nil {
		name = s.Resource.Name
	}
	if s.Req.Admin {
		name += " (ADMIN ESCALATION)"
	}
	return name
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
		if r.DecidedBy == approvals.ActorSystem { // its resource left the catalogue: the reason follows
			return ":heavy_multiplication_x: *Ended* — its resource was removed from the catalogue"
		}
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
		// Typed by the requester: plain text, so nothing in it renders.
		fields = append(fields, plain("Ticket\n"+r.Ticket))
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
	blocks = append(blocks, s.incidentNotes("")...)
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
	// The name is the requester's own Slack display name: plain text, so
	// that markdown, emoji and links in it do not render on the card.
	head := fmt.Sprintf("%s (%s) asks for %s", q.Name, q.Email, s.resourceName())
	blocks := []slack.Block{
		section(plain(head)),
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
	blocks = append(blocks, s.incidentNotes(approver)...)
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
