package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot"
	"github.com/jitbot/jitbot/review"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// reviewAction runs a click on a licence review button. The button only
// says which item (or prompt) it is about; who may answer is decided by
// the engine from the stored item, with IT membership checked here in
// Slack. It reports whether the action was the review's.
func (b *Bot) reviewAction(ctx context.Context, ic slack.InteractionCallback, name, value, email string, to replyTo) bool {
	if b.cfg.Review == nil {
		return false
	}
	var err error
	switch name {
	case actReviewKeep:
		err = b.openKeep(ctx, ic.TriggerID, value, email)
	case actReviewSuspend:
		err = b.answer(ctx, review.AnswerInput{ItemID: value, By: email})
	case actReviewKeepAll:
		err = b.openKeepAll(ctx, ic.TriggerID, value, email)
	case actReviewSuspendAll:
		runID, manager := review.ParsePromptRef(value)
		err = b.answerAll(ctx, runID, manager, review.AnswerInput{By: email})
	case actReviewNeed:
		err = b.openNeed(ctx, ic.TriggerID, value, email)
	default:
		return false
	}
	b.clicked(ctx, ic, to, err)
	return true
}

// asIT reports whether email may answer as IT; a Slack failure to tell
// counts as no (the engine then checks the manager).
func (b *Bot) asIT(ctx context.Context, email string) bool {
	ok, err := b.isIT(ctx, email)
	if err != nil {
		b.log.Warn("IT group membership unknown", zap.String("person", email), zap.Error(err))
	}
	return ok
}

// mayAnswer is review.IsAnswerer, with IT's own items seen to: nobody
// answers for themselves, and where the IT group has no other member the
// item is raised in the alert channel (it stays open).
func (b *Bot) mayAnswer(ctx context.Context, it *review.Item, email string, asIT bool) error {
	err := review.IsAnswerer(it, email, asIT)
	if jitbot.ErrorCode(err) != review.ESelfAnswer || !asIT || b.cfg.ITGroup == "" {
		return err
	}
	members, gerr := b.GroupMembers(ctx, b.cfg.ITGroup)
	if gerr != nil || slices.ContainsFunc(members, func(m string) bool { return !strings.EqualFold(m, email) }) {
		return err
	}
	alert := fmt.Sprintf("%s is the only member of the IT group @%s, and their own licence review item (rule %s) needs an answer from someone else: add a second member to @%s to answer it. It stays open until then.",
		it.Email, strings.TrimPrefix(b.cfg.ITGroup, "@"), it.Rule, strings.TrimPrefix(b.cfg.ITGroup, "@"))
	if aerr := b.svc.RaiseAlert(ctx, "", alert); aerr != nil {
		return aerr
	}
	return jitbot.Errorf(review.ESelfAnswer, "You cannot answer for yourself, and you are the only member of IT: this was raised in the alert channel, and your review stays open until someone else answers it.")
}

// answer records an answer and asks for the cards to show it (a
// suspension's outcome follows from the engine when it is done).
func (b *Bot) answer(ctx context.Context, in review.AnswerInput) error {
	in.AsIT = b.asIT(ctx, in.By)
	it, err := b.cfg.Review.Answer(ctx, in)
	if jitbot.ErrorCode(err) == review.ESelfAnswer {
		if mine, _, ierr := b.cfg.Review.Item(ctx, in.ItemID); ierr == nil {
			return b.mayAnswer(ctx, mine, in.By, in.AsIT)
		}
	}
	if err != nil {
		return err
	}
	if !in.Keep {
		return b.svc.Queue(ctx, itemUpdateJob(it, it.ID))
	}
	return nil
}

// answerAll answers every person still waiting on one prompt.
func (b *Bot) answerAll(ctx context.Context, runID, manager string, in review.AnswerInput) error {
	in.AsIT = b.asIT(ctx, in.By)
	items, err := b.cfg.Review.Prompt(ctx, runID, manager)
	if err != nil {
		return err
	}
	// Refused before anything changes when the clicker may answer for
	// nobody here.
	if err := b.mayAnswerAny(ctx, items, in.By, in.AsIT); err != nil {
		return err
	}
	done, err := b.cfg.Review.AnswerAll(ctx, runID, manager, in)
	if len(done) > 0 && !in.Keep {
		ids := make([]string, len(done))
		for i, it := range done {
			ids[i] = it.ID
		}
		if qerr := b.svc.Queue(ctx, itemUpdateJob(done[0], ids...)); qerr != nil && err == nil {
			err = qerr
		}
	}
	return err
}

// openKeep opens the modal asking why a person is kept, once the clicker
// is known to be allowed to answer.
func (b *Bot) openKeep(ctx context.Context, trigger, itemID, email string) error {
	it, _, err := b.cfg.Review.Item(ctx, itemID)
	if err != nil {
		return err
	}
	if err := b.mayAnswer(ctx, it, email, b.asIT(ctx, email)); err != nil {
		return err
	}
	if !waitsForAnswer(it) {
		return jitbot.Errorf(review.EConflict, "%s was already answered for: %s.", esc(it.Email), it.State.Outcome())
	}
	who := it.Email
	if it.Name != "" {
		who = it.Name + " (" + it.Email + ")"
	}
	summary := fmt.Sprintf("Keep %s's Atlassian access? Say why they still need it: the reason is shown in IT's digest and kept as evidence.", esc(who))
	return b.openView(ctx, trigger, reviewKeepModal(cbReviewKeep, it.ID, summary))
}

// mayAnswerAny checks the clicker against the first item of a prompt
// still waiting that is not their own (the engine skips their own), or
// their own when it is the only one.
func (b *Bot) mayAnswerAny(ctx context.Context, items []*review.Item, email string, asIT bool) error {
	var first *review.Item
	for _, it := range items {
		if !waitsForAnswer(it) {
			continue
		}
		if first == nil || strings.EqualFold(first.Email, email) {
			first = it
		}
	}
	if first == nil {
		return nil
	}
	return b.mayAnswer(ctx, first, email, asIT)
}

// openKeepAll opens the modal asking why everyone waiting is kept.
func (b *Bot) openKeepAll(ctx context.Context, trigger, ref, email string) error {
	runID, manager := review.ParsePromptRef(ref)
	items, err := b.cfg.Review.Prompt(ctx, runID, manager)
	if err != nil {
		return err
	}
	if err := b.mayAnswerAny(ctx, items, email, b.asIT(ctx, email)); err != nil {
		return err
	}
	open := 0
	for _, x := range items {
		if waitsForAnswer(x) && !strings.EqualFold(x.Email, email) {
			open++
		}
	}
	if open == 0 {
		return jitbot.Errorf(review.EConflict, "Everyone on this review was already answered for.")
	}
	summary := fmt.Sprintf("Keep all %d people still waiting on this licence review? One reason holds for all of them: it is shown in IT's digest and kept as evidence.", open)
	return b.openView(ctx, trigger, reviewKeepModal(cbReviewKeepAll, ref, summary))
}

// openNeed opens the person's "I still need it" form.
func (b *Bot) openNeed(ctx context.Context, trigger, itemID, email string) error {
	it, _, err := b.cfg.Review.Item(ctx, itemID)
	if err != nil {
		return err
	}
	if !strings.EqualFold(it.Email, email) {
		return jitbot.Errorf(review.ENotAnswerer, "Only %s can ask to keep their own access.", esc(it.Email))
	}
	if it.State != review.ItemWarned && it.State != review.ItemPending {
		return jitbot.Errorf(review.EConflict, "Your review already has its outcome: %s.", it.State.Outcome())
	}
	decides := "IT"
	if !it.Unassigned {
		decides = it.Manager
	}
	summary := fmt.Sprintf("Your Atlassian access is due to be suspended %s. Tell %s why you still need it; they decide.", when(it.SuspendAt), esc(decides))
	return b.openView(ctx, trigger, reviewNeedModal(it.ID, summary))
}

func (b *Bot) openView(ctx context.Context, trigger string, v slack.ModalViewRequest) error {
	if _, err := b.api.OpenViewContext(ctx, trigger, v); err != nil {
		b.log.Warn("views.open", zap.String("callback", v.CallbackID), zap.String("error", slackErrorCode(err)))
		return jitbot.Errorf("form_failed", "The form could not open; click again.")
	}
	return nil
}

// reviewSubmission answers the review's modals: the reason is required
// (the modal stays open with the problem next to the field); the answer
// itself is recorded after the ack.
func (b *Bot) reviewSubmission(ctx context.Context, v slack.View, email string, to replyTo) (any, func(context.Context), bool) {
	if b.cfg.Review == nil {
		return nil, nil, false
	}
	switch v.CallbackID {
	case cbReviewKeep, cbReviewKeepAll, cbReviewNeed:
	default:
		return nil, nil, false
	}
	reason := inputValue(v, blkReason)
	if reason == "" {
		return errorsAck(map[string]string{blkReason: "Say why: the reason is kept as evidence."}), nil, true
	}
	meta := v.PrivateMetadata
	switch v.CallbackID {
	case cbReviewKeep:
		return nil, func(ctx context.Context) {
			if err := b.answer(ctx, review.AnswerInput{ItemID: meta, By: email, Keep: true, Reason: reason}); err != nil {
				b.say(ctx, to, "Your Keep was not recorded: "+b.sentence(err, ""))
			}
		}, true
	case cbReviewKeepAll:
		return nil, func(ctx context.Context) {
			runID, manager := review.ParsePromptRef(meta)
			if err := b.answerAll(ctx, runID, manager, review.AnswerInput{By: email, Keep: true, Reason: reason}); err != nil {
				b.say(ctx, to, "Not everyone was kept: "+b.sentence(err, ""))
			}
		}, true
	default: // cbReviewNeed
		return nil, func(ctx context.Context) {
			if _, err := b.cfg.Review.RequestKeep(ctx, meta, email, reason); err != nil {
				b.say(ctx, to, "Your request was not recorded: "+b.sentence(err, ""))
			}
		}, true
	}
}

// restoreCommand answers `/access restore @person` for members of the IT
// group: the engine restores the account and re-adds the memberships
// recorded at suspension that today's policy allows.
func (b *Bot) restoreCommand(ctx context.Context, to replyTo, email string, args []string) {
	if b.cfg.Review == nil {
		b.say(ctx, to, "Licence reviews are not set up in this jitbot, so there is nothing to restore.")
		return
	}
	ok, err := b.isIT(ctx, email)
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	if !ok {
		b.say(ctx, to, "`/access restore` is for IT only (members of the Slack group set in JITBOT_IT_GROUP).")
		return
	}
	if len(args) != 1 {
		b.say(ctx, to, "Usage: `/access restore @person` or `/access restore person@example.com`.")
		return
	}
	subject, err := b.subjectOf(ctx, args[0])
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	rep, err := b.cfg.Review.Restore(ctx, subject, email)
	if err != nil {
		b.say(ctx, to, fmt.Sprintf("%s was not restored: %s", esc(subject), b.sentence(err, "")))
		return
	}
	for _, f := range rep.Failed {
		b.log.Warn("restore: membership not re-added", zap.String("person", subject), zap.String("group", f.Name), zap.String("error", f.Error))
	}
	m := restoreReply(rep)
	b.say(ctx, to, m.Text, m.Blocks...)
}

// subjectOf reads the person a command names: <@U…|name> as Slack sends
// a mention, @handle as typed, or an email.
func (b *Bot) subjectOf(ctx context.Context, arg string) (string, error) {
	userID := ""
	switch m := mentionRe.FindStringSubmatch(arg); {
	case m != nil:
		userID = m[1]
	case strings.HasPrefix(arg, "@"):
		id, err := b.userByHandle(ctx, strings.TrimPrefix(arg, "@"))
		if err != nil {
			return "", err
		}
		userID = id
	}
	if userID == "" {
		return strings.ToLower(strings.Trim(arg, "<>")), nil
	}
	p, err := b.personOf(ctx, userID)
	if err != nil {
		return "", err
	}
	if p.email == "" {
		return "", jitbot.Errorf(codeNoEmail, "That Slack user has no email jitbot can see.")
	}
	return p.email, nil
}

// homeReviews is App Home's "reviews waiting for you": the items waiting
// for email's answer across open runs, and for IT members the unassigned.
func (b *Bot) homeReviews(ctx context.Context, email string) ([]reviewEntry, error) {
	if b.cfg.Review == nil {
		return nil, nil
	}
	items, err := b.cfg.Review.Waiting(ctx, email)
	if err != nil {
		return nil, err
	}
	if b.cfg.ITGroup != "" {
		if ok, err := b.isIT(ctx, email); err == nil && ok {
			more, err := b.cfg.Review.Waiting(ctx, "")
			if err != nil {
				return nil, err
			}
			items = append(items, more...)
		}
	}
	return b.entries(ctx, items), nil
}

// homeReviewBlocks are App Home's review section, within budget blocks.
func homeReviewBlocks(entries []reviewEntry, budget int) []slack.Block {
	head := []slack.Block{slack.NewHeaderBlock(plain("Reviews waiting for you")),
		slack.NewContextBlock("", mrkdwn("Licence review: keep the people who still need their Atlassian access (you will be asked why), or suspend them."))}
	return homeSection(head, len(entries), budget, 4, "_…and %d more on the licence review messages in your DMs._",
		func(i int) []slack.Block { return entryBlocks(entries[i], "", true) })
}
