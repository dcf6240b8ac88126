package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GroupResolver resolves a Slack user group handle (without "@") to the
// emails of its members. The bot implements it with the Slack API.
type GroupResolver interface {
	GroupMembers(ctx context.Context, handle string) ([]string, error)
}

// Query is a request to evaluate.
type Query struct {
	Requester string        // email, compared case-insensitively
	Resource  string        // resource id
	Duration  time.Duration // 0 means not given: duration matchers then see the resource's maximum
	// At is when the request is filed, for rules with a time window; the
	// zero time means now (time.Now). The engine passes its clock's time.
	At time.Time
	// Filer files the request for Requester (on behalf); "" or Requester
	// when they file it themselves.
	Filer string
	// BreakGlass asks for the access at once, without approval.
	BreakGlass bool
}

// RouteStep is one resolved approval step of a Route.
type RouteStep struct {
	Terms []string // approver terms as written: manager, owner, group:it-leads, someone@example.com
	// Approvers are the resolved, distinct, lower-cased emails, without the
	// requester unless the rule allows self-approval.
	Approvers []string
	// Groups are the group handles that could not be resolved because no
	// resolver was given; explain shows them.
	Groups []string
	Quorum int // distinct people needed
	// EscalateAfter, when not zero, is how long the step waits before
	// EscalateTo (resolved emails, not already approvers, without the
	// requester) may approve it too; EscalateTerms are the terms as
	// written, EscalateGroups the groups left unresolved without a
	// resolver.
	EscalateAfter  time.Duration
	EscalateTo     []string
	EscalateTerms  []string
	EscalateGroups []string
}

// Route is what the policy decides for a Query: the rule that applies, the
// approval steps with their approvers, and the bounds of the grant.
type Route struct {
	Rule        string // the name of the matching rule
	RuleLine    int    // where it starts in the policy file
	AutoApprove bool
	Steps       []RouteStep // empty when AutoApprove
	Notify      []string
	// MaxDuration is the longest grant allowed: the smallest of the
	// resource's maximum, that of everything in it when it is a bundle, and
	// the rule's max_duration.
	MaxDuration       time.Duration
	RequireTicket     bool
	RequestTTL        time.Duration // how long the request waits for approvers
	AllowSelfApproval bool
	// AllowRepeatApprover: an approver of an earlier step may approve a
	// later one too (the rule's allow_repeat_approver); false by default.
	AllowRepeatApprover bool
	Admin               bool // the resource is an admin escalation
	// OnBehalf are the rule's terms of who may file for the requester.
	OnBehalf []string
	// Filer is who files the request for the requester; "" when they do.
	Filer string
	// BreakGlass is set for a break-glass query the rule allows.
	BreakGlass *BreakGlassRoute
}

// matched is the outcome of rule matching.
type matched struct {
	person *Person
	res    *Resource
	rule   *Rule
	max    time.Duration
}

// Evaluate decides q: the first rule whose conditions hold applies, and
// its approvers are resolved, Slack user groups through resolver. With a
// nil resolver, groups stay unresolved in RouteStep.Groups and are assumed to
// be able to meet their quorum. It fails with an *Error when the requester
// is not in the directory, the resource is unknown, no rule matches, the
// duration exceeds the effective maximum, or a step cannot reach its
// quorum; and with a plain error when resolver fails.
func (p *Policy) Evaluate(ctx context.Context, q Query, resolver GroupResolver) (*Route, error) {
	m, err := p.match(q)
	if err != nil {
		return nil, err
	}
	if q.Duration > m.max {
		return nil, errorf(CodeTooLong, "%s can be granted for at most %s; you asked for %s",
			m.res.ID, FormatDuration(m.max), FormatDuration(q.Duration))
	}
	act := m.rule.Then
	d := &Route{
		Rule:                m.rule.Name,
		RuleLine:            m.rule.Line,
		AutoApprove:         act.AutoApprove,
		Notify:              slices.Clone(act.Notify),
		MaxDuration:         m.max,
		RequireTicket:       act.RequireTicket,
		RequestTTL:          act.RequestTTL,
		AllowSelfApproval:   act.AllowSelfApproval,
		AllowRepeatApprover: act.AllowRepeatApprover,
		Admin:               p.IsAdmin(m.res.ID),
	}
	if d.RequestTTL <= 0 {
		d.RequestTTL = defaultRequestTTL
	}
	if act.AutoApprove || q.BreakGlass {
		return p.withIncidents(ctx, q, m, d, resolver)
	}
	for i, a := range act.Approvals {
		st, err := p.resolve(ctx, m, a, i, resolver)
		if err != nil {
			return nil, err
		}
		if err := p.resolveEscalation(ctx, m, a, i, resolver, &st); err != nil {
			return nil, err
		}
		d.Steps = append(d.Steps, st)
	}
	return p.withIncidents(ctx, q, m, d, resolver)
}

// MaxFor returns the longest duration requester may ask for resource, as
// Evaluate computes it for a query without a duration. It is meant for
// building duration pickers, so it does not resolve approvers.
func (p *Policy) MaxFor(requester, resource string) (time.Duration, error) {
	m, err := p.match(Query{Requester: requester, Resource: resource})
	if err != nil {
		return 0, err
	}
	return m.max, nil
}

// match finds the rule for q and the effective maximum under it.
func (p *Policy) match(q Query) (matched, error) {
	person, ok := p.Person(q.Requester)
	if !ok {
		return matched{}, errorf(CodeUnknownPerson, "%s is not in the jitbot directory; ask IT to add you", strings.TrimSpace(q.Requester))
	}
	res, ok := p.Resource(q.Resource)
	if !ok {
		return matched{}, errorf(CodeUnknownResource, "there is no resource %q", q.Resource)
	}
	if q.Duration < 0 {
		return matched{}, errorf(CodeInvalidDuration, "the duration must be longer than zero")
	}
	limit := p.resourceMax(res)
	d := q.Duration
	if d == 0 {
		d = limit
	}
	at := q.At
	if at.IsZero() {
		at = time.Now()
	}
	for _, r := range p.Rules {
		if !p.matches(&r.If, person, res, d, at) {
			continue
		}
		if r.Then.MaxDuration > 0 && r.Then.MaxDuration < limit {
			limit = r.Then.MaxDuration
		}
		return matched{person: person, res: res, rule: r, max: limit}, nil
	}
	return matched{}, errorf(CodeNoRule, "no rule of the policy lets %s request %s", person.Email, res.ID)
}

// matches reports whether every condition of m holds.
func (p *Policy) matches(m *Match, person *Person, res *Resource, d time.Duration, at time.Time) bool {
	rq := &m.Requester
	domain := person.Email[strings.LastIndexByte(person.Email, '@')+1:]
	switch {
	case !anyFold(rq.Department, person.Department),
		!anyFold(rq.Employment, person.Employment),
		!anyFold(rq.Email, person.Email),
		!anyFold(rq.EmailDomain, domain):
		return false
	case m.ResourceKind != "" && (m.ResourceKind == KindAdmin) != p.IsAdmin(res.ID):
		return false
	case m.DurationAtMost > 0 && d > m.DurationAtMost,
		m.DurationLongerThan > 0 && d <= m.DurationLongerThan:
		return false
	case m.Time != nil && !m.Time.In(at, p.Review.Loc()):
		return false
	}
	if len(m.Resources) > 0 && !slices.ContainsFunc(m.Resources, func(id string) bool { return p.contains(id, res.ID) }) {
		return false
	}
	return true
}

// anyFold reports whether list is empty or holds v, ignoring case.
func anyFold(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
}

// resolve turns an approval step's terms into people.
func (p *Policy) resolve(ctx context.Context, m matched, a Approval, i int, resolver GroupResolver) (RouteStep, error) {
	st := RouteStep{Terms: slices.Clone(a.Approvers), Quorum: max(a.Quorum, 1)}
	var why []string // why terms yielded nobody, for the error message
	self := false
	add := func(emails ...string) {
		for _, e := range emails {
			e = normEmail(e)
			switch {
			case e == "" || slices.Contains(st.Approvers, e):
			case e == m.person.Email && !m.rule.Then.AllowSelfApproval:
				self = true
			default:
				st.Approvers = append(st.Approvers, e)
			}
		}
	}
	for _, t := range a.Approvers {
		switch {
		case t == "manager":
			if m.person.Manager == "" {
				why = append(why, m.person.Email+" has no manager in the directory")
			}
			add(m.person.Manager)
		case t == "owner":
			owners := p.owners(m.res)
			if len(owners) == 0 {
				why = append(why, m.res.ID+" has no owners in the policy")
			}
			add(owners...)
		case strings.HasPrefix(t, "group:"):
			handle := strings.TrimPrefix(t, "group:")
			if resolver == nil {
				if !slices.Contains(st.Groups, handle) {
					st.Groups = append(st.Groups, handle)
				}
				continue
			}
			members, err := resolver.GroupMembers(ctx, handle)
			if err != nil {
				return RouteStep{}, fmt.Errorf("resolve Slack user group %s: %w", handle, err)
			}
			if len(members) == 0 {
				why = append(why, "the Slack user group @"+handle+" has no members")
			}
			add(members...)
		default:
			add(t)
		}
	}
	if len(st.Groups) > 0 || len(st.Approvers) >= st.Quorum {
		return st, nil
	}
	if self {
		why = append(why, m.person.Email+" cannot approve their own request")
	}
	msg := fmt.Sprintf("no one can approve step %d of rule %q", i+1, m.rule.Name)
	if st.Quorum > 1 {
		msg = fmt.Sprintf("step %d of rule %q needs %d approvers but only %d can approve", i+1, m.rule.Name, st.Quorum, len(st.Approvers))
	}
	if len(why) > 0 {
		msg += ": " + strings.Join(why, "; ")
	}
	return RouteStep{}, errorf(CodeNoApprovers, "%s", msg)
}
