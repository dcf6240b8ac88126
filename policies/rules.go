package policies

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The rules: matchers, actions and approval steps.

func (ps *parser) rules(n *yaml.Node) {
	items, ok := ps.seq(n, "rules")
	if !ok {
		return
	}
	names := map[string]int{}
	for i, it := range items {
		r := ps.rule(it, i, names)
		if r != nil {
			ps.pol.Rules = append(ps.pol.Rules, r)
			// What the policy alone says about who can approve: a rule
			// that can never be met is refused here, not at every request.
			for _, pr := range ps.pol.unmeetable(r, nil) {
				ps.add(pos{pr.File, pr.Line, pr.Column}, "%s", pr.Message)
			}
		}
	}
}

func (ps *parser) rule(n *yaml.Node, i int, names map[string]int) *Rule {
	f, ok := ps.fields(n, "a rule", ruleKeys)
	if !ok {
		return nil
	}
	r := &Rule{Name: fmt.Sprintf("rule %d", i+1), Line: ps.at(n).line}
	what := "a rule"
	if e, has := f["name"]; has {
		if s, ok := ps.str(e.val, "name"); ok {
			v := ps.deref(e.val)
			if line, dup := names[s]; dup {
				ps.nodef(v, "rule name %q is already used (first at line %d)", s, line)
			} else {
				names[s] = v.Line
			}
			r.Name = s
			what = fmt.Sprintf("rule %q", s)
		}
	}
	if e, has := f["if"]; has {
		ps.match(e.val, &r.If)
	}
	if e, has := f["then"]; has {
		r.stepAt = ps.action(e.val, &r.Then)
	} else {
		ps.require(n, f, what, "then")
	}
	return r
}

func (ps *parser) match(n *yaml.Node, m *Match) {
	f, ok := ps.fields(n, "if", matchKeys)
	if !ok {
		return
	}
	if e, has := f["requester"]; has {
		ps.requester(e.val, &m.Requester)
	}
	if e, has := f["resource"]; has {
		ids, nodes, _ := ps.strs(e.val, "resource", true)
		ps.nonEmpty(e.val, "resource")
		for i, id := range ids {
			if ps.pol.byID[id] == nil {
				ps.nodef(nodes[i], "unknown resource %q: expected an id defined under resources", id)
				continue
			}
			m.Resources = append(m.Resources, id)
		}
	}
	if e, has := f["resource_kind"]; has {
		m.ResourceKind, _ = ps.oneOf(e.val, "resource_kind", KindAdmin, KindStandard)
	}
	if e, has := f["duration_at_most"]; has {
		m.DurationAtMost, _ = ps.duration(e.val, "duration_at_most")
	}
	if e, has := f["duration_longer_than"]; has {
		m.DurationLongerThan, _ = ps.duration(e.val, "duration_longer_than")
	}
	if e, has := f["time"]; has {
		m.Time = ps.timeWindow(e.val)
	}
	if m.DurationAtMost > 0 && m.DurationLongerThan > 0 && m.DurationAtMost <= m.DurationLongerThan {
		ps.nodef(ps.deref(f["duration_at_most"].val), "duration_at_most %s is not longer than duration_longer_than %s: the rule can never match",
			FormatDuration(m.DurationAtMost), FormatDuration(m.DurationLongerThan))
	}
}

// nonEmpty reports an empty list, which as a matcher would never match.
func (ps *parser) nonEmpty(n *yaml.Node, key string) {
	if v := ps.deref(n); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		ps.nodef(v, "%s must list at least one value", key)
	}
}

func (ps *parser) requester(n *yaml.Node, m *PersonMatch) {
	f, ok := ps.fields(n, "requester", requesterKeys)
	if !ok {
		return
	}
	list := func(key string, check func(string) (string, error)) []string {
		e, has := f[key]
		if !has {
			return nil
		}
		ps.nonEmpty(e.val, key)
		vals, nodes, _ := ps.strs(e.val, key, true)
		var out []string
		for i, v := range vals {
			norm, err := check(v)
			if err != nil {
				ps.nodef(nodes[i], "%s: %v", key, err)
				continue
			}
			out = append(out, norm)
		}
		return out
	}
	m.Department = list("department", func(s string) (string, error) { return s, nil })
	m.Employment = list("employment", func(s string) (string, error) {
		s = strings.ToLower(s)
		if s != EmploymentInternal && s != EmploymentExternal {
			return "", fmt.Errorf("expected internal | external, got %q", s)
		}
		return s, nil
	})
	m.Email = list("email", func(s string) (string, error) {
		if s = normEmail(s); !isEmail(s) {
			return "", fmt.Errorf("%q is not an email address", s)
		}
		return s, nil
	})
	m.EmailDomain = list("email_domain", func(s string) (string, error) {
		d := strings.ToLower(strings.TrimPrefix(s, "@"))
		if !isEmail("x@" + d) {
			return "", fmt.Errorf("%q is not a domain like example.com", s)
		}
		return d, nil
	})
}

// action reads a rule's then; it returns, for each step read, where its
// quorum is written (the step itself when it has none).
func (ps *parser) action(n *yaml.Node, a *Action) (stepAt []pos) {
	a.RequestTTL = defaultRequestTTL
	f, ok := ps.fields(n, "then", actionKeys)
	if !ok {
		return nil
	}
	autoKnown := true
	if e, has := f["auto_approve"]; has {
		a.AutoApprove, autoKnown = ps.boolean(e.val, "auto_approve")
	}
	if e, has := f["approvals"]; has {
		if a.AutoApprove {
			ps.nodef(f["auto_approve"].key, "a rule either auto-approves or lists approvals, not both")
		}
		items, ok := ps.seq(e.val, "approvals")
		if ok && len(items) == 0 {
			ps.nodef(ps.deref(e.val), "approvals must list at least one step")
		}
		for _, it := range items {
			if st, at, ok := ps.step(it); ok {
				a.Approvals = append(a.Approvals, st)
				stepAt = append(stepAt, at)
			}
		}
	} else if !a.AutoApprove && autoKnown {
		ps.nodef(ps.deref(n), "then needs either approvals or auto_approve: true")
	}
	if e, has := f["notify"]; has {
		a.Notify, _, _ = ps.strs(e.val, "notify", false)
	}
	if e, has := f["max_duration"]; has {
		a.MaxDuration, _ = ps.duration(e.val, "max_duration")
	}
	if e, has := f["request_ttl"]; has {
		if d, ok := ps.duration(e.val, "request_ttl"); ok {
			a.RequestTTL = d
		}
	}
	if e, has := f["require_ticket"]; has {
		a.RequireTicket, _ = ps.boolean(e.val, "require_ticket")
	}
	if e, has := f["allow_self_approval"]; has {
		a.AllowSelfApproval, _ = ps.boolean(e.val, "allow_self_approval")
	}
	if e, has := f["allow_repeat_approver"]; has {
		a.AllowRepeatApprover, _ = ps.boolean(e.val, "allow_repeat_approver")
	}
	ps.incidentKeys(f, a) // incidents.go
	return stepAt
}

func (ps *parser) step(n *yaml.Node) (Approval, pos, bool) {
	st := Approval{Quorum: 1}
	at := ps.at(ps.deref(n))
	f, ok := ps.fields(n, "an approval step", stepKeys)
	if !ok || !ps.require(n, f, "an approval step", "approvers") {
		return st, at, false
	}
	ok = true
	terms, nodes, good := ps.strs(f["approvers"].val, "approvers", false)
	ok = ok && good
	if v := ps.deref(f["approvers"].val); v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
		ps.nodef(v, "approvers must list at least one approver: manager, owner, group:HANDLE or an email address")
		ok = false
	}
	for i, t := range terms {
		if err := checkTerm(t); err != nil {
			ps.nodef(nodes[i], "%v", err)
			ok = false
			continue
		}
		st.Approvers = append(st.Approvers, t)
	}
	if e, has := f["quorum"]; has {
		at = ps.at(ps.deref(e.val))
		q, good := ps.integer(e.val, "quorum")
		switch {
		case !good:
			ok = false
		case q < 1:
			ps.nodef(ps.deref(e.val), "quorum must be at least 1, got %d", q)
			ok = false
		default:
			st.Quorum = q
		}
	}
	ok = ps.stepEscalation(n, f, &st) && ok // incidents.go
	return st, at, ok
}

// checkTerm validates an approver term.
func checkTerm(t string) error {
	switch {
	case t == "manager", t == "owner":
		return nil
	case strings.HasPrefix(t, "group:"):
		if !validHandle(strings.TrimPrefix(t, "group:")) {
			return fmt.Errorf("approver %q: expected group: followed by a Slack user group handle, like group:it-leads", t)
		}
		return nil
	case strings.Contains(t, "@"):
		if !isEmail(normEmail(t)) {
			return fmt.Errorf("approver %q is not an email address", t)
		}
		return nil
	}
	return fmt.Errorf("unknown approver %q: expected manager, owner, group:HANDLE or an email address", t)
}

// validHandle reports whether h can be a Slack user group handle.
func validHandle(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isEmail is a deliberately plain check: one @ between a non-empty local
// part and a dotless-or-dotted domain, no spaces or address punctuation.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || at == len(s)-1 {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(",;<>()[]\\\"", c) {
			return false
		}
	}
	domain := s[at+1:]
	return !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.Contains(domain, "..")
}
