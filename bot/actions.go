package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// handleAction runs a button click or a select in a modal.
func (b *Bot) handleAction(ctx context.Context, ic slack.InteractionCallback) {
	if len(ic.ActionCallback.BlockActions) == 0 {
		return
	}
	a := ic.ActionCallback.BlockActions[0]
	to := replyTo{user: ic.User.ID, channel: ic.Channel.ID, responseURL: ic.ResponseURL}
	name, _, _ := strings.Cut(a.ActionID, ".")
	if name == actResource && ic.View.ID != "" {
		b.resourcePicked(ctx, ic, a)
		return
	}
	email, err := b.emailOf(ctx, ic.User.ID)
	if err != nil {
		b.say(ctx, to, b.sentence(err, ""))
		return
	}
	if b.reviewAction(ctx, ic, name, a.Value, email, to) || b.certAction(ctx, ic, name, a.Value, email, to) {
		return
	}
	if b.breakGlassAction(ctx, ic, name, a.Value, email, to) { // breakglass.go
		return
	}
	id := a.Value
	var actErr error
	switch name {
	case actApprove:
		_, actErr = b.svc.Approve(ctx, id, email, "")
	case actDecline:
		r, err := b.svc.Get(ctx, id)
		if err == nil {
			err = b.svc.MayDecide(ctx, r, email)
		}
		if err != nil {
			actErr = err
			break
		}
		summary := fmt.Sprintf("Decline %s's request for %s (%s)?", esc(r.Requester), esc(b.resourceName(r.Resource)), policies.FormatDuration(r.Duration))
		if _, err := b.api.OpenViewContext(ctx, ic.TriggerID, declineModal(r.ID, summary)); err != nil {
			b.log.Warn("views.open", zap.String("request_id", r.ID), zap.String("error", slackErrorCode(err)))
			actErr = jitbot.Errorf("form_failed", "The decline form could not open; click again.")
		}
	case actEndDelegation:
		b.delegateCommand(ctx, to, email, []string{"off"})
		return
	case actDelegateOpen:
		if _, err := b.api.OpenViewContext(ctx, ic.TriggerID, delegateModal()); err != nil {
			b.say(ctx, to, "The form could not open; try again, or use `/access delegate @person until 2026-12-24`.")
		}
		return
	case actCancel:
		_, actErr = b.svc.Cancel(ctx, id, email)
	case actRelease:
		_, actErr = b.svc.Release(ctx, id, email)
	case actExtend:
		r, err := b.svc.CheckExtend(ctx, id, email)
		if err != nil {
			actErr = err
			break
		}
		maxD, err := b.svc.Policy().MaxFor(email, r.Resource)
		if err != nil {
			actErr = err
			break
		}
		summary := fmt.Sprintf("Extend your access to %s (ends %s)?", esc(b.resourceName(r.Resource)), when(r.EndsAt))
		if _, err := b.api.OpenViewContext(ctx, ic.TriggerID, extendModal(r.ID, summary, maxD)); err != nil {
			b.log.Warn("views.open", zap.String("request_id", r.ID), zap.String("error", slackErrorCode(err)))
			actErr = jitbot.Errorf("form_failed", "The form could not open; click again.")
		}
	default:
		return
	}
	if actErr != nil {
		b.say(ctx, to, b.sentence(actErr, id))
	}
	if ic.View.Type == slack.VTHomeTab {
		b.publishHome(ctx, ic.User.ID)
	}
}

// resourcePicked narrows the modal's duration picker to the chosen
// resource and shows whether its rule wants a ticket.
func (b *Bot) resourcePicked(ctx context.Context, ic slack.InteractionCallback, a *slack.BlockAction) {
	email, err := b.emailOf(ctx, ic.User.ID)
	if err != nil {
		return
	}
	cat := b.catalogue(email)
	i := slices.IndexFunc(cat, func(c catalogueOption) bool { return c.ID == a.SelectedOption.Value })
	if i < 0 {
		return
	}
	ticket := false
	if d, err := b.svc.Policy().Evaluate(ctx, policies.Query{Requester: email, Resource: cat[i].ID, At: b.svc.Clock().Now()}, nil); err == nil {
		ticket = d.RequireTicket
	}
	modal := requestModal(cat, &cat[i], ticket)
	b.withBreakGlass(ctx, &modal, email, cat[i].ID) // breakglass.go
	if _, err := b.api.UpdateViewContext(ctx, modal, "", ic.View.Hash, ic.View.ID); err != nil {
		b.log.Debug("modal update skipped", zap.String("error", slackErrorCode(err)))
	}
}
