package bot

import (
	"fmt"
	"unicode/utf8"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// maxPageItems is how many requests one page lists: two blocks each (the
// request, its buttons) and two for the heading stay within Slack's 50.
const maxPageItems = (maxMessageBlocks - 2) / 2

// pageReason bounds how much of a reason a page line shows; the request's
// own messages show it whole.
const pageReason = 300

// pageItem is one request as a page of waiting requests shows it.
type pageItem struct {
	Req       *approvals.Request
	Requester string // display name
	Resource  string // display name
	Admin     bool
}

// pageMessage renders a page of requests waiting on approver: each with
// Approve and Decline while it waits on them, and its outcome after. Text
// people typed is shown as plain_text.
func pageMessage(items []pageItem, approver string) (string, []slack.Block) {
	open := 0
	for _, it := range items {
		if it.Req.State == approvals.StatePending && onStep(it.Req, approver) {
			open++
		}
	}
	text := fmt.Sprintf("%d requests wait for your decision", open)
	if open == 1 {
		text = "1 request waits for your decision"
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain("Requests waiting for your decision")),
		slack.NewContextBlock("", mrkdwn("%d of the %d requests on this page wait for you. Each button decides one request; Decline asks why.", open, len(items))),
	}
	for _, it := range items {
		r := it.Req
		label := it.Resource
		if it.Admin {
			label += " (ADMIN ESCALATION)"
		}
		reason := r.Reason
		if utf8.RuneCountInString(reason) > pageReason {
			reason = string([]rune(reason)[:pageReason]) + "…"
		}
		line := fmt.Sprintf("%s asks for %s for %s — %s [%s]", it.Requester, label, policies.FormatDuration(r.Duration), reason, approvals.Short(r.ID))
		if r.State == approvals.StatePending && onStep(r, approver) {
			blocks = append(blocks, section(plain(line)),
				slack.NewActionBlock("",
					button(actApprove+"."+r.ID, "Approve", r.ID, "primary"),
					button(actDecline+"."+r.ID, "Decline", r.ID, "danger")))
			continue
		}
		blocks = append(blocks, section(plain(line)), slack.NewContextBlock("", plain(pageOutcome(r, approver))))
	}
	return text, capBlocks(blocks, maxMessageBlocks)
}

// pageOutcome says in a few words what became of a request on a page.
func pageOutcome(r *approvals.Request, approver string) string {
	by := r.DecidedBy
	if by == approver {
		by = "you"
	}
	switch r.State {
	case approvals.StatePending:
		return fmt.Sprintf("Waiting for step %d of %d.", r.CurrentStep+1, len(r.Steps))
	case approvals.StateDeclined:
		return "Declined by " + by + "."
	case approvals.StateCancelled:
		if r.DecidedBy == approvals.ActorSystem {
			return "Ended: its resource was removed from the catalogue."
		}
		return "Cancelled by the requester."
	case approvals.StateTimedOut:
		return "Timed out without a decision."
	default:
		if by == "" || by == approvals.ActorSystem {
			return "Approved."
		}
		return "Approved by " + by + "."
	}
}
