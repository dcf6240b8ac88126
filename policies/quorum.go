package policies

import (
	"fmt"
	"slices"
	"strings"
)

// What can be known before anyone asks: whether a rule's approval steps
// can ever be met. A manager is one person and an email is one person;
// owner is the owners of the resources the rule can apply to; a Slack user
// group's size is known only online (jitbot policy check --online).

// GroupSizer returns how many members a Slack user group has; false when
// it is not known.
type GroupSizer func(handle string) (int, bool)

// pool is an upper bound on the people an approval step (or several) can
// draw from.
type pool struct {
	people map[string]bool // "manager" and emails
	owners bool
	groups map[string]bool
}

func (pl *pool) add(a Approval) {
	if pl.people == nil {
		pl.people, pl.groups = map[string]bool{}, map[string]bool{}
	}
	for _, t := range a.Approvers {
		switch {
		case t == "owner":
			pl.owners = true
		case strings.HasPrefix(t, "group:"):
			pl.groups[strings.TrimPrefix(t, "group:")] = true
		case t == "manager":
			pl.people[t] = true
		default:
			pl.people[normEmail(t)] = true
		}
	}
}

// size returns the bound and how it is made up, or false when there is no
// bound (a group of unknown size).
func (pl *pool) size(maxOwners int, sizes GroupSizer) (int, string, bool) {
	n := len(pl.people)
	var why []string
	if pl.people["manager"] {
		why = append(why, "manager is one person")
	}
	if pl.owners {
		n += maxOwners
		why = append(why, fmt.Sprintf("owner is at most %d", maxOwners))
	}
	for _, g := range sortedSet(pl.groups) {
		if sizes == nil {
			return 0, "", false
		}
		m, ok := sizes(g)
		if !ok {
			return 0, "", false
		}
		n += m
		why = append(why, fmt.Sprintf("group:%s has %d members", g, m))
	}
	return n, strings.Join(why, ", "), true
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// maxOwners is the most owners any resource rule r can apply to has.
func (p *Policy) maxOwners(r *Rule) int {
	most := 0
	for _, res := range p.Resources {
		if len(r.If.Resources) > 0 && !slices.ContainsFunc(r.If.Resources, func(id string) bool { return p.contains(id, res.ID) }) {
			continue
		}
		most = max(most, len(p.owners(res)))
	}
	return most
}

// CheckQuorums reports the approval steps of the policy's rules that can
// never be met: a step whose quorum exceeds the people its approvers can
// be, and, unless the rule allows repeat approvers, steps that together
// need more different people than they name. Groups are sized with sizes
// (nil: groups are assumed large enough). Parse already reports what is
// known offline; with sizes from Slack this adds what only Slack knows.
func (p *Policy) CheckQuorums(sizes GroupSizer) []Problem {
	var out []Problem
	for _, r := range p.Rules {
		out = append(out, p.unmeetable(r, sizes)...)
	}
	return out
}

// unmeetable checks the steps of one rule.
func (p *Policy) unmeetable(r *Rule, sizes GroupSizer) []Problem {
	var out []Problem
	at := func(i int) Problem {
		if i < len(r.stepAt) {
			a := r.stepAt[i]
			return Problem{File: a.file, Line: a.line, Column: a.col}
		}
		return Problem{File: p.Source, Line: r.Line, Column: 1}
	}
	owners := p.maxOwners(r)
	var (
		all    pool
		needed int
		first  = -1 // first step counted in all
	)
	for i, a := range r.Then.Approvals {
		var one pool
		one.add(a)
		n, why, known := one.size(owners, sizes)
		if known && a.Quorum > n {
			pr := at(i)
			onlyEmails := !one.people["manager"] && !one.owners && len(one.groups) == 0
			switch {
			case onlyEmails:
				pr.Message = fmt.Sprintf("quorum %d can never be met: the step lists %d distinct approvers", a.Quorum, n)
			case n == 0:
				pr.Message = fmt.Sprintf("step %d of rule %q can never be met: %s (no resource it applies to has owners)", i+1, r.Name, why)
			default:
				pr.Message = fmt.Sprintf("quorum %d can never be met: the step's approvers are at most %d people (%s)", a.Quorum, n, why)
			}
			out = append(out, pr)
			continue
		}
		if r.Then.AllowRepeatApprover || !known {
			continue
		}
		// Two steps need two people: the steps so far must name at least
		// as many different people as their quorums add up to.
		all.add(a)
		needed += a.Quorum
		if first < 0 {
			first = i
		}
		if total, _, _ := all.size(owners, sizes); needed > total && i > first {
			pr := at(i)
			pr.Message = fmt.Sprintf("steps %d to %d of rule %q need %d different people (an approver of an earlier step may not approve a later one) but name at most %d; set allow_repeat_approver: true if one person may approve several steps",
				first+1, i+1, r.Name, needed, total)
			out = append(out, pr)
			return out
		}
	}
	return out
}
