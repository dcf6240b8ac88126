package certify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// Escalation: halfway to answer_within an unanswered item goes to its
// rule's escalate_to as well. Each term names people for that item:
//
//   - owner: the owners of the item's resource;
//   - manager: the manager, in the directory, of the reviewer who was asked
//     and has not answered (a group or IT has none);
//   - group:HANDLE: the members of the Slack user group;
//   - an email: that person.
//
// The member is never named: nobody certifies their own access. A term
// that names nobody for an item is logged and recorded on the item
// (Item.Unescalated), so the campaign's report shows it.

// Reach is an escalated item as one person it reaches sees it: the item,
// and the escalate_to term that names them.
type Reach struct {
	Item *Item
	Term string // owner, manager, group:HANDLE or an email
}

// named is one person an escalate_to term names.
type named struct{ person, term string }

// escalationOf resolves rule's escalate_to for it: each person named, with
// the first term that names them, and why each term naming nobody does. A
// Slack user group that could not be read is in err, neither named nor
// nobody. groups caches the user groups read (nil: none).
func (e *Engine) escalationOf(ctx context.Context, pol *policies.Policy, rule *policies.CertRule, it *Item, groups map[string][]string) (to []named, nobody []string, err error) {
	if rule == nil {
		return nil, nil, nil
	}
	for _, term := range rule.EscalateTo {
		people, why, gerr := e.termPeople(ctx, pol, term, it, groups)
		if gerr != nil {
			err = gerr
			continue
		}
		n := 0
		for _, p := range people {
			p = strings.ToLower(strings.TrimSpace(p))
			if p == "" || p == it.Person {
				continue
			}
			n++
			if !slices.ContainsFunc(to, func(x named) bool { return x.person == p }) {
				to = append(to, named{p, term})
			}
		}
		if n == 0 {
			if why == "" {
				why = "it names only " + it.Person + ", who may not certify their own access"
			}
			nobody = append(nobody, term+": "+why)
		}
	}
	return to, nobody, err
}

// termPeople returns who one escalate_to term names for it, before the
// member is taken out; when it is nobody, why says so.
func (e *Engine) termPeople(ctx context.Context, pol *policies.Policy, term string, it *Item, groups map[string][]string) (people []string, why string, err error) {
	switch {
	case term == policies.ReviewerOwner:
		res, ok := pol.Resource(it.Resource)
		if !ok {
			return nil, it.Resource + " is no longer in the policy", nil
		}
		if len(res.Owners) == 0 {
			return nil, it.Resource + " has no owners in the policy", nil
		}
		return res.Owners, "", nil
	case term == policies.ReviewerManager:
		switch rev := it.Reviewer; {
		case rev == "":
			return nil, "IT reviews it, and has no manager", nil
		case strings.HasPrefix(rev, "group:"):
			return nil, "the reviewer is the Slack user group @" + strings.TrimPrefix(rev, "group:") + ", which has no manager", nil
		default:
			per, ok := pol.Person(rev)
			if !ok || per.Manager == "" {
				return nil, "the reviewer " + rev + " has no manager in the directory", nil
			}
			return []string{per.Manager}, "", nil
		}
	case strings.HasPrefix(term, "group:"):
		handle := strings.TrimPrefix(term, "group:")
		if members, ok := groups[handle]; ok {
			return members, groupNobody(handle, members), nil
		}
		if e.resolver == nil {
			return nil, "", fmt.Errorf("the Slack user group @%s cannot be read here", handle)
		}
		members, err := e.resolver.GroupMembers(ctx, handle)
		if err != nil {
			return nil, "", fmt.Errorf("read the Slack user group @%s: %w", handle, err)
		}
		if groups != nil {
			groups[handle] = members
		}
		return members, groupNobody(handle, members), nil
	default:
		return []string{term}, "", nil
	}
}

func groupNobody(handle string, members []string) string {
	if len(members) == 0 {
		return "the Slack user group @" + handle + " has no members"
	}
	return ""
}

// escalates reports whether rule's escalate_to names who for it.
func (e *Engine) escalates(ctx context.Context, pol *policies.Policy, rule *policies.CertRule, it *Item, who string) bool {
	to, _, err := e.escalationOf(ctx, pol, rule, it, nil)
	if err != nil {
		e.log.Warn("certification: escalation group not resolved", zap.String("item_id", it.ID), zap.Error(err))
	}
	return slices.ContainsFunc(to, func(x named) bool { return x.person == who })
}

// Escalations returns the escalated items among items grouped by each
// person their rule's escalate_to names now, each person's in the order of
// items: the escalation cards. A user group that could not be read is
// returned as the error, with every person the other terms name.
func (e *Engine) Escalations(ctx context.Context, items []*Item) (map[string][]Reach, error) {
	pol := e.Policy()
	groups := map[string][]string{}
	out := map[string][]Reach{}
	var first error
	for _, it := range items {
		if !it.Escalated {
			continue
		}
		rule, _ := pol.CertRule(it.Rule)
		to, _, err := e.escalationOf(ctx, pol, rule, it, groups)
		if err != nil && first == nil {
			first = err
		}
		for _, n := range to {
			out[n.person] = append(out[n.person], Reach{Item: it, Term: n.term})
		}
	}
	return out, first
}

// escalations returns, for each of the due items that escalates at now,
// the escalate_to terms that name nobody and why (Item.Unescalated), and
// logs them once per rule and term. It runs outside any transaction: a
// user group is read from Slack. A group that cannot be read is logged and
// counts as neither: the bot reads it again when it sends the cards.
func (e *Engine) escalations(ctx context.Context, due []*Item, escalating func(*Item) bool) map[string]string {
	pol := e.Policy()
	groups := map[string][]string{}
	out := map[string]string{}
	type key struct{ rule, term string }
	counts := map[key]int{}
	example := map[key]string{}
	for _, it := range due {
		if !escalating(it) {
			continue
		}
		rule, _ := pol.CertRule(it.Rule)
		_, nobody, err := e.escalationOf(ctx, pol, rule, it, groups)
		if err != nil {
			e.log.Warn("certification: an escalation group could not be read; the bot tries again when it sends the cards",
				zap.String("item_id", it.ID), zap.Error(err))
		}
		if len(nobody) == 0 {
			continue
		}
		out[it.ID] = strings.Join(nobody, "; ")
		for _, n := range nobody {
			term, _, _ := strings.Cut(n, ": ")
			k := key{it.Rule, term}
			if counts[k] == 0 {
				example[k] = it.Person + " in " + it.Group + ": " + n
			}
			counts[k]++
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].rule+keys[i].term < keys[j].rule+keys[j].term })
	for _, k := range keys {
		e.log.Warn("certification: an escalate_to term names nobody for some items; they show as unescalated in the campaign's report",
			zap.String("rule", k.rule), zap.String("term", k.term), zap.Int("items", counts[k]), zap.String("example", example[k]))
	}
	return out
}

// escalateTx marks an unanswered item escalated, with the escalate_to
// terms that named nobody, and tells escalate_to.
func (e *Engine) escalateTx(tx Tx, it *Item, unescalated string) error {
	it.Escalated, it.Unescalated = true, unescalated
	if err := tx.UpdateCertItem(it, ItemPending); err != nil {
		return err
	}
	to := ""
	if rule, ok := e.Policy().CertRule(it.Rule); ok {
		to = strings.Join(rule.EscalateTo, " ")
	}
	data := itemData(it)
	data["reviewer"], data["escalate_to"] = it.Reviewer, to
	if unescalated != "" {
		data["unescalated"] = unescalated
	}
	if err := tx.Append(&approvals.Event{Time: e.now(), Actor: approvals.ActorSystem, Action: ActionEscalated,
		Subject: it.Person, Resource: it.Resource, Rule: it.Rule, Data: data}); err != nil {
		return err
	}
	return tx.EnqueueJob(&approvals.Job{Kind: JobEscalation, Lane: approvals.LaneMessage, Ref: it.CampaignID,
		Key: "certify-escalation:" + it.CampaignID, Note: it.ID, Coalesce: true, RunAt: e.now()})
}
