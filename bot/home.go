package bot

import (
	"fmt"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

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

// homeView is App Home: my access, my requests, my approvals, and the
// licence reviews waiting for me (a third of the view's blocks at most).
func homeView(active, pending, approvals_ []listItem, reviews ...reviewEntry) slack.HomeTabViewRequest {
	var blocks []slack.Block
	budget := maxViewBlocks - 8 // headers, dividers and "more" notes
	reviewBlocks := homeReviewBlocks(reviews, maxViewBlocks/3)
	if len(reviewBlocks) > 0 {
		budget -= len(reviewBlocks) + 1 // and its divider
	}
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
	if len(reviewBlocks) > 0 {
		blocks = append(blocks, slack.NewDividerBlock())
		blocks = append(blocks, reviewBlocks...)
	}
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
	"• `/access restore @person` — restore an account the licence review suspended (IT only)\n" +
	"• `/access RESOURCE DURATION for @person REASON…` — file for someone, where the policy lets you\n" +
	"• `/access RESOURCE DURATION --break-glass REASON…` — access at once, reviewed after the fact, where the policy allows it\n" +
	"• `/access delegate @person until 2026-12-24` — requests waiting on you wait on them too; `/access delegate off` ends it\n" +
	"Durations: 30m, 2h, 3d. IDs are shown on every message about a request."
