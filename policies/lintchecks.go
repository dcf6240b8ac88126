package policies

// The checks beyond the access rules (lint.go): review rules, manager
// cycles, and the moments at which time windows are checked.

import (
	"slices"
	"strings"
	"time"
)

// reviews runs the checks on the review rules.
func (l *linter) reviews() {
	rules := l.p.Review.Rules
	for j, r := range rules {
		at := func(paths ...string) pos {
			if j < len(l.reviewAt) {
				return l.reviewAt[j].get(paths...)
			}
			return pos{l.p.Source, r.Line, 1}
		}
		if r.sched != nil && r.sched.Next(lintEpoch).IsZero() {
			l.add(SeverityError, CheckNeverScheduled, at("schedule"), r.Name, nil,
				"schedule %q of review rule %q never comes: no date matches it (like a 30th of February), so the review never runs", r.Schedule, r.Name)
		}
		if i := slices.IndexFunc(rules[:j], func(e *ReviewRule) bool { return subsumes(e.If, r.If) }); i >= 0 {
			l.add(SeverityWarning, CheckReviewShadowed, at(), r.Name, nil,
				"review rule %q never reviews anyone: review rule %q (line %d) before it covers everyone it would", r.Name, rules[i].Name, rules[i].Line)
			continue
		}
		// Only people in the directory have an employment: a rule that
		// asks for one covers no one else.
		if len(r.If.Employment) > 0 && len(l.p.People) > 0 && !slices.ContainsFunc(keysOf(l.p.People), func(email string) bool {
			per := l.p.People[email]
			return r.Covers(email, per.Department, per.Employment)
		}) {
			l.add(SeverityWarning, CheckReviewNobody, at("if"), r.Name, nil,
				"review rule %q covers nobody: no one in the directory is %s", r.Name, r.If.Describe())
		}
	}
}

// lintEpoch is where the schedule check starts looking: the cron library
// looks five years ahead, which holds a 29th of February.
var lintEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// subsumes reports whether every person b covers is covered by a.
func subsumes(a, b PersonMatch) bool {
	within := func(outer, inner []string) bool {
		if len(outer) == 0 {
			return true
		}
		return len(inner) > 0 && !slices.ContainsFunc(inner, func(v string) bool { return !anyFold(outer, v) })
	}
	domains := a.EmailDomain
	if len(domains) > 0 && len(b.EmailDomain) == 0 && len(b.Email) > 0 {
		// b names people: a covers them when their domains are a's.
		inner := make([]string, len(b.Email))
		for i, e := range b.Email {
			inner[i] = domainOf(e)
		}
		if !within(domains, inner) {
			return false
		}
		domains = nil
	}
	return within(a.Department, b.Department) && within(a.Employment, b.Employment) &&
		within(a.Email, b.Email) && within(domains, b.EmailDomain)
}

// managerCycles reports each loop of managers once, where its first
// person in file order names their manager; the people under a loop get
// no follow-on problem.
func (ps *parser) managerCycles() {
	done := make(map[string]bool, len(ps.managers))
	for _, m := range ps.managers {
		if done[m.of] {
			continue
		}
		var path []string
		onPath := map[string]int{}
		for cur := m.of; cur != "" && !done[cur]; {
			if i, loop := onPath[cur]; loop {
				ps.cycle(path[i:])
				break
			}
			onPath[cur] = len(path)
			path = append(path, cur)
			per, ok := ps.pol.People[cur]
			if !ok {
				break
			}
			cur = per.Manager
		}
		for _, e := range path {
			done[e] = true
		}
	}
}

// cycle reports one loop of managers.
func (ps *parser) cycle(loop []string) {
	ps.cycles++
	// Where each person's manager was given, indexed at the first loop
	// only: a directory without loops (nearly every one) never needs it.
	if ps.managerAt == nil {
		ps.managerAt = make(map[string]ref, len(ps.managers))
		for _, m := range ps.managers {
			ps.managerAt[m.of] = m
		}
	}
	at := ps.managerAt
	first := at[loop[0]]
	for _, e := range loop {
		if r := at[e]; r.at.file == first.at.file && r.at.line < first.at.line || r.at.file != first.at.file && r.at.file == ps.name {
			first = r
		}
	}
	if slices.ContainsFunc(loop, func(e string) bool { return at[e].fromFile }) {
		ps.add(first.at, "this manager leads to a loop of %d people, each managed by the next: one of them must have no manager", len(loop))
		return
	}
	start := slices.Index(loop, first.of)
	chain := append(slices.Clone(loop[start:]), loop[:start]...)
	chain = append(chain, chain[0])
	ps.add(first.at, "managers form a loop: %s (each managed by the next); one of them must have no manager", strings.Join(chain, " → "))
}

// moments are the instants the checks ask at, so that a rule with a time
// window is seen both inside and outside it: with no window in the policy,
// one (time does not matter); else, for each window, the start of its
// first day (inside), its end that day and the same hour on a day it
// leaves out (outside), in a week without a daylight saving change.
func moments(p *Policy) []time.Time {
	var out []time.Time
	add := func(t time.Time) {
		if !slices.ContainsFunc(out, t.Equal) {
			out = append(out, t)
		}
	}
	for _, r := range p.Rules {
		w := r.If.Time
		if w == nil {
			continue
		}
		loc := w.loc
		if loc == nil {
			loc = p.Review.Loc()
		}
		if loc == nil {
			loc = time.UTC
		}
		in, out := -1, -1
		for d := range 7 {
			if w.Days[d] && in < 0 {
				in = d
			}
			if !w.Days[d] && out < 0 {
				out = d
			}
		}
		day := func(wd int, mins int) time.Time { // 2026-01-04 is a Sunday
			return time.Date(2026, 1, 4+wd, 0, mins, 0, 0, loc)
		}
		if in >= 0 {
			add(day(in, w.From))
			if w.From != w.To {
				add(day(in, w.To))
			}
		}
		if out >= 0 {
			add(day(out, w.From))
		}
	}
	if len(out) == 0 {
		out = append(out, time.Time{})
	}
	return out
}
