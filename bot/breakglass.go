package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// The review after the fact of a break-glass grant: a card per reviewer
// (approvals.BreakGlassNotifier) with what was done — the grant, its
// reason, and what the person did where the activity data says — and
// Acknowledge / Flag (Flag asks for a reason). Cards are remembered under
// "breakglass:REQUEST", one per reviewer, and edited as the review moves.

const (
	actBGAck   = "bg_ack"
	actBGFlag  = "bg_flag"
	cbBGFlag   = "bg_flag"
	roleBGCard = "reviewer"
)

var _ approvals.BreakGlassNotifier = (*Bot)(nil)

func bgKey(id string) string { return "breakglass:" + id }

// BreakGlassReview posts or updates the reviewers' cards of break-glass
// request id.
func (b *Bot) BreakGlassReview(ctx context.Context, id string) error {
	unlock := b.lockRequest(bgKey(id))
	defer unlock()
	v, err := b.svc.BreakGlass(ctx, id)
	if err != nil {
		return err
	}
	activity := b.activityOf(ctx, v.Request.Requester)
	refs, err := b.msgs.Messages(ctx, bgKey(id))
	if err != nil {
		return err
	}
	var errs []error
	for _, email := range v.Review.Reviewers {
		text, blocks := breakGlassCard(v, email, b.resourceName(v.Request.Resource), activity)
		i := slices.IndexFunc(refs, func(m MessageRef) bool { return m.Role == roleBGCard && m.Person == email })
		if i >= 0 {
			errs = append(errs, b.edit(ctx, refs[i], text, blocks))
			continue
		}
		user, err := b.userOf(ctx, email)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ch, ts, err := b.postDM(ctx, user, text, blocks)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, b.msgs.PutMessage(ctx, MessageRef{RequestID: bgKey(id), Role: roleBGCard, UserID: user, Person: email,
			Channel: ch, TS: ts, Hash: contentHash(text, blocks)}))
	}
	return soonest(errs...)
}

// activityOf says what the activity data says of the person's product use,
// "" when there is none.
func (b *Bot) activityOf(ctx context.Context, email string) []review.ProductActivity {
	if b.cfg.Activity == nil {
		return nil
	}
	ps, err := b.cfg.Activity(ctx, email)
	if err != nil {
		b.log.Warn("activity of a break-glass user", zap.Error(err))
		return nil
	}
	return ps
}

// breakGlassCard is a reviewer's card.
func breakGlassCard(v *approvals.BreakGlassView, reviewer, resource string, activity []review.ProductActivity) (string, []slack.Block) {
	r, rv := v.Request, v.Review
	head := fmt.Sprintf(":fire_extinguisher: *Break-glass review* — %s took %s (`%s`) for %s without approval, %s.",
		esc(r.Requester), esc(resource), esc(r.Resource), policies.FormatDuration(r.Duration), when(r.CreatedAt))
	blocks := []slack.Block{section(mrkdwn("%s", head))}
	if v.Filing != nil && v.Filing.Filer != "" {
		blocks = append(blocks, section(mrkdwn("Filed by %s for them.", esc(v.Filing.Filer))))
	}
	blocks = append(blocks, userText("Reason", r.Reason)...)
	var grant []string
	for _, g := range v.Grants {
		line := fmt.Sprintf("• %s: %s", esc(g.Group), g.State)
		if g.State == approvals.GrantEnded {
			line += " " + when(g.UpdatedAt)
		}
		grant = append(grant, line)
	}
	switch {
	case r.State == approvals.StateActive:
		grant = append(grant, "Active until "+when(r.EndsAt))
	case !r.EndedAt.IsZero():
		grant = append(grant, "Ended "+when(r.EndedAt))
	}
	blocks = append(blocks, section(mrkdwn("*The grant*\n%s", strings.Join(grant, "\n"))))
	var did []string
	for _, p := range activity {
		if !p.LastActive.IsZero() && !p.LastActive.Before(r.CreatedAt) {
			did = append(did, fmt.Sprintf("• used %s, last %s", esc(p.Key), when(p.LastActive)))
		}
	}
	switch {
	case len(did) > 0:
		blocks = append(blocks, section(mrkdwn("*What they did* (Atlassian's activity, which may lag by a day)\n%s", strings.Join(did, "\n"))))
	default:
		blocks = append(blocks, slack.NewContextBlock("activity", mrkdwn("The activity data shows no product use since the grant (it may lag by a day).")))
	}
	text := fmt.Sprintf("Break-glass review: %s took %s", r.Requester, r.Resource)
	switch rv.State {
	case approvals.BreakGlassAcknowledged:
		blocks = append(blocks, section(mrkdwn(":white_check_mark: *Acknowledged* by %s %s", esc(rv.AnsweredBy), when(rv.AnsweredAt))))
		return text, blocks
	case approvals.BreakGlassFlagged:
		blocks = append(blocks, section(mrkdwn(":triangular_flag_on_post: *Flagged* by %s %s", esc(rv.AnsweredBy), when(rv.AnsweredAt))))
		blocks = append(blocks, userText("Why", rv.Reason)...)
		return text, blocks
	}
	if rv.Escalated {
		blocks = append(blocks, slack.NewContextBlock("overdue", mrkdwn(":alarm_clock: Overdue: not reviewed within a day; IT has been alerted.")))
	}
	blocks = append(blocks, slack.NewActionBlock("breakglass",
		button(actBGAck, "Acknowledge", r.ID, "primary"), button(actBGFlag, "Flag", r.ID, "danger")))
	return text, blocks
}

// breakGlassAction answers the review card's buttons; false when the
// action is not one of them.
func (b *Bot) breakGlassAction(ctx context.Context, ic slack.InteractionCallback, name, id, email string, to replyTo) bool {
	switch name {
	case actBGAck:
		if _, err := b.svc.AnswerBreakGlass(ctx, id, email, true, ""); err != nil {
			b.say(ctx, to, b.sentence(err, ""))
		}
	case actBGFlag:
		reason := slack.NewPlainTextInputBlockElement(plain("IT and security see this"), actText)
		reason.Multiline = true
		reason.MaxLength = maxSectionText
		modal := slack.ModalViewRequest{Type: slack.VTModal, CallbackID: cbBGFlag, Title: plain("Flag break-glass use"),
			Submit: plain("Flag"), Close: plain("Back"), PrivateMetadata: id,
			Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewInputBlock(blkReason, plain("What is wrong with it"), nil, reason)}}}
		if _, err := b.api.OpenViewContext(ctx, ic.TriggerID, modal); err != nil {
			b.say(ctx, to, "The form could not open; click Flag again.")
		}
	default:
		return false
	}
	return true
}

// breakGlassSubmission records a Flag from its form; false when the view
// is not that form.
func (b *Bot) breakGlassSubmission(ctx context.Context, v slack.View, email string, to replyTo) (any, func(context.Context), bool) {
	if v.CallbackID != cbBGFlag {
		return nil, nil, false
	}
	reason := inputValue(v, blkReason)
	if reason == "" {
		return errorsAck(map[string]string{blkReason: "Say what is wrong with this use, so IT can act on it."}), nil, true
	}
	id := v.PrivateMetadata
	return nil, func(ctx context.Context) {
		if _, err := b.svc.AnswerBreakGlass(ctx, id, email, false, reason); err != nil {
			b.say(ctx, to, "Your flag was not recorded: "+b.sentence(err, ""))
		}
	}, true
}

// The request form's break-glass checkbox, shown only when the chosen
// resource's rule allows break-glass for the person.
const (
	blkBreakGlass = "breakglass"
	actBreakGlass = "breakglass"
)

// withBreakGlass adds the checkbox to the request form when email may
// break the glass on resource.
func (b *Bot) withBreakGlass(ctx context.Context, m *slack.ModalViewRequest, email, resource string) {
	d, err := b.svc.Policy().Evaluate(ctx, policies.Query{Requester: email, Resource: resource, BreakGlass: true, At: b.svc.Clock().Now()}, nil)
	if err != nil || d.BreakGlass == nil {
		return
	}
	opt := slack.NewOptionBlockObject("yes", plain("Break the glass: access at once, without approval"),
		plain(fmt.Sprintf("Up to %s, at most %d uses in 30 days", policies.FormatDuration(d.MaxDuration), d.BreakGlass.MaxUses)))
	box := slack.NewCheckboxGroupsBlockElement(actBreakGlass, opt)
	in := slack.NewInputBlock(blkBreakGlass, plain("Incident"),
		plain("For incidents only: it is posted to security and reviewed after the fact."), box)
	in.Optional = true
	m.Blocks.BlockSet = append(m.Blocks.BlockSet, in)
}

// breakGlassChecked reads the form's checkbox.
func breakGlassChecked(v slack.View) bool {
	if v.State == nil {
		return false
	}
	for _, a := range v.State.Values[blkBreakGlass] {
		for _, o := range a.SelectedOptions {
			if o.Value == "yes" {
				return true
			}
		}
	}
	return false
}
