package policies

import (
	"context"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The policy keys for incidents: escalation of an approval step that
// nobody answers (escalate_after, escalate_to).

// stepEscalation reads a step's escalate_after and escalate_to.
func (ps *parser) stepEscalation(n *yaml.Node, f map[string]entry, st *Approval) bool {
	ok := true
	after, hasAfter := f["escalate_after"]
	to, hasTo := f["escalate_to"]
	if hasAfter {
		d, good := ps.duration(after.val, "escalate_after")
		switch {
		case !good:
			ok = false
		case d < time.Minute:
			ps.nodef(ps.deref(after.val), "escalate_after must be at least 1m, got %s", strings.TrimSpace(ps.deref(after.val).Value))
			ok = false
		default:
			st.EscalateAfter = d
		}
	}
	if hasTo {
		terms, nodes, good := ps.strs(to.val, "escalate_to", false)
		ok = ok && good
		if v := ps.deref(to.val); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			ps.nodef(v, "escalate_to must list at least one approver: manager, owner, group:HANDLE or an email address")
			ok = false
		}
		for i, t := range terms {
			if err := checkTerm(t); err != nil {
				ps.nodef(nodes[i], "escalate_to: %v", err)
				ok = false
				continue
			}
			st.EscalateTo = append(st.EscalateTo, t)
		}
	}
	switch {
	case hasAfter && !hasTo:
		ps.nodef(after.key, "escalate_after needs escalate_to: who is added when nobody answers")
		ok = false
	case hasTo && !hasAfter:
		ps.nodef(to.key, "escalate_to needs escalate_after: how long the step waits before it escalates")
		ok = false
	}
	return ok
}

// resolveEscalation resolves a step's escalate_to terms to people, as
// resolve does for its approvers; nobody is not an error (the step keeps
// its approvers).
func (p *Policy) resolveEscalation(ctx context.Context, m matched, a Approval, i int, resolver GroupResolver, st *RouteStep) error {
	if a.EscalateAfter <= 0 || len(a.EscalateTo) == 0 {
		return nil
	}
	esc, err := p.resolve(ctx, m, Approval{Approvers: a.EscalateTo, Quorum: 1}, i, resolver)
	if err != nil && ErrorCode(err) != CodeNoApprovers {
		return err
	}
	st.EscalateAfter = a.EscalateAfter
	st.EscalateTerms = esc.Terms
	if st.EscalateTerms == nil {
		st.EscalateTerms = a.EscalateTo
	}
	st.EscalateGroups = esc.Groups
	for _, e := range esc.Approvers {
		if !slices.Contains(st.Approvers, e) {
			st.EscalateTo = append(st.EscalateTo, e)
		}
	}
	return nil
}

// The rule's keys for incidents (under then): on_behalf, who may file a
// request for the requester; break_glass, whether the requester may have
// it at once, without approval, reviewed after the fact.
var breakGlassKeys = []string{"max_duration", "notify", "review_by", "max_uses"}

// DefaultBreakGlassUses is BreakGlass.MaxUses when the policy sets none.
const DefaultBreakGlassUses = 2

// BreakGlassWindow is the period BreakGlass.MaxUses counts over.
const BreakGlassWindow = 30 * 24 * time.Hour

// BreakGlass is a rule's break_glass: the requester may have the access at
// once, without approval; it is posted to Notify and the alert channel and
// reviewed after the fact by ReviewBy.
type BreakGlass struct {
	MaxDuration time.Duration // caps the grant; zero: the rule's maximum
	Notify      []string
	ReviewBy    []string // approver terms
	MaxUses     int      // per person in any BreakGlassWindow
	Line        int
}

// incidentKeys reads a rule's on_behalf and break_glass (from then).
func (ps *parser) incidentKeys(f map[string]entry, a *Action) {
	if e, has := f["on_behalf"]; has {
		terms, nodes, _ := ps.strs(e.val, "on_behalf", false)
		ps.nonEmpty(e.val, "on_behalf")
		for i, t := range terms {
			if err := checkTerm(t); err != nil {
				ps.nodef(nodes[i], "on_behalf: %v", err)
				continue
			}
			a.OnBehalf = append(a.OnBehalf, t)
		}
	}
	if e, has := f["break_glass"]; has {
		a.BreakGlass = ps.breakGlass(e.val)
	}
}

func (ps *parser) breakGlass(n *yaml.Node) *BreakGlass {
	f, ok := ps.fields(n, "break_glass", breakGlassKeys)
	if !ok {
		return nil
	}
	bg := &BreakGlass{MaxUses: DefaultBreakGlassUses, Line: ps.deref(n).Line}
	if e, has := f["max_duration"]; has {
		bg.MaxDuration, _ = ps.duration(e.val, "max_duration")
	}
	if e, has := f["notify"]; has {
		bg.Notify, _, _ = ps.strs(e.val, "notify", true)
	}
	if ps.require(n, f, "break_glass", "review_by") {
		e := f["review_by"]
		ps.nonEmpty(e.val, "review_by")
		terms, nodes, _ := ps.strs(e.val, "review_by", true)
		for i, t := range terms {
			if err := checkTerm(t); err != nil {
				ps.nodef(nodes[i], "review_by: %v", err)
				continue
			}
			bg.ReviewBy = append(bg.ReviewBy, t)
		}
	}
	if e, has := f["max_uses"]; has {
		if v, ok := ps.integer(e.val, "max_uses"); ok {
			if v < 1 {
				ps.nodef(ps.deref(e.val), "max_uses must be at least 1, got %d: leave break_glass out to allow none", v)
			} else {
				bg.MaxUses = v
			}
		}
	}
	return bg
}

// Codes of Error for incidents.
const (
	// CodeNotOnBehalf: the filer may not file requests for the requester.
	CodeNotOnBehalf = "not_on_behalf"
	// CodeNoBreakGlass: the rule that applies does not allow break-glass.
	CodeNoBreakGlass = "no_break_glass"
)

// BreakGlassRoute is what Evaluate decides for a break-glass query.
type BreakGlassRoute struct {
	Reviewers   []string // resolved, without the requester and the filer
	ReviewTerms []string
	Notify      []string
	MaxUses     int
}

// withIncidents returns d with q's filer and break-glass applied.
func (p *Policy) withIncidents(ctx context.Context, q Query, m matched, d *Route, resolver GroupResolver) (*Route, error) {
	if err := p.incidents(ctx, q, m, d, resolver); err != nil {
		return nil, err
	}
	return d, nil
}

// incidents applies q's filer and break-glass to the route d of m.
func (p *Policy) incidents(ctx context.Context, q Query, m matched, d *Route, resolver GroupResolver) error {
	act := m.rule.Then
	d.OnBehalf = slices.Clone(act.OnBehalf)
	filer := normEmail(q.Filer)
	if filer != "" && filer != m.person.Email {
		if err := p.mayFileFor(ctx, m, filer, resolver); err != nil {
			return err
		}
		d.Filer = filer
		d.AllowSelfApproval = false // neither the requester nor the filer approves
		for i := range d.Steps {
			st := &d.Steps[i]
			st.Approvers = slices.DeleteFunc(st.Approvers, func(e string) bool { return e == filer || e == m.person.Email })
			st.EscalateTo = slices.DeleteFunc(st.EscalateTo, func(e string) bool { return e == filer || e == m.person.Email })
			if len(st.Groups) == 0 && len(st.Approvers) < st.Quorum {
				return errorf(CodeNoApprovers, "with %s filing for %s, no one is left to approve step %d of rule %q: neither of them may approve it",
					filer, m.person.Email, i+1, m.rule.Name)
			}
		}
	}
	if !q.BreakGlass {
		return nil
	}
	bg := act.BreakGlass
	if bg == nil {
		return errorf(CodeNoBreakGlass, "rule %q does not allow break-glass for %s: ask for it the usual way", m.rule.Name, m.res.ID)
	}
	limit := d.MaxDuration
	if bg.MaxDuration > 0 && bg.MaxDuration < limit {
		limit = bg.MaxDuration
	}
	if q.Duration > limit {
		return errorf(CodeTooLong, "break-glass gives %s for at most %s; you asked for %s", m.res.ID, FormatDuration(limit), FormatDuration(q.Duration))
	}
	d.MaxDuration = limit
	rev, err := p.resolve(ctx, m, Approval{Approvers: bg.ReviewBy, Quorum: 1}, 0, resolver)
	if err != nil && ErrorCode(err) != CodeNoApprovers {
		return err
	}
	route := &BreakGlassRoute{ReviewTerms: slices.Clone(bg.ReviewBy), Notify: slices.Clone(bg.Notify), MaxUses: bg.MaxUses}
	for _, e := range rev.Approvers {
		if e != filer && e != m.person.Email {
			route.Reviewers = append(route.Reviewers, e)
		}
	}
	if len(route.Reviewers) == 0 && len(rev.Groups) == 0 {
		return errorf(CodeNoApprovers, "no one could review this break-glass use after the fact (review_by of rule %q): ask for it the usual way", m.rule.Name)
	}
	d.BreakGlass = route
	return nil
}

// mayFileFor checks that filer may file requests for m's requester.
func (p *Policy) mayFileFor(ctx context.Context, m matched, filer string, resolver GroupResolver) error {
	terms := m.rule.Then.OnBehalf
	if len(terms) == 0 {
		return errorf(CodeNotOnBehalf, "rule %q lets nobody file requests for %s for someone else", m.rule.Name, m.res.ID)
	}
	// The requester is not dropped here: they are not the filer.
	allowed, err := p.resolve(ctx, m, Approval{Approvers: terms, Quorum: 1}, 0, resolver)
	if err != nil && ErrorCode(err) != CodeNoApprovers {
		return err
	}
	if slices.Contains(allowed.Approvers, filer) || resolver == nil && len(allowed.Groups) > 0 {
		return nil // without a resolver, a group is assumed to hold the filer (explain)
	}
	return errorf(CodeNotOnBehalf, "%s may not file requests for %s: rule %q lets only %s do that",
		filer, m.person.Email, m.rule.Name, strings.Join(terms, ", "))
}
