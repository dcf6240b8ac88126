package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/approvals"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// Message roles kept in the MessageStore.
const (
	roleRequester = "requester"
	roleApprover  = "approver"
	// roleUnreachable marks an approver who could not be found in Slack;
	// its Channel holds the approver's email.
	roleUnreachable = "unreachable"
)

// snapshotOf reads everything the messages about request id show.
func (b *Bot) snapshotOf(ctx context.Context, id string) (*snapshot, error) {
	r, err := b.svc.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &snapshot{Req: r, Requester: who{Email: r.Requester, Name: r.Requester}}
	if s.Grants, err = b.svc.Grants(ctx, id); err != nil {
		return nil, err
	}
	if s.Decisions, err = b.svc.Decisions(ctx, id); err != nil {
		return nil, err
	}
	p := b.svc.Policy()
	s.Resource, _ = p.Resource(r.Resource)
	if person, ok := p.Person(r.Requester); ok {
		s.Requester.Department, s.Requester.Manager, s.Requester.Employment = person.Department, person.Manager, person.Employment
	}
	s.Requester.Name = b.nameOf(ctx, r.Requester)
	active, err := b.svc.List(ctx, approvals.RequestFilter{Requester: r.Requester, States: []approvals.State{approvals.StateActive}})
	if err != nil {
		return nil, err
	}
	for _, o := range active {
		if o.ID != r.ID {
			s.Others = append(s.Others, other{Resource: o.Resource, Until: o.EndsAt})
		}
	}
	return s, nil
}

// Notify tells people what happened to a request (approvals.Notifier). It
// renders every message from the stored request, edits the ones already
// posted and posts the missing ones, so calling it twice for one job
// changes nothing the second time.
func (b *Bot) Notify(ctx context.Context, n approvals.Notification) error {
	unlock := b.lockRequest(n.RequestID)
	defer unlock()
	s, err := b.snapshotOf(ctx, n.RequestID)
	if err != nil {
		return err
	}
	refs, err := b.msgs.Messages(ctx, n.RequestID)
	if err != nil {
		return err
	}
	var errs []error

	// The requester's one DM, edited in place.
	if err := b.upsertRequester(ctx, s, refs); err != nil {
		errs = append(errs, err)
	}

	// Approver cards: every card posted is brought up to date; the
	// approvers of the current step get one if they have none.
	cardFor := map[string]bool{}
	for _, m := range refs {
		if m.Role == roleUnreachable {
			cardFor[m.Channel] = true // already reported
		}
		if m.Role != roleApprover {
			continue
		}
		approver := b.cardOwner(ctx, m.UserID)
		cardFor[approver] = true
		text, blocks := approverMessage(s, approver)
		if err := b.update(ctx, m.Channel, m.TS, text, blocks); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Req.State == approvals.StatePending {
		for _, email := range s.Req.Steps[s.Req.CurrentStep].Approvers {
			if cardFor[email] {
				continue
			}
			if err := b.postCard(ctx, s, email); err != nil {
				errs = append(errs, err)
			}
		}
	}

	// Once-only posts leave a marker per job: a replayed job finds it.
	marker := func(kind string) (string, bool) {
		role := fmt.Sprintf("%s:%d", kind, n.JobID)
		return role, slices.ContainsFunc(refs, func(m MessageRef) bool { return m.Role == role })
	}
	switch n.Kind {
	case approvals.NoteReminder:
		if key, done := marker("reminder"); !done {
			errs = append(errs, b.remind(ctx, s, key))
		}
	case approvals.NoteExpiring:
		if key, done := marker("expiring"); !done {
			errs = append(errs, b.warnExpiry(ctx, s, key))
		}
	case approvals.NoteApproved, approvals.NoteDeclined, approvals.NoteTimedOut, approvals.NoteCancelled,
		approvals.NoteFailed, approvals.NoteEnded:
		if key, done := marker("notify"); !done {
			errs = append(errs, b.postChannels(ctx, s, key))
		}
	}
	return errors.Join(errs...)
}

// cardOwner returns the directory email of the Slack user a card went to.
func (b *Bot) cardOwner(ctx context.Context, userID string) string {
	p, err := b.personOf(ctx, userID)
	if err != nil {
		return ""
	}
	return p.email
}

func (b *Bot) upsertRequester(ctx context.Context, s *snapshot, refs []MessageRef) error {
	text, blocks := requesterMessage(s)
	for _, m := range refs {
		if m.Role == roleRequester {
			return b.update(ctx, m.Channel, m.TS, text, blocks)
		}
	}
	user, err := b.userOf(ctx, s.Req.Requester)
	if err != nil {
		return err
	}
	ch, ts, err := b.postDM(ctx, user, text, blocks)
	if err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: roleRequester, UserID: user, Channel: ch, TS: ts})
}

func (b *Bot) postCard(ctx context.Context, s *snapshot, email string) error {
	user, err := b.userOf(ctx, email)
	if err != nil {
		// The other approvers still get theirs; IT hears that this one
		// cannot, since the request would otherwise wait in silence.
		b.log.Warn("approver not reachable in Slack", zap.String("request_id", s.Req.ID), zap.String("approver", email), zap.Error(err))
		b.Alert(ctx, s.Req.ID, fmt.Sprintf("approver %s cannot be asked in Slack (%v); the request waits for the others or times out", email, err))
		// Remembered, so that later notifications do not alert again.
		return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: roleUnreachable, Channel: email})
	}
	text, blocks := approverMessage(s, email)
	ch, ts, err := b.postDM(ctx, user, text, blocks)
	if err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: roleApprover, UserID: user, Channel: ch, TS: ts})
}

func (b *Bot) remind(ctx context.Context, s *snapshot, role string) error {
	text, blocks := reminderMessage(s)
	refs, err := b.msgs.Messages(ctx, s.Req.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range refs {
		if m.Role != roleApprover || !onStep(s.Req, b.cardOwner(ctx, m.UserID)) {
			continue
		}
		if err := b.paceChannel(ctx, m.Channel); err != nil {
			return err
		}
		if _, _, err := b.api.PostMessageContext(ctx, m.Channel, slack.MsgOptionText(text, true),
			slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(m.TS)); err != nil {
			errs = append(errs, fmt.Errorf("reminder to %s: %s", m.Channel, slackErrorCode(err)))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: role, Channel: "-"}))
	}
	return errors.Join(errs...)
}

func (b *Bot) warnExpiry(ctx context.Context, s *snapshot, role string) error {
	user, err := b.userOf(ctx, s.Req.Requester)
	if err != nil {
		return err
	}
	text, blocks := expiringMessage(s)
	ch, ts, err := b.postDM(ctx, user, text, blocks)
	if err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: role, UserID: user, Channel: ch, TS: ts})
}

// postChannels posts the decision to the policy's notify channels, once
// per notification job.
func (b *Bot) postChannels(ctx context.Context, s *snapshot, role string) error {
	if len(s.Req.Notify) == 0 {
		return nil
	}
	text, blocks := channelMessage(s)
	var errs []error
	for _, ch := range s.Req.Notify {
		if err := b.paceChannel(ctx, ch); err != nil {
			return err
		}
		if _, _, err := b.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...)); err != nil {
			// A missing channel must not hold up the request: say so and go on.
			b.log.Warn("notify channel post failed", zap.String("channel", ch), zap.String("error", slackErrorCode(err)))
			errs = append(errs, fmt.Errorf("post to %s: %s", ch, slackErrorCode(err)))
		}
	}
	if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: role, Channel: "-"}); err != nil {
		return err
	}
	if len(errs) > 0 {
		b.Alert(ctx, s.Req.ID, errors.Join(errs...).Error())
	}
	return nil
}

// Alert posts a failure IT must look at to the alert channel
// (approvals.Alerter).
func (b *Bot) Alert(ctx context.Context, requestID, message string) {
	if b.cfg.AlertChannel == "" {
		b.log.Warn("alert (no JITBOT_ALERT_CHANNEL set)", zap.String("request_id", requestID), zap.String("alert", message))
		return
	}
	text, blocks := alertMessage(requestID, message)
	if err := b.paceChannel(ctx, b.cfg.AlertChannel); err != nil {
		return
	}
	if _, _, err := b.api.PostMessageContext(ctx, b.cfg.AlertChannel, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...)); err != nil {
		b.log.Error("alert could not be posted", zap.String("channel", b.cfg.AlertChannel), zap.String("error", slackErrorCode(err)), zap.String("alert", message))
	}
}

// postDM posts a new message in the DM with user.
func (b *Bot) postDM(ctx context.Context, user, text string, blocks []slack.Block) (string, string, error) {
	ch, err := b.dmChannel(ctx, user)
	if err != nil {
		return "", "", err
	}
	if err := b.paceChannel(ctx, ch); err != nil {
		return "", "", err
	}
	_, ts, err := b.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		return "", "", fmt.Errorf("chat.postMessage to %s: %s", user, slackErrorCode(err))
	}
	return ch, ts, nil
}

// update edits a posted message in place.
func (b *Bot) update(ctx context.Context, ch, ts, text string, blocks []slack.Block) error {
	if _, _, _, err := b.api.UpdateMessageContext(ctx, ch, ts, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...)); err != nil {
		return fmt.Errorf("chat.update %s: %s", ch, slackErrorCode(err))
	}
	return nil
}
