package bot

import (
	"context"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/approvals"
	"github.com/slack-go/slack"
)

// The paged cards: a licence review prompt (reviewmsgs.go, review.go) and
// a certification card (certmsgs.go, certify.go) list many people, two
// blocks each, with Keep (and a reason) beside each. They share how a card
// is cut into messages within Block Kit's limits, how those messages are
// posted once and edited after, the Keep form, and how a click ends. What
// each card says stays with it.

// pageRole is the MessageStore role of a paged card's message i.
func pageRole(i int) string { return fmt.Sprintf("page:%03d", i) }

// pageSizeOf is how many people a message of a paged card lists: size,
// bounded by reviewPageSize (0 or less: reviewPageSize).
func pageSizeOf(size int) int {
	if size <= 0 || size > reviewPageSize {
		return reviewPageSize
	}
	return size
}

// pagedCard is what a paged card shows: a heading on its first message,
// a line on the others, and each entry's blocks.
type pagedCard struct {
	Text    string // the notification text of every message
	Entries int
	// Empty: an empty card is still one message (its heading); otherwise
	// it is none.
	Empty bool
	Head  func(pages int) []slack.Block     // the first message's top
	More  func(page, pages int) slack.Block // the top of message page (0-based) of pages
	Entry func(i int) []slack.Block         // entry i
}

// pages cuts the card into messages of at most size entries.
func (c pagedCard) pages(size int) []reviewMsg {
	size = pageSizeOf(size)
	n := (c.Entries + size - 1) / size
	if c.Empty {
		n = max(n, 1)
	}
	out := make([]reviewMsg, 0, n)
	for p := range n {
		var blocks []slack.Block
		if p == 0 {
			blocks = append(blocks, c.Head(n)...)
		} else {
			blocks = append(blocks, c.More(p, n))
		}
		for i := p * size; i < min((p+1)*size, c.Entries); i++ {
			blocks = append(blocks, c.Entry(i)...)
		}
		out = append(out, reviewMsg{Text: c.Text, Blocks: capBlocks(blocks, maxMessageBlocks)})
	}
	return out
}

// target is where a paged card's messages go: a person's DM, a channel
// (by id or #name), or a thread of one.
type target struct {
	user, channel, thread string
}

// syncPages brings a paged card's messages up to date: each message posted
// once (when post is set) and edited when what it shows changed. key keys
// the messages in the MessageStore; where finds the target the first time
// a message must be posted (no channel: nobody to post to).
func (b *Bot) syncPages(ctx context.Context, key string, msgs []reviewMsg, post bool, where func() (target, error)) error {
	refs, err := b.msgs.Messages(ctx, key)
	if err != nil {
		return err
	}
	var (
		errs []error
		to   *target
	)
	for i, m := range msgs {
		role := pageRole(i)
		if j := slices.IndexFunc(refs, func(r MessageRef) bool { return r.Role == role }); j >= 0 {
			errs = append(errs, b.edit(ctx, refs[j], m.Text, m.Blocks))
			continue
		}
		if !post {
			continue
		}
		if to == nil {
			t, err := where()
			if err != nil {
				return soonest(append(errs, err)...)
			}
			if t.channel == "" {
				return soonest(errs...) // nobody to post to: said where it was found out
			}
			to = &t
		}
		id, ts, err := b.postTo(ctx, *to, m.Text, m.Blocks)
		if err != nil {
			// Later pages wait for this one: the order of the pages is the
			// order of the people.
			return soonest(append(errs, err)...)
		}
		// Edits need the channel's id, which Slack answers for a #name.
		if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: role, UserID: to.user, Channel: id,
			TS: ts, Hash: contentHash(m.Text, m.Blocks)}); err != nil {
			return err
		}
	}
	return soonest(errs...)
}

// syncChannelPages is syncPages in a channel named by id or #name, under
// the card's lock.
func (b *Bot) syncChannelPages(ctx context.Context, key, channel string, msgs []reviewMsg, post bool) error {
	unlock := b.lockRequest(key)
	defer unlock()
	return b.syncPages(ctx, key, msgs, post, func() (target, error) { return target{channel: channel}, nil })
}

// postTo posts a message at a target and returns the channel's id and the
// message's ts.
func (b *Bot) postTo(ctx context.Context, to target, text string, blocks []slack.Block) (string, string, error) {
	if to.thread == "" {
		id, ts, err := b.postChannel(ctx, to.channel, text, blocks)
		if err != nil && !isLater(err) {
			return "", "", fmt.Errorf("chat.postMessage to %s: %s", to.channel, slackErrorCode(err))
		}
		return id, ts, err
	}
	ts, err := b.postThread(ctx, to.channel, to.thread, text, blocks)
	return to.channel, ts, err
}

// reasonModal asks why, in one required field: the Keep of a review or a
// certification, and the person's "I still need it".
type reasonModal struct {
	Callback, Meta     string
	Title, Submit      string
	Summary            string // mrkdwn, escaped by the caller
	Placeholder, Label string
	Hint               string
}

func (m reasonModal) view() slack.ModalViewRequest {
	in := slack.NewPlainTextInputBlockElement(plain(m.Placeholder), actText)
	in.Multiline = true
	in.MaxLength = 1000
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      m.Callback,
		Title:           plain(m.Title),
		Submit:          plain(m.Submit),
		Close:           plain("Back"),
		PrivateMetadata: m.Meta,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(mrkdwn("%s", m.Summary)),
			slack.NewInputBlock(blkReason, plain(m.Label), plain(m.Hint), in),
		}},
	}
}

// clicked ends a click on a paged card's button: a refusal or failure is
// said to the clicker in a sentence, and App Home is published again when
// the click came from there.
func (b *Bot) clicked(ctx context.Context, ic slack.InteractionCallback, to replyTo, err error) {
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
	}
	if ic.View.Type == slack.VTHomeTab {
		b.publishHome(ctx, ic.User.ID)
	}
}

// homeSection is a paged card's part of App Home within budget blocks:
// head, then entries two blocks each while they fit, then a line saying
// how many more are on the DMs (more, with the count). Nil when there is
// nothing, or fewer than room blocks.
func homeSection(head []slack.Block, entries, budget, room int, more string, entry func(i int) []slack.Block) []slack.Block {
	if entries == 0 || budget < room {
		return nil
	}
	blocks := head
	budget -= len(head) + 1 // the "more" note
	for i := range entries {
		if budget < 2 {
			return append(blocks, section(mrkdwn(more, entries-i)))
		}
		budget -= 2
		blocks = append(blocks, entry(i)...)
	}
	return blocks
}

// registerMessageJobs registers the bot's delivery of each message-lane
// kind an engine lists (the review's, the certification's).
func (b *Bot) registerMessageJobs(engine string, kinds []approvals.JobKind, runs map[approvals.JobKind]func(context.Context, *approvals.Job) error) {
	for _, kind := range kinds {
		run, ok := runs[kind]
		if !ok {
			// A kind the engine added and the bot does not know yet must
			// fail loudly in tests, not be dropped in silence.
			panic("bot: no delivery for " + engine + " job kind " + string(kind))
		}
		b.svc.Register(kind, approvals.JobType{Lane: approvals.LaneMessage, Run: run})
	}
}
