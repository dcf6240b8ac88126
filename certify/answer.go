package certify

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// Error codes of answers, besides approvals' (not_found, conflict, invalid).
const (
	ENotReviewer = "not_reviewer" // the person may not answer this item
	ESelfReview  = "self_review"  // nobody certifies their own access
)

// Answer records a reviewer's answer on one item: keep (reason required),
// remove or convert. It is a compare-and-set on a pending item: a second
// answer, or one after the default, is refused with approvals.EConflict.
// Remove and Convert queue the removal on the access lane in the same
// transaction. The member may never answer for themself, whatever group
// they are in.
func (e *Engine) Answer(ctx context.Context, itemID, who, answer, reason string) (*Item, error) {
	who = strings.ToLower(strings.TrimSpace(who))
	reason = strings.TrimSpace(reason)
	switch answer {
	case policies.CertKeep:
		if reason == "" {
			return nil, approvals.Errorf(approvals.EInvalid, "a Keep needs a reason: say why this standing access is still needed")
		}
	case policies.CertRemove, policies.CertConvert:
	default:
		return nil, approvals.Errorf(approvals.EInvalid, "unknown answer %q: expected keep, remove or convert", answer)
	}
	it, err := e.item(ctx, itemID)
	if err != nil {
		return nil, err
	}
	if err := e.mayAnswer(ctx, it, who); err != nil {
		return nil, err
	}
	err = e.store.UpdateCert(ctx, func(tx Tx) error {
		cur, err := tx.GetCertItem(it.ID)
		if err != nil {
			return err
		}
		if cur.State != ItemPending {
			return approvals.Errorf(approvals.EConflict, "%s in %s was already answered (%s by %s)", cur.Person, cur.Group, cur.Answer, cur.DecidedBy)
		}
		it = cur
		return e.decideTx(tx, cur, who, answer, reason, false)
	})
	if err != nil {
		return nil, err
	}
	e.poke()
	return it, nil
}

// IsReviewer reports whether who may answer it (the bot shows the buttons
// to them only; Answer checks again).
func (e *Engine) IsReviewer(ctx context.Context, it *Item, who string) bool {
	return e.mayAnswer(ctx, it, strings.ToLower(who)) == nil
}

// mayAnswer refuses the member themself, then admits the item's reviewer
// (a member of its group:HANDLE), any owner of the resource when the rule
// reviews by owner, after escalation the people escalate_to names for it
// (escalate.go: the same people its escalation cards go to), and for an
// item no reviewer term could take, escalate_to's terms and the IT group.
func (e *Engine) mayAnswer(ctx context.Context, it *Item, who string) error {
	if who == "" {
		return approvals.Errorf(ENotReviewer, "who answers is not known")
	}
	if who == it.Person {
		return approvals.Errorf(ESelfReview, "you cannot certify your own access to %s: someone else reviews it", it.Group)
	}
	pol := e.Policy()
	terms := []string{it.Reviewer}
	rule, _ := pol.CertRule(it.Rule)
	if rule != nil {
		if slices.Contains(rule.Reviewers, policies.ReviewerOwner) {
			terms = append(terms, policies.ReviewerOwner)
		}
		if it.Reviewer == "" {
			terms = append(terms, rule.EscalateTo...)
		}
	}
	if it.Reviewer == "" && e.itGroup != "" {
		terms = append(terms, "group:"+e.itGroup) // IT takes what nobody else could
	}
	for _, term := range terms {
		if e.names(ctx, pol, term, it, who) {
			return nil
		}
	}
	if it.Escalated && e.escalates(ctx, pol, rule, it, who) {
		return nil
	}
	return approvals.Errorf(ENotReviewer, "you are not a reviewer of %s's access to %s", it.Person, it.Group)
}

// names reports whether a reviewer term names who for item it.
func (e *Engine) names(ctx context.Context, pol *policies.Policy, term string, it *Item, who string) bool {
	switch {
	case term == "":
		return false
	case term == policies.ReviewerOwner:
		if res, ok := pol.Resource(it.Resource); ok {
			return slices.Contains(res.Owners, who)
		}
		return false
	case term == policies.ReviewerManager:
		per, ok := pol.Person(it.Person)
		return ok && per.Manager == who
	case strings.HasPrefix(term, "group:"):
		if e.resolver == nil {
			return false
		}
		members, err := e.resolver.GroupMembers(ctx, strings.TrimPrefix(term, "group:"))
		if err != nil {
			e.log.Warn("certification: reviewer group not resolved", zap.String("group", term), zap.Error(err))
			return false
		}
		return slices.ContainsFunc(members, func(m string) bool { return strings.EqualFold(m, who) })
	default:
		return term == who
	}
}

// decideTx records an answer (or the default) on a pending item in tx.
func (e *Engine) decideTx(tx Tx, it *Item, who, answer, reason string, defaulted bool) error {
	now := e.now()
	it.Answer, it.Reason, it.DecidedBy, it.DecidedAt, it.Defaulted = answer, reason, who, now, defaulted
	it.State = ItemKept
	if answer != policies.CertKeep {
		it.State = ItemRemoving
	}
	if err := tx.UpdateCertItem(it, ItemPending); err != nil {
		return err
	}
	action := ActionAnswered
	if defaulted {
		action = ActionDefaulted
	}
	data := itemData(it)
	data["answer"], data["reviewer"], data["escalated"] = answer, it.Reviewer, strconv.FormatBool(it.Escalated)
	if it.Unescalated != "" {
		data["unescalated"] = it.Unescalated // the escalate_to terms that named nobody
	}
	if err := tx.Append(&approvals.Event{Time: now, Actor: who, Action: action, Subject: it.Person, Resource: it.Resource,
		Reason: reason, Rule: it.Rule, Data: data}); err != nil {
		return err
	}
	if it.State == ItemRemoving {
		if err := tx.EnqueueJob(&approvals.Job{Kind: JobRemove, Lane: approvals.LaneAccess, Ref: it.ID,
			Key: it.Membership().JobKey(), RunAt: now}); err != nil {
			return err
		}
	}
	if err := e.progressJob(tx, it.CampaignID); err != nil {
		return err
	}
	return e.maybeClose(tx, it.CampaignID)
}

// itemData is the audit data every item event carries.
func itemData(it *Item) map[string]string {
	return map[string]string{"campaign_id": it.CampaignID, "item_id": it.ID, "rule": it.Rule,
		"provider": it.Provider, "group": it.Group}
}

// maybeClose closes an open campaign once every item has its outcome.
func (e *Engine) maybeClose(tx Tx, campaignID string) error {
	c, err := tx.GetCampaign(campaignID)
	if err != nil || c.State != CampaignOpen {
		return err
	}
	items, err := tx.CertItems(ItemFilter{CampaignID: campaignID, States: []ItemState{ItemPending, ItemRemoving}, Limit: 1})
	if err != nil || len(items) > 0 {
		return err
	}
	all, err := tx.CertItems(ItemFilter{CampaignID: campaignID})
	if err != nil {
		return err
	}
	now := e.now()
	c.State, c.ClosedAt = CampaignClosed, now
	if err := tx.UpdateCampaign(c, CampaignOpen); err != nil {
		return err
	}
	data := map[string]string{"campaign_id": c.ID, "rule": c.Rule}
	for s, n := range Counts(all) {
		data[string(s)] = strconv.Itoa(n)
	}
	return tx.Append(&approvals.Event{Time: now, Actor: approvals.ActorSystem, Action: ActionClosed, Rule: c.Rule, Data: data})
}

// Sweep escalates the pending items halfway to their deadline and applies
// the rule's default to those past it. Each is a compare-and-set, so two
// sweeps (two replicas, a restart) never act twice.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	total := 0
	for {
		var due []*Item
		now := e.now()
		if err := e.store.ViewCert(ctx, func(tx Tx) error {
			var err error
			due, err = tx.DueCertItems(now, 200)
			return err
		}); err != nil {
			return total, err
		}
		if len(due) == 0 {
			return total, nil
		}
		unescalated := e.escalations(ctx, due, func(it *Item) bool { return it.AnswerBy.After(now) && !it.Escalated })
		err := e.store.UpdateCert(ctx, func(tx Tx) error {
			for _, d := range due {
				it, err := tx.GetCertItem(d.ID)
				if err != nil {
					return err
				}
				if it.State != ItemPending {
					continue
				}
				if !it.AnswerBy.After(now) {
					rule, _ := e.Policy().CertRule(it.Rule)
					def := policies.CertKeep
					if rule != nil {
						def = rule.Default
					}
					if err := e.decideTx(tx, it, approvals.ActorSystem, def, "no answer within answer_within: the rule's default applies", true); err != nil {
						return err
					}
				} else if !it.Escalated {
					if err := e.escalateTx(tx, it, unescalated[it.ID]); err != nil {
						return err
					}
				}
				total++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		e.poke()
		if len(due) < 200 {
			return total, nil
		}
	}
}

// NextDeadline returns the earliest escalation or default of a pending item.
func (e *Engine) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var (
		at time.Time
		ok bool
	)
	err := e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		at, ok, err = tx.NextCertDeadline()
		return err
	})
	return at, ok, err
}

// Item returns one item by id or prefix.
func (e *Engine) Item(ctx context.Context, id string) (*Item, error) { return e.item(ctx, id) }

func (e *Engine) item(ctx context.Context, id string) (*Item, error) {
	var it *Item
	err := e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		it, err = tx.GetCertItem(id)
		return err
	})
	if notFound(err) {
		return nil, approvals.Errorf(approvals.ENotFound, "no certification item %s", id)
	}
	return it, err
}

// Waiting returns the pending items who may answer, across open campaigns
// (App Home, the bot's cards).
func (e *Engine) Waiting(ctx context.Context, campaignID, who string) ([]*Item, error) {
	var items []*Item
	err := e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		items, err = tx.CertItems(ItemFilter{CampaignID: campaignID, States: []ItemState{ItemPending}})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := items[:0]
	for _, it := range items {
		if e.mayAnswer(ctx, it, strings.ToLower(who)) == nil {
			out = append(out, it)
		}
	}
	return out, nil
}
