package bot

import (
	"context"
	"errors"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// inputValue reads a view's input by block id.
func inputValue(v slack.View, block string) string {
	if v.State == nil {
		return ""
	}
	for _, a := range v.State.Values[block] {
		if a.SelectedOption.Value != "" {
			return a.SelectedOption.Value
		}
		return strings.TrimSpace(a.Value)
	}
	return ""
}

// handleSubmission decides the answer to a modal submission from memory:
// errors keep the modal open with the problem next to its field. The slow
// part (filing, deciding) runs after the ack.
func (b *Bot) handleSubmission(ctx context.Context, ic slack.InteractionCallback) (any, func(context.Context)) {
	to := replyTo{user: ic.User.ID}
	email, err := b.emailOf(ctx, ic.User.ID)
	if err != nil {
		return errorsAck(map[string]string{firstBlock(ic.View): b.sentence(err, "")}), nil
	}
	v := ic.View
	if payload, after, ok := b.reviewSubmission(ctx, v, email, to); ok {
		return payload, after
	}
	if payload, after, ok := b.certSubmission(v, email, to); ok { // certify.go
		return payload, after
	}
	if payload, after, ok := b.breakGlassSubmission(ctx, v, email, to); ok { // breakglass.go
		return payload, after
	}
	if payload, after, ok := b.delegateSubmission(ctx, v, email, to); ok { // incidents.go
		return payload, after
	}
	switch v.CallbackID {
	case cbRequest:
		in := approvals.SubmitInput{Requester: email, Resource: inputValue(v, blkResource),
			Reason: inputValue(v, blkReason), Ticket: inputValue(v, blkTicket), BreakGlass: breakGlassChecked(v)}
		d, err := policies.ParseDuration(inputValue(v, blkDuration))
		if err != nil {
			return errorsAck(map[string]string{blkDuration: "Choose a duration."}), nil
		}
		in.Duration = d
		// The engine decides; the form shows its answer next to the field.
		if _, err := b.svc.Check(ctx, &in); err != nil {
			return errorsAck(map[string]string{fieldBlock(err): b.sentence(err, "")}), nil
		}
		return nil, func(ctx context.Context) {
			if _, err := b.svc.Submit(ctx, in); err != nil {
				b.say(ctx, to, "Your request was not filed: "+b.sentence(err, ""))
			}
		}
	case cbDecline:
		reason := inputValue(v, blkReason)
		if reason == "" {
			return errorsAck(map[string]string{blkReason: "Say why, so the requester knows."}), nil
		}
		r, err := b.svc.Get(ctx, v.PrivateMetadata)
		if err == nil {
			err = b.svc.MayDecide(ctx, r, email)
		}
		if err != nil {
			return errorsAck(map[string]string{blkReason: b.sentence(err, "")}), nil
		}
		return nil, func(ctx context.Context) {
			if _, err := b.svc.Decline(ctx, r.ID, email, reason); err != nil {
				b.say(ctx, to, "Your decline was not recorded: "+b.sentence(err, ""))
			}
		}
	case cbExtend:
		d, err := policies.ParseDuration(inputValue(v, blkDuration))
		if err != nil {
			return errorsAck(map[string]string{blkDuration: "Choose a duration."}), nil
		}
		id, reason := v.PrivateMetadata, inputValue(v, blkReason)
		return nil, func(ctx context.Context) {
			if _, err := b.svc.Extend(ctx, id, email, d, reason); err != nil {
				b.say(ctx, to, "Your extension was not filed: "+b.sentence(err, ""))
			}
		}
	}
	return nil, nil
}

// fieldBlock is the modal block of the input an engine error is about.
func fieldBlock(err error) string {
	var ae *approvals.Error
	if errors.As(err, &ae) {
		switch ae.Field {
		case approvals.FieldDuration:
			return blkDuration
		case approvals.FieldReason:
			return blkReason
		case approvals.FieldTicket:
			return blkTicket
		}
	}
	return blkResource
}

func errorsAck(errs map[string]string) *slack.ViewSubmissionResponse {
	return slack.NewErrorsViewSubmissionResponse(errs)
}

func firstBlock(v slack.View) string {
	for _, bl := range v.Blocks.BlockSet {
		if in, ok := bl.(*slack.InputBlock); ok {
			return in.BlockID
		}
	}
	return blkReason
}
