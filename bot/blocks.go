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
	Filing    *approvals.Filing
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
