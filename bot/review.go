package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/review"
	"go.uber.org/zap"
)

// Reviewer is the licence review engine as the bot uses it
// (*review.Engine): what a manager's prompt, a warning and IT's digest
// show, and the answers people give. Every answer is checked by the engine
// against the stored item.
type Reviewer interface {
	Prompt(ctx context.Context, runID, manager string) ([]*review.Item, error)
	Waiting(ctx context.Context, manager string) ([]*review.Item, error)
	Item(ctx context.Context, id string) (*review.Item, *review.Run, error)
	Run(ctx context.Context, id string) (*review.Run, error)
	Report(ctx context.Context, runID string) (*review.Report, error)
	Suspension(ctx context.Context, itemID string) (*review.Suspension, error)
	Answer(ctx context.Context, in review.AnswerInput) (*review.Item, error)
	AnswerAll(ctx context.Context, runID, manager string, in review.AnswerInput) ([]*review.Item, error)
	RequestKeep(ctx context.Context, itemID, by, reason string) (*review.Item, error)
	Restore(ctx context.Context, email, by string) (*review.RestoreReport, error)
}

var _ Reviewer = (*review.Engine)(nil)

// MessageStore namespaces of the review's messages.
func promptKey(ref string) string { return "review-prompt:" + ref }
func itemKey(id string) string    { return "review-item:" + id }
func digestKey(run string) string { return "review-digest:" + run }
func markerRole(kind, id string) string {
	return kind + ":" + id
}

// Roles of the review's messages.
const (
	roleWarnPerson  = "warn-person"  // the person's warning DM
	roleWarnManager = "warn-manager" // the manager's card of a warned person
	roleDigestPost  = "post"         // the digest in the rule's channel
)

// registerReview registers the bot's deliveries of the review's message
// jobs (review.MessageJobs).
func (b *Bot) registerReview() {
	runs := map[approvals.JobKind]func(context.Context, *approvals.Job) error{
		review.JobPrompt:      b.runPrompt,
		review.JobReminder:    b.runReminder,
		review.JobWarning:     b.runWarning,
		review.JobKeepRequest: b.runKeepRequest,
		review.JobItemUpdate:  b.runItemUpdate,
		review.JobDigest:      b.runDigest,
	}
	b.registerMessageJobs("review", review.MessageJobs, runs)
}

// costs returns the policy's licence_costs.
func (b *Bot) costs() map[string]float64 { return b.svc.Policy().Review.LicenceCosts }

// entries reads what the review's messages show of items: the licences
// at stake and, once suspended, how many memberships were recorded.
func (b *Bot) entries(ctx context.Context, items []*review.Item) []reviewEntry {
	costs := b.costs()
	out := make([]reviewEntry, 0, len(items))
	for _, it := range items {
		e := reviewEntry{Item: it, Cost: it.MonthlyCost(costs), Groups: -1}
		if it.State == review.ItemSuspended {
			if rec, err := b.cfg.Review.Suspension(ctx, it.ID); err == nil {
				e.Groups = len(rec.Groups)
			}
		}
		out = append(out, e)
	}
	return out
}

// asked reports whether a manager (or IT) is asked about the item, or
// was: the items a prompt lists. Those excluded, only reported, suspended
// before the run or missing from Atlassian were never a question.
func asked(it *review.Item) bool {
	switch it.State {
	case review.ItemExcluded, review.ItemReported, review.ItemNotInAtlassian, review.ItemDryRun:
		return false
	case review.ItemAlreadySuspended:
		return it.DecidedBy != "" // found suspended when jitbot came to suspend
	}
	return true
}

// promptView reads a prompt: the run and the people it asks about, in a
// stable order so that each person stays on the same message.
func (b *Bot) promptView(ctx context.Context, runID, manager string) (promptView, error) {
	run, err := b.cfg.Review.Run(ctx, runID)
	if err != nil {
		return promptView{}, err
	}
	items, err := b.cfg.Review.Prompt(ctx, runID, manager)
	if err != nil {
		return promptView{}, err
	}
	items = slices.DeleteFunc(items, func(it *review.Item) bool { return !asked(it) })
	slices.SortStableFunc(items, func(a, c *review.Item) int { return strings.Compare(a.Email, c.Email) })
	return promptView{Run: run, Manager: manager, Entries: b.entries(ctx, items), Priced: len(b.costs()) > 0}, nil
}

// runPrompt performs a review.prompt job: the manager's DM, paged; IT's
// list of the unassigned goes with the run's digest.
func (b *Bot) runPrompt(ctx context.Context, j *approvals.Job) error {
	runID, manager := review.ParsePromptRef(j.Ref)
	if manager == "" {
		return b.syncIT(ctx, runID, true)
	}
	return b.syncPrompt(ctx, runID, manager, true)
}

// syncPrompt posts (with post) and refreshes a manager's prompt.
func (b *Bot) syncPrompt(ctx context.Context, runID, manager string, post bool) error {
	ref := review.PromptRef(runID, manager)
	unlock := b.lockRequest(promptKey(ref))
	defer unlock()
	v, err := b.promptView(ctx, runID, manager)
	if err != nil || len(v.Entries) == 0 {
		return err
	}
	return b.syncPages(ctx, promptKey(ref), promptPages(v, b.cfg.PageSize), post, func() (target, error) {
		return b.dmTarget(ctx, promptKey(ref), manager)
	})
}

// dmTarget finds a person's DM. Someone jitbot cannot find in Slack is
// reported to IT once, and nothing is posted for them.
func (b *Bot) dmTarget(ctx context.Context, key, email string) (target, error) {
	user, err := b.userOf(ctx, email)
	if isLater(err) {
		return target{}, err
	}
	if err != nil {
		refs, rerr := b.msgs.Messages(ctx, key)
		if rerr != nil {
			return target{}, rerr
		}
		if !hasMarker(refs, roleUnreachable, email) {
			b.log.Warn("licence review: person not reachable in Slack", zap.String("person", email), zap.Error(err))
			if err := b.svc.RaiseAlert(ctx, "", fmt.Sprintf("licence review: %s cannot be told in Slack (%s); the review goes on without them", email, slackErrorCode(err))); err != nil {
				return target{}, err
			}
			if err := b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: roleUnreachable, Channel: email}); err != nil {
				return target{}, err
			}
		}
		return target{}, nil
	}
	ch, err := b.dmChannel(ctx, user)
	if err != nil {
		return target{}, err
	}
	return target{user: user, channel: ch}, nil
}

// runReminder performs a review.reminder job: once per job, a reply under
// the prompt's first message while someone still waits for an answer.
func (b *Bot) runReminder(ctx context.Context, j *approvals.Job) error {
	runID, manager := review.ParsePromptRef(j.Ref)
	ref := review.PromptRef(runID, manager)
	key := promptKey(ref)
	if manager == "" {
		key = digestKey(runID)
	}
	unlock := b.lockRequest(key)
	defer unlock()
	v, err := b.promptView(ctx, runID, manager)
	if err != nil || v.open() == 0 {
		return err
	}
	refs, err := b.msgs.Messages(ctx, key)
	if err != nil {
		return err
	}
	marker := markerRole("reminder", fmt.Sprint(j.ID))
	if hasMarker(refs, marker, "") {
		return nil
	}
	m := reminderMsg(v)
	var to target
	first := slices.IndexFunc(refs, func(r MessageRef) bool {
		return r.Role == pageRole(0) || (manager == "" && r.Role == roleDigestPost)
	})
	switch {
	case first >= 0:
		to = target{channel: refs[first].Channel, thread: refs[first].TS}
	case manager == "":
		return nil // no digest was posted: IT has no list to be reminded of
	default:
		if to, err = b.dmTarget(ctx, key, manager); err != nil || to.channel == "" {
			return err
		}
	}
	if _, _, err := b.postTo(ctx, to, m.Text, m.Blocks); err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: marker, Channel: to.channel})
}

// runWarning performs a review.warning job: the person's DM, with "I
// still need it", and their manager's card (IT's list carries the
// unassigned, with the digest).
func (b *Bot) runWarning(ctx context.Context, j *approvals.Job) error {
	return b.syncWarning(ctx, review.JobRef(j), true)
}

// syncWarning posts (with post) and refreshes the warning messages of one
// item.
func (b *Bot) syncWarning(ctx context.Context, itemID string, post bool) error {
	key := itemKey(itemID)
	unlock := b.lockRequest(key)
	defer unlock()
	it, run, err := b.cfg.Review.Item(ctx, itemID)
	if err != nil {
		return err
	}
	if it.SuspendAt.IsZero() {
		return nil // never warned: nothing of it is in a warning
	}
	refs, err := b.msgs.Messages(ctx, key)
	if err != nil {
		return err
	}
	e := b.entries(ctx, []*review.Item{it})[0]
	var errs []error
	sync := func(role, email string, m reviewMsg) {
		if i := slices.IndexFunc(refs, func(r MessageRef) bool { return r.Role == role }); i >= 0 {
			errs = append(errs, b.edit(ctx, refs[i], m.Text, m.Blocks))
			return
		}
		if !post {
			return
		}
		to, err := b.dmTarget(ctx, key, email)
		if err != nil || to.channel == "" {
			errs = append(errs, err)
			return
		}
		ts, err := b.post(ctx, to.channel, m.Text, m.Blocks)
		if err != nil {
			errs = append(errs, err)
			return
		}
		errs = append(errs, b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: role, UserID: to.user, Person: email,
			Channel: to.channel, TS: ts, Hash: contentHash(m.Text, m.Blocks)}))
	}
	sync(roleWarnPerson, it.Email, warningToPerson(e, run))
	if !it.Unassigned {
		sync(roleWarnManager, it.Manager, warningToManager(e, run))
	}
	return soonest(errs...)
}

// runKeepRequest performs a review.keep_request job: the person's "I
// still need it" shows on every message that asks about them, and a reply
// under the manager's card tells the manager (an edit alone notifies
// nobody).
func (b *Bot) runKeepRequest(ctx context.Context, j *approvals.Job) error {
	itemID := review.JobRef(j)
	it, _, err := b.cfg.Review.Item(ctx, itemID)
	if err != nil {
		return err
	}
	errs := []error{b.syncWarning(ctx, itemID, false)}
	if it.Unassigned {
		errs = append(errs, b.syncIT(ctx, it.RunID, false))
	} else {
		errs = append(errs, b.syncPrompt(ctx, it.RunID, it.Manager, false))
	}
	if err := soonest(errs...); err != nil {
		return err
	}
	return b.noteKeepRequest(ctx, it, fmt.Sprint(j.ID))
}

// noteKeepRequest replies, once per job, under the card that asks about it.
func (b *Bot) noteKeepRequest(ctx context.Context, it *review.Item, jobID string) error {
	key := itemKey(it.ID)
	unlock := b.lockRequest(key)
	defer unlock()
	refs, err := b.msgs.Messages(ctx, key)
	if err != nil {
		return err
	}
	marker := markerRole("keep-request", jobID)
	if hasMarker(refs, marker, "") || it.KeepRequest == "" {
		return nil
	}
	card, ok := b.cardOf(ctx, it, refs)
	if !ok {
		return nil // the card is not posted (the manager is not in Slack)
	}
	m := keepRequestNote(it)
	if _, err := b.postThread(ctx, card.Channel, card.TS, m.Text, m.Blocks); err != nil {
		return err
	}
	return b.msgs.PutMessage(ctx, MessageRef{RequestID: key, Role: marker, Channel: card.Channel})
}

// cardOf finds the message that asks the manager (or IT) about an item:
// the warning card, or the prompt's message listing them.
func (b *Bot) cardOf(ctx context.Context, it *review.Item, refs []MessageRef) (MessageRef, bool) {
	if i := slices.IndexFunc(refs, func(r MessageRef) bool { return r.Role == roleWarnManager }); i >= 0 {
		return refs[i], true
	}
	key := promptKey(review.PromptRef(it.RunID, it.Manager))
	if it.Unassigned {
		key = digestKey(it.RunID)
	}
	pages, err := b.msgs.Messages(ctx, key)
	if err != nil {
		return MessageRef{}, false
	}
	v, err := b.promptView(ctx, it.RunID, it.Manager)
	if err != nil {
		return MessageRef{}, false
	}
	i := slices.IndexFunc(v.Entries, func(e reviewEntry) bool { return e.Item.ID == it.ID })
	if i < 0 {
		return MessageRef{}, false
	}
	role := pageRole(i / pageSizeOf(b.cfg.PageSize))
	if it.Unassigned && v.Run.Settings.Digest != "" && len(v.Entries) <= inlineUnassigned {
		role = roleDigestPost
	}
	j := slices.IndexFunc(pages, func(r MessageRef) bool { return r.Role == role })
	if j < 0 {
		return MessageRef{}, false
	}
	return pages[j], true
}

// runItemUpdate performs a review.item job: items of a prompt reached an
// outcome (or are being suspended); every message showing them is edited,
// and the manager's App Home when they opened it.
func (b *Bot) runItemUpdate(ctx context.Context, j *approvals.Job) error {
	runID, manager := review.ParsePromptRef(j.Ref)
	var errs []error
	if manager == "" {
		errs = append(errs, b.syncIT(ctx, runID, false))
	} else {
		errs = append(errs, b.syncPrompt(ctx, runID, manager, false))
		// The digest's figures move with every outcome.
		errs = append(errs, b.refreshDigest(ctx, runID))
	}
	seen := map[string]bool{}
	for _, id := range review.JobItems(j) {
		if !seen[id] {
			seen[id] = true
			errs = append(errs, b.syncWarning(ctx, id, false))
		}
	}
	if manager != "" {
		if hj, err := b.homeJobIfOpen(ctx, manager); err != nil {
			errs = append(errs, err)
		} else if hj != nil {
			errs = append(errs, b.runHome(ctx, hj))
		}
	}
	return soonest(errs...)
}

// itemUpdateJob asks for the messages about items to be edited (after a
// click whose outcome the engine reports later, such as a suspension).
func itemUpdateJob(it *review.Item, ids ...string) *approvals.Job {
	ref := review.PromptRef(it.RunID, it.Manager)
	return &approvals.Job{Kind: review.JobItemUpdate, Lane: approvals.LaneMessage, Ref: ref,
		Key: "review-prompt:" + ref, Note: strings.Join(ids, ","), Coalesce: true}
}
