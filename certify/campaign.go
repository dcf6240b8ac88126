package certify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// Triggers of a campaign.
const (
	TriggerSchedule   = "schedule"
	TriggerCLI        = "cli"
	TriggerPlayground = "playground"
)

// EOpen is the code of Start refusing a second campaign of a rule while
// one is open.
const EOpen = "campaign_open"

// Start runs a campaign of rule now: it is created (and the rule's next
// scheduled campaign moved) in one transaction, each group's standing
// members are listed and committed as items group by group, and then, in
// one compare-and-set, the campaign opens and each reviewer's prompt is
// queued. A campaign of the rule left building by a crash is resumed
// instead of starting another: items already listed are not listed again,
// and the prompts are queued once. While a campaign of the rule is open,
// Start starts none (EOpen) and moves the rule's next scheduled campaign.
func (e *Engine) Start(ctx context.Context, rule *policies.CertRule, trigger string) (*Campaign, error) {
	var c, busy *Campaign
	err := e.store.UpdateCert(ctx, func(tx Tx) error {
		open, err := tx.Campaigns(CampaignFilter{Rule: rule.Name, States: []CampaignState{CampaignBuilding}, Limit: 1})
		if err != nil {
			return err
		}
		if len(open) > 0 {
			c = open[0]
			return nil
		}
		now := e.now()
		running, err := tx.Campaigns(CampaignFilter{Rule: rule.Name, States: []CampaignState{CampaignOpen}, Limit: 1})
		if err != nil {
			return err
		}
		if len(running) > 0 {
			// One campaign of a rule at a time: nobody is asked twice about
			// one membership. The scheduled slot passes.
			if err := tx.SetNextCampaign(rule.Name, rule.Schedule, rule.Next(now)); err != nil {
				return err
			}
			busy = running[0]
			return nil
		}
		c = &Campaign{ID: uuid.NewString(), Rule: rule.Name, State: CampaignBuilding, Trigger: trigger,
			StartedAt: now, AnswerBy: now.Add(rule.AnswerWithin)}
		if err := tx.InsertCampaign(c); err != nil {
			return err
		}
		if err := tx.SetNextCampaign(rule.Name, rule.Schedule, rule.Next(now)); err != nil {
			return err
		}
		return tx.Append(&approvals.Event{Time: now, Actor: approvals.ActorSystem, Action: ActionStarted, Rule: rule.Name,
			Data: map[string]string{"campaign_id": c.ID, "rule": rule.Name, "trigger": trigger, "answer_by": c.AnswerBy.Format("2006-01-02T15:04:05Z07:00")}})
	})
	if err != nil {
		return nil, fmt.Errorf("start certification %q: %w", rule.Name, err)
	}
	if busy != nil {
		return busy, approvals.Errorf(EOpen, "campaign %s of %q is still open until %s: answer or wait for it before starting another",
			busy.ID[:min(8, len(busy.ID))], rule.Name, busy.AnswerBy.Format("2006-01-02 15:04Z"))
	}
	return c, e.build(ctx, rule, c)
}

// build lists every group's standing members into c and opens it.
func (e *Engine) build(ctx context.Context, rule *policies.CertRule, c *Campaign) error {
	log := e.log.With(zap.String("campaign_id", c.ID), zap.String("rule", c.Rule))
	var failed []string
	targets := e.Policy().Targets(rule)
	for i, t := range targets {
		n, err := e.listGroup(ctx, rule, c, t)
		if e.progress != nil {
			e.progress(t.Provider+"/"+t.Group, n, i+1, len(targets))
		}
		if err != nil {
			// One provider down must not hold the others' reviewers: the
			// group is named in the campaign's listing event.
			log.Error("certification: a group could not be listed", zap.String("group", t.Group), zap.Error(err))
			failed = append(failed, t.Provider+"/"+t.Group)
			continue
		}
		if e.hooks.AfterGroup != nil {
			if err := e.hooks.AfterGroup(c, t); err != nil {
				return err
			}
		}
	}
	return e.open(ctx, c, failed)
}

// listGroup commits one group's standing members as items of c and says
// how many there are.
func (e *Engine) listGroup(ctx context.Context, rule *policies.CertRule, c *Campaign, t policies.CertTarget) (int, error) {
	rows, err := e.standingOf(ctx, t)
	if err != nil {
		return 0, err
	}
	pol := e.Policy()
	items := make([]*Item, 0, len(rows))
	people := make([]string, 0, len(rows))
	now := e.now()
	for _, r := range rows {
		if !strings.Contains(r.Person, "@") {
			// Atlassian hides this member's email and jitbot never knew it
			// ("accountId:…"): nobody could be asked about, or removed as,
			// a person. The standing report lists it.
			e.log.Warn("certification: a member without a known email is left out", zap.String("group", t.Group), zap.String("member", r.Person))
			continue
		}
		it := &Item{ID: uuid.NewString(), CampaignID: c.ID, Rule: c.Rule, Resource: r.Resource, Provider: r.Provider,
			Group: r.Group, Person: r.Person, State: ItemPending, AnswerBy: c.AnswerBy,
			EscalateAt: c.StartedAt.Add(rule.AnswerWithin / 2), MemberSince: r.MemberSince, LastActive: r.LastActive,
			EverJIT: r.EverJIT, Standing: r.Standing, InDirectory: r.InDirectory}
		if it.MemberSince.IsZero() {
			it.MemberSince = now // first seen now
		}
		it.Reviewer = reviewerFor(pol, rule.Reviewers, t, r.Person)
		if it.Reviewer == "" {
			it.Reviewer = reviewerFor(pol, rule.EscalateTo, t, r.Person)
		}
		items = append(items, it)
		people = append(people, r.Person)
	}
	return len(items), e.store.UpdateCert(ctx, func(tx Tx) error {
		cur, err := tx.GetCampaign(c.ID)
		if err != nil || cur.State != CampaignBuilding {
			return err
		}
		if _, err := tx.InsertCertItems(items); err != nil {
			return err
		}
		return tx.MarkStandingSeen(t.Provider, t.Group, people, now)
	})
}

// reviewerFor returns who reviews person's membership of t: the first
// term naming someone other than the person (an email or group:HANDLE),
// or "" when none does.
func reviewerFor(p *policies.Policy, terms []string, t policies.CertTarget, person string) string {
	for _, term := range terms {
		switch {
		case term == policies.ReviewerOwner:
			for _, o := range t.Owners {
				if o != person {
					return o
				}
			}
		case term == policies.ReviewerManager:
			if per, ok := p.Person(person); ok && per.Manager != "" && per.Manager != person {
				return per.Manager
			}
		case strings.HasPrefix(term, "group:"):
			return term
		case term != person:
			return term
		}
	}
	return ""
}

// open moves c from building to open (closed when it has no item), with
// one prompt job per reviewer and the progress post, once.
func (e *Engine) open(ctx context.Context, c *Campaign, failed []string) error {
	err := e.store.UpdateCert(ctx, func(tx Tx) error {
		cur, err := tx.GetCampaign(c.ID)
		if err != nil {
			return err
		}
		if cur.State != CampaignBuilding {
			*c = *cur
			return nil
		}
		items, err := tx.CertItems(ItemFilter{CampaignID: c.ID})
		if err != nil {
			return err
		}
		var reviewers, groups []string
		for _, it := range items {
			if !slices.Contains(reviewers, it.Reviewer) {
				reviewers = append(reviewers, it.Reviewer)
			}
			if g := it.Provider + "/" + it.Group; !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
		now := e.now()
		cur.State = CampaignOpen
		if len(items) == 0 {
			cur.State, cur.ClosedAt = CampaignClosed, now
		}
		if err := tx.UpdateCampaign(cur, CampaignBuilding); err != nil {
			return err
		}
		data := map[string]string{"campaign_id": c.ID, "items": strconv.Itoa(len(items)), "groups": strings.Join(groups, " ")}
		if len(failed) > 0 {
			data["not_listed"] = strings.Join(failed, " ")
		}
		if err := tx.Append(&approvals.Event{Time: now, Actor: approvals.ActorSystem, Action: ActionListed, Rule: c.Rule, Data: data}); err != nil {
			return err
		}
		slices.Sort(reviewers)
		for _, r := range reviewers {
			if err := tx.EnqueueJob(&approvals.Job{Kind: JobPrompt, Lane: approvals.LaneMessage, Ref: PromptRef(c.ID, r),
				Key: "certify-prompt:" + PromptRef(c.ID, r), RunAt: now}); err != nil {
				return err
			}
		}
		if err := e.progressJob(tx, c.ID); err != nil {
			return err
		}
		*c = *cur
		return nil
	})
	if err == nil {
		e.poke()
	}
	return err
}

// progressJob queues the campaign's progress update (coalesced).
func (e *Engine) progressJob(tx Tx, campaignID string) error {
	return tx.EnqueueJob(&approvals.Job{Kind: JobProgress, Lane: approvals.LaneMessage, Ref: campaignID,
		Key: "certify-progress:" + campaignID, Coalesce: true, RunAt: e.now()})
}

// Resume finishes the campaigns a crash left building.
func (e *Engine) Resume(ctx context.Context) error {
	var building []*Campaign
	if err := e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		building, err = tx.Campaigns(CampaignFilter{States: []CampaignState{CampaignBuilding}})
		return err
	}); err != nil {
		return err
	}
	for _, c := range building {
		rule, ok := e.Policy().CertRule(c.Rule)
		if !ok {
			// The rule left the policy: open what was listed.
			if err := e.open(ctx, c, nil); err != nil {
				return err
			}
			continue
		}
		if err := e.build(ctx, rule, c); err != nil {
			return err
		}
	}
	return nil
}

// Campaign returns a campaign by id or prefix, with its items.
func (e *Engine) Campaign(ctx context.Context, id string) (*Campaign, []*Item, error) {
	var (
		c     *Campaign
		items []*Item
	)
	err := e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		if c, err = tx.GetCampaign(id); err != nil {
			return err
		}
		items, err = tx.CertItems(ItemFilter{CampaignID: c.ID})
		return err
	})
	return c, items, err
}

// Campaigns lists campaigns, newest first.
func (e *Engine) Campaigns(ctx context.Context, f CampaignFilter) ([]*Campaign, error) {
	var out []*Campaign
	err := e.store.ViewCert(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Campaigns(f)
		return err
	})
	return out, err
}

// Counts returns how many items of a campaign are in each state.
func Counts(items []*Item) map[ItemState]int {
	out := map[ItemState]int{}
	for _, it := range items {
		out[it.State]++
	}
	return out
}
