package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/policies"
	"github.com/slack-go/slack"
)

// Certifier is the certification engine as the bot uses it
// (*certify.Engine). Every answer is checked by the engine against the
// stored item: the member never certifies themself.
type Certifier interface {
	Campaign(ctx context.Context, id string) (*certify.Campaign, []*certify.Item, error)
	Item(ctx context.Context, id string) (*certify.Item, error)
	Answer(ctx context.Context, itemID, who, answer, reason string) (*certify.Item, error)
	IsReviewer(ctx context.Context, it *certify.Item, who string) bool
	// Waiting returns the pending items who may answer (campaignID "": all).
	Waiting(ctx context.Context, campaignID, who string) ([]*certify.Item, error)
	// Escalations groups the escalated items by the people their rule's
	// escalate_to names (never the member), with the term naming each.
	Escalations(ctx context.Context, items []*certify.Item) (map[string][]certify.Reach, error)
}

var _ Certifier = (*certify.Engine)(nil)

// MessageStore namespaces of the certification's messages: a reviewer's
// card (pages page:000…) under cert-prompt:CAMPAIGN/EMAIL, an escalation
// card under cert-esc:CAMPAIGN/EMAIL, the channel post under
// cert-progress:CAMPAIGN, the person's notice under cert-item:ITEM.
func certPromptKey(campaign, email string) string { return "cert-prompt:" + campaign + "/" + email }
func certEscKey(campaign, email string) string    { return "cert-esc:" + campaign + "/" + email }
func certProgressKey(campaign string) string      { return "cert-progress:" + campaign }
func certItemKey(id string) string                { return "cert-item:" + id }

// registerCertify registers the deliveries of certify.MessageJobs.
func (b *Bot) registerCertify() {
	runs := map[approvals.JobKind]func(context.Context, *approvals.Job) error{
		certify.JobPrompt:     b.runCertPrompt,
		certify.JobEscalation: b.runCertEscalation,
		certify.JobConverted:  b.runCertConverted,
		certify.JobProgress:   b.runCertProgress,
	}
	b.registerMessageJobs("certification", certify.MessageJobs, runs)
}

// recipients returns the emails a reviewer term reaches: the email, or
// the members of group:HANDLE.
func (b *Bot) recipients(ctx context.Context, term string) ([]string, error) {
	if h, ok := strings.CutPrefix(term, "group:"); ok {
		return b.GroupMembers(ctx, h)
	}
	if strings.Contains(term, "@") {
		return []string{term}, nil
	}
	return nil, nil
}

// runCertPrompt performs a certify.prompt job: each person the reviewer
// term reaches gets their card, paged; the items nobody but IT may answer
// are shown in the rule's channel.
func (b *Bot) runCertPrompt(ctx context.Context, j *approvals.Job) error {
	campaignID, reviewer, _ := strings.Cut(j.Ref, "/")
	c, items, err := b.cfg.Certify.Campaign(ctx, campaignID)
	if err != nil {
		return err
	}
	return b.syncCertReviewer(ctx, c, items, reviewer, true)
}

// syncCertReviewer posts (with post) and refreshes the cards of one
// reviewer term.
func (b *Bot) syncCertReviewer(ctx context.Context, c *certify.Campaign, items []*certify.Item, reviewer string, post bool) error {
	mine := slices.DeleteFunc(slices.Clone(items), func(it *certify.Item) bool { return it.Reviewer != reviewer })
	if len(mine) == 0 {
		return nil
	}
	rule, _ := b.svc.Policy().CertRule(c.Rule)
	if reviewer == "" {
		if rule == nil || rule.Channel == "" {
			return nil // listed by `jitbot certification report` for IT
		}
		v := certView{Campaign: c, Rule: rule, Items: mine}
		return b.syncChannelPages(ctx, certPromptKey(c.ID, ""), rule.Channel, certPages(v, b.cfg.PageSize), post)
	}
	people, err := b.recipients(ctx, reviewer)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range people {
		key := certPromptKey(c.ID, p)
		v := certView{Campaign: c, Rule: rule, Items: mine, Viewer: p}
		errs = append(errs, b.syncCertCard(ctx, key, p, v, post))
	}
	return soonest(errs...)
}

// syncCertCard brings one person's card up to date.
func (b *Bot) syncCertCard(ctx context.Context, key, email string, v certView, post bool) error {
	unlock := b.lockRequest(key)
	defer unlock()
	return b.syncPages(ctx, key, certPages(v, b.cfg.PageSize), post, func() (target, error) {
		return b.dmTarget(ctx, key, email)
	})
}

// runCertEscalation performs a certify.escalation job: each person the
// rule's escalate_to names for the campaign's escalated items (an owner of
// the resource, the reviewer's manager, a member of a user group, an
// email; never the member) gets one card of all their items, paged,
// saying whose they are and why they come to them (posted once, edited as
// they are answered).
func (b *Bot) runCertEscalation(ctx context.Context, j *approvals.Job) error {
	c, items, err := b.cfg.Certify.Campaign(ctx, j.Ref)
	if err != nil {
		return err
	}
	return b.syncCertEscalation(ctx, c, items, true)
}

func (b *Bot) syncCertEscalation(ctx context.Context, c *certify.Campaign, items []*certify.Item, post bool) error {
	rule, ok := b.svc.Policy().CertRule(c.Rule)
	if !ok || !slices.ContainsFunc(items, func(it *certify.Item) bool { return it.Escalated }) {
		return nil
	}
	// A user group Slack could not list is retried with the job; the
	// others' cards go now.
	reach, err := b.cfg.Certify.Escalations(ctx, items)
	errs := []error{err}
	people := make([]string, 0, len(reach))
	for p := range reach {
		people = append(people, p)
	}
	slices.Sort(people)
	for _, p := range people {
		v := certView{Campaign: c, Rule: rule, Viewer: p, Escalated: true, Why: map[string]string{}}
		for _, r := range reach[p] {
			v.Items = append(v.Items, r.Item)
			v.Why[r.Item.ID] = r.Term
		}
		errs = append(errs, b.syncCertCard(ctx, certEscKey(c.ID, p), p, v, post))
	}
	return soonest(errs...)
}

// runCertConverted performs a certify.converted job: the person is told,
// once, that their membership is now just in time and how to ask for it.
func (b *Bot) runCertConverted(ctx context.Context, j *approvals.Job) error {
	key := certItemKey(j.Ref)
	unlock := b.lockRequest(key)
	defer unlock()
	it, err := b.cfg.Certify.Item(ctx, j.Ref)
	if err != nil {
		return err
	}
	refs, err := b.msgs.Messages(ctx, key)
	if err != nil || hasMarker(refs, "converted", "") {
		return err
	}
	to, err := b.dmTarget(ctx, key, it.Person)
	if err != nil || to.channel == "" {
		return err
	}
	maxFor := policies.Day
	if res, ok := b.svc.Policy().Resource(it.Resource); ok {
		maxFor = res.MaxDuration
	}
	m := certConverted(it, maxFor)
	ts, err := b.post(ctx, to.channel, m.Text, m.Blocks)
	if err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: "converted", UserID: to.user, Person: it.Person, Channel: to.channel, TS: ts})
}

// runCertProgress performs a certify.progress job: every card of the
// campaign is edited to show the answers (the campaign read once; a card
// whose content did not change is not edited), and its post in the rule's
// channel is posted once and then edited.
func (b *Bot) runCertProgress(ctx context.Context, j *approvals.Job) error {
	c, items, err := b.cfg.Certify.Campaign(ctx, j.Ref)
	if err != nil {
		return err
	}
	var reviewers []string
	for _, it := range items {
		if !slices.Contains(reviewers, it.Reviewer) {
			reviewers = append(reviewers, it.Reviewer)
		}
	}
	var errs []error
	for _, r := range reviewers {
		errs = append(errs, b.syncCertReviewer(ctx, c, items, r, false))
	}
	errs = append(errs, b.syncCertEscalation(ctx, c, items, false))
	if rule, ok := b.svc.Policy().CertRule(c.Rule); ok && rule.Channel != "" {
		errs = append(errs, b.syncChannelPages(ctx, certProgressKey(c.ID), rule.Channel, []reviewMsg{certProgress(c, items)}, true))
	}
	return soonest(errs...)
}

// certAction runs a click on a certification button. It reports whether
// the action was the certification's.
func (b *Bot) certAction(ctx context.Context, ic slack.InteractionCallback, name, value, email string, to replyTo) bool {
	if b.cfg.Certify == nil {
		return false
	}
	var err error
	switch name {
	case actCertKeep:
		err = b.openCertKeep(ctx, ic.TriggerID, value, email)
	case actCertRemove:
		_, err = b.cfg.Certify.Answer(ctx, value, email, policies.CertRemove, "")
	case actCertConvert:
		_, err = b.cfg.Certify.Answer(ctx, value, email, policies.CertConvert, "")
	default:
		return false
	}
	b.clicked(ctx, ic, to, err)
	return true
}

// withHomeCert adds the certifications waiting for email to App Home,
// within Slack's limit of blocks a view.
func (b *Bot) withHomeCert(ctx context.Context, v slack.HomeTabViewRequest, email string) (slack.HomeTabViewRequest, error) {
	if b.cfg.Certify == nil {
		return v, nil
	}
	items, err := b.cfg.Certify.Waiting(ctx, "", email)
	if err != nil {
		return v, err
	}
	v.Blocks.BlockSet = append(v.Blocks.BlockSet, homeCertBlocks(items, email, maxViewBlocks-len(v.Blocks.BlockSet))...)
	return v, nil
}

// openCertKeep opens the reason form once the clicker may answer.
func (b *Bot) openCertKeep(ctx context.Context, trigger, itemID, email string) error {
	it, err := b.cfg.Certify.Item(ctx, itemID)
	if err != nil {
		return err
	}
	if it.Person == email {
		return approvals.Errorf(certify.ESelfReview, "You cannot certify your own access to %s: someone else reviews it.", it.Group)
	}
	if !b.cfg.Certify.IsReviewer(ctx, it, email) {
		return approvals.Errorf(certify.ENotReviewer, "You are not a reviewer of %s's access to %s.", it.Person, it.Group)
	}
	if it.State != certify.ItemPending {
		return approvals.Errorf(approvals.EConflict, "%s's access to %s was already answered.", it.Person, it.Group)
	}
	return b.openView(ctx, trigger, certKeepModal(it))
}

// certSubmission records a Keep with its reason, after the ack.
func (b *Bot) certSubmission(v slack.View, email string, to replyTo) (any, func(context.Context), bool) {
	if b.cfg.Certify == nil || v.CallbackID != cbCertKeep {
		return nil, nil, false
	}
	reason := inputValue(v, blkReason)
	if reason == "" {
		return errorsAck(map[string]string{blkReason: "Say why: the reason is kept as evidence."}), nil, true
	}
	itemID := v.PrivateMetadata
	return nil, func(ctx context.Context) {
		if _, err := b.cfg.Certify.Answer(ctx, itemID, email, policies.CertKeep, reason); err != nil {
			b.say(ctx, to, fmt.Sprintf("Your Keep was not recorded: %s", b.sentence(err, "")))
		}
	}, true
}
