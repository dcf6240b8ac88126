package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	roleDigest    = "digest" // the request is listed on the page at TS
	roleHome      = "home"
	// roleUnreachable marks an approver who could not be found in Slack;
	// its Channel holds the approver's email.
	roleUnreachable = "unreachable"
)

// snapshotOf reads everything the messages about request id show, the
// stored part in one read.
func (b *Bot) snapshotOf(ctx context.Context, id string) (*snapshot, error) {
	v, err := b.svc.Snapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	r := v.Request
	s := &snapshot{Req: r, Grants: v.Grants, Decisions: v.Decisions, Requester: who{Email: r.Requester, Name: r.Requester}, Filing: v.Filing}
	p := b.svc.Policy()
	s.Resource, _ = p.Resource(r.Resource)
	if person, ok := p.Person(r.Requester); ok {
		s.Requester.Department, s.Requester.Manager, s.Requester.Employment = person.Department, person.Manager, person.Employment
	}
	s.Requester.Name = b.nameOf(ctx, r.Requester)
	for _, o := range v.OtherActive {
		s.Others = append(s.Others, other{Resource: o.Resource, Until: o.EndsAt})
	}
	return s, nil
}

// Notify tells people what happened to a request (approvals.Notifier). It
// renders every message from the stored request, edits the ones already
// posted whose content changed and posts the missing ones, so calling it
// twice for one job changes nothing the second time. It never waits for
// Slack: a post that may not go yet (a channel's pace, a 429, an outage)
// ends the call with approvals.Later, and what was done is not done again.
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

	// Approver cards are brought up to date first, so that a decided
	// request's buttons go before anything else is said (after an outage,
	// before a stale Approve can be clicked); requests listed on an
	// approver's pages are refreshed by that approver's inbox job, and the
	// approvers of the current step without either get one.
	inbox := map[string]bool{}
	placed := map[string]bool{}
	for _, m := range refs {
		switch m.Role {
		case roleUnreachable:
			placed[m.Channel] = true
		case roleApprover:
			approver := b.refOwner(ctx, m)
			placed[approver] = true
			text, blocks := approverMessage(s, approver)
			errs = append(errs, b.edit(ctx, m, text, blocks))
		case roleDigest:
			approver := b.refOwner(ctx, m)
			placed[approver] = true
			inbox[approver] = true
		}
	}
	if s.Req.State == approvals.StatePending {
		for _, email := range s.Req.Steps[s.Req.CurrentStep].Approvers {
			if !placed[email] {
				inbox[email] = true
			}
		}
	}
	var jobs []*approvals.Job
	for _, email := range sortedSet(inbox) {
		jobs = append(jobs, inboxJob(email, s.Req.ID))
	}
	if j, err := b.homeJobIfOpen(ctx, s.Req.Requester); err != nil {
		errs = append(errs, err)
	} else if j != nil {
		jobs = append(jobs, j)
	}
	errs = append(errs, b.svc.Queue(ctx, jobs...))

	// The requester's one DM, edited in place.
	errs = append(errs, b.upsertRequester(ctx, s, refs))

	// Once-only posts leave a marker per job and target: a replayed or
	// resumed job finds them.
	for _, kind := range n.Kinds {
		switch kind {
		case approvals.NoteReminder:
			errs = append(errs, b.remind(ctx, s, refs, fmt.Sprintf("reminder:%d", n.JobID)))
		case approvals.NoteExpiring:
			errs = append(errs, b.warnExpiry(ctx, s, refs, fmt.Sprintf("expiring:%d", n.JobID)))
		case approvals.NoteApproved, approvals.NoteDeclined, approvals.NoteTimedOut, approvals.NoteCancelled,
			approvals.NoteFailed, approvals.NoteEnded:
			errs = append(errs, b.postChannels(ctx, s, refs, fmt.Sprintf("notify:%d", n.JobID)))
		}
	}
	return soonest(errs...)
}

// refOwner returns the directory email a card or page entry is for.
func (b *Bot) refOwner(ctx context.Context, m MessageRef) string {
	if m.Person != "" {
		return m.Person
	}
	p, err := b.personOf(ctx, m.UserID)
	if err != nil {
		return ""
	}
	return p.email
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func hasMarker(refs []MessageRef, role, channel string) bool {
	return slices.ContainsFunc(refs, func(m MessageRef) bool { return m.Role == role && (channel == "" || m.Channel == channel) })
}

// contentHash identifies what a message shows.
func contentHash(text string, blocks []slack.Block) string {
	h := sha256.New()
	h.Write([]byte(text))
	_ = json.NewEncoder(h).Encode(blocks)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (b *Bot) upsertRequester(ctx context.Context, s *snapshot, refs []MessageRef) error {
	text, blocks := requesterMessage(s)
	for _, m := range refs {
		if m.Role == roleRequester {
			return b.edit(ctx, m, text, blocks)
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
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: roleRequester, UserID: user, Person: s.Req.Requester,
		Channel: ch, TS: ts, Hash: contentHash(text, blocks)})
}

// postCard posts the approver's card for a request, or, when the approver
// cannot be found in Slack, alerts IT once.
func (b *Bot) postCard(ctx context.Context, s *snapshot, email string) error {
	user, err := b.userOf(ctx, email)
	if isLater(err) {
		return err
	}
	if err != nil {
		// The other approvers still get theirs; IT hears that this one
		// cannot, since the request would otherwise wait in silence.
		b.log.Warn("approver not reachable in Slack", zap.String("request_id", s.Req.ID), zap.String("approver", email), zap.Error(err))
		if err := b.svc.RaiseAlert(ctx, s.Req.ID, fmt.Sprintf("approver %s cannot be asked in Slack (%v); the request waits for the others or times out", email, err)); err != nil {
			return err
		}
		// Remembered, so that later notifications do not alert again.
		return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: roleUnreachable, Channel: email})
	}
	text, blocks := approverMessage(s, email)
	ch, ts, err := b.postDM(ctx, user, text, blocks)
	if err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: roleApprover, UserID: user, Person: email,
		Channel: ch, TS: ts, Hash: contentHash(text, blocks)})
}

// remind replies, in the thread of every card or page that shows the
// request to an approver of its current step, once per approver.
func (b *Bot) remind(ctx context.Context, s *snapshot, refs []MessageRef, role string) error {
	if s.Req.State != approvals.StatePending {
		return nil
	}
	text, blocks := reminderMessage(s)
	var errs []error
	for _, m := range refs {
		if (m.Role != roleApprover && m.Role != roleDigest) || !onStep(s.Req, b.refOwner(ctx, m)) || hasMarker(refs, role, m.Channel) {
			continue
		}
		err := b.call(ctx, mPostMessage, m.Channel, func(ctx context.Context) error {
			_, _, err := b.api.PostMessageContext(ctx, m.Channel, slack.MsgOptionText(text, true),
				slack.MsgOptionBlocks(blocks...), slack.MsgOptionTS(m.TS))
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("reminder to %s: %w", m.Channel, err))
			continue
		}
		errs = append(errs, b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: role, Channel: m.Channel}))
	}
	return soonest(errs...)
}

func (b *Bot) warnExpiry(ctx context.Context, s *snapshot, refs []MessageRef, role string) error {
	if hasMarker(refs, role, "") || s.Req.State != approvals.StateActive {
		return nil
	}
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
// per notification job and channel. A channel that refuses the post is
// reported to IT and skipped: it must not hold up the request.
func (b *Bot) postChannels(ctx context.Context, s *snapshot, refs []MessageRef, role string) error {
	text, blocks := channelMessage(s)
	var errs []error
	for _, ch := range s.Req.Notify {
		if hasMarker(refs, role, ch) {
			continue
		}
		err := b.call(ctx, mPostMessage, ch, func(ctx context.Context) error {
			_, _, err := b.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
			return err
		})
		if isLater(err) {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			b.log.Warn("notify channel post failed", zap.String("channel", ch), zap.String("error", slackErrorCode(err)))
			if aerr := b.svc.RaiseAlert(ctx, s.Req.ID, fmt.Sprintf("post to %s: %s", ch, slackErrorCode(err))); aerr != nil {
				errs = append(errs, aerr)
				continue
			}
		}
		errs = append(errs, b.msgs.PutMessage(ctx, MessageRef{RequestID: s.Req.ID, Role: role, Channel: ch}))
	}
	return soonest(errs...)
}

// Alert posts a failure IT must look at to the alert channel
// (approvals.Alerter); the engine's alert job calls it.
func (b *Bot) Alert(ctx context.Context, requestID, message string) error {
	if b.cfg.AlertChannel == "" {
		b.log.Warn("alert (no JITBOT_ALERT_CHANNEL set)", zap.String("request_id", requestID), zap.String("alert", message))
		return nil
	}
	text, blocks := alertMessage(requestID, message)
	err := b.call(ctx, mPostMessage, b.cfg.AlertChannel, func(ctx context.Context) error {
		_, _, err := b.api.PostMessageContext(ctx, b.cfg.AlertChannel, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
		return err
	})
	if err != nil && !isLater(err) {
		b.log.Error("alert could not be posted", zap.String("channel", b.cfg.AlertChannel), zap.String("error", slackErrorCode(err)), zap.String("alert", message))
	}
	return err
}

// postDM posts a new message in the DM with user.
func (b *Bot) postDM(ctx context.Context, user, text string, blocks []slack.Block) (string, string, error) {
	ch, err := b.dmChannel(ctx, user)
	if err != nil {
		return "", "", err
	}
	ts, err := b.post(ctx, ch, text, blocks)
	if err != nil {
		return "", "", err
	}
	return ch, ts, nil
}

// post posts a message in a channel, within its pace.
func (b *Bot) post(ctx context.Context, ch, text string, blocks []slack.Block) (string, error) {
	var ts string
	err := b.call(ctx, mPostMessage, ch, func(ctx context.Context) error {
		var err error
		_, ts, err = b.api.PostMessageContext(ctx, ch, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
		return err
	})
	if err != nil && !isLater(err) {
		return "", fmt.Errorf("chat.postMessage to %s: %s", ch, slackErrorCode(err))
	}
	return ts, err
}

// edit brings a posted message up to date, unless it already shows this.
func (b *Bot) edit(ctx context.Context, m MessageRef, text string, blocks []slack.Block) error {
	h := contentHash(text, blocks)
	if m.Hash == h {
		return nil
	}
	err := b.call(ctx, mUpdate, m.Channel, func(ctx context.Context) error {
		_, _, _, err := b.api.UpdateMessageContext(ctx, m.Channel, m.TS, slack.MsgOptionText(text, true), slack.MsgOptionBlocks(blocks...))
		return err
	})
	if isLater(err) {
		return err
	}
	if err != nil {
		return fmt.Errorf("chat.update %s: %s", m.Channel, slackErrorCode(err))
	}
	m.Hash = h
	return b.msgs.PutMessage(ctx, m)
}
