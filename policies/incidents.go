package policies

import (
	"context"
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
		if !containsStr(st.Approvers, e) {
			st.EscalateTo = append(st.EscalateTo, e)
		}
	}
	return nil
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
