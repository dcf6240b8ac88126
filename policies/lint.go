package policies

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// What policy check finds in a policy that parses but would hurt: rules
// that auto-approve admin escalations, rules that can never match, a
// resource nobody can get, a step only the requester could approve, a
// max_duration that changes nothing, a review whose schedule never comes.
// Errors refuse the policy as parse problems do; warnings are kept in
// Policy.Findings (and refuse it too under lint: strict).
//
// Who can ask is known: a request comes from a person of the directory,
// for a resource of the catalogue, for a duration up to its maximum. So
// the access checks run every rule over every kind of person (people
// whom no rule tells apart count once), every resource and every duration
// at which some rule's answer changes: what they report holds for every
// request, not for a sample.

// Severity says whether a Finding refuses the policy.
type Severity string

// Severities of a Finding.
const (
	SeverityError   Severity = "error"   // the policy is refused
	SeverityWarning Severity = "warning" // printed; refused only under lint: strict or --strict
)

// Checks: what a Finding is about (Finding.Check).
const (
	CheckAutoAdmin      = "auto-admin"      // a rule auto-approves an admin escalation
	CheckShadowed       = "shadowed"        // an earlier rule matches every request the rule would
	CheckMatchesNothing = "matches-nothing" // the rule matches no request at all
	CheckUngrantable    = "ungrantable"     // no rule grants the resource
	CheckSelfOnly       = "self-only"       // a step's only approver is the requester
	CheckMaxDuration    = "max-duration"    // a rule's max_duration above all it can grant
	CheckReviewShadowed = "review-shadowed" // an earlier review rule covers everyone the rule would
	CheckReviewNobody   = "review-nobody"   // a review rule covers nobody in the directory
	CheckNeverScheduled = "never-scheduled" // a review rule's schedule never comes
)

// Finding is one thing policy check reports about a policy that parses.
type Finding struct {
	Severity     Severity
	Check        string // one of the Check constants
	File         string
	Line, Column int
	Rule         string   // the access or review rule it is about; "" when none
	Resources    []string // the resources it is about, for explain
	Message      string
}

// String formats the finding as "file:line:column: severity: message".
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d:%d: %s: %s", f.File, f.Line, f.Column, f.Severity, f.Message)
}

// FindingsFor returns the findings that touch a request: those about its
// rule, or about its resource or a bundle holding it.
func (p *Policy) FindingsFor(rule, resource string) []Finding {
	var out []Finding
	for _, f := range p.Findings {
		if (f.Rule != "" && f.Rule == rule) || slices.ContainsFunc(f.Resources, func(id string) bool { return p.contains(id, resource) }) {
			out = append(out, f)
		}
	}
	return out
}

// lintLevel reads lint: warn (the default) or strict.
func (ps *parser) lintLevel(n *yaml.Node) {
	v, _ := ps.oneOf(n, "lint", "warn", "strict")
	ps.pol.LintStrict = v == "strict"
}

// keyPos is where the keys of one rule are: the rule itself under "",
// every value under its dotted path ("then.max_duration",
// "if.requester.department").
type keyPos map[string]pos

// keyPositions records where n's keys are, following aliases and merge
// keys without counting them against the alias budget (the parser
// already did).
func (ps *parser) keyPositions(n *yaml.Node) keyPos {
	out := keyPos{}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
			n = n.Alias
		}
		if n == nil || depth > 4 {
			return
		}
		if _, seen := out[path]; !seen {
			out[path] = ps.at(n)
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || isMergeKey(k) {
				continue
			}
			key := k.Value
			if path != "" {
				key = path + "." + key
			}
			walk(n.Content[i+1], key, depth+1)
		}
	}
	walk(n, "", 0)
	return out
}

// get returns the position of the first of paths present, else the
// rule's own.
func (kp keyPos) get(paths ...string) pos {
	for _, p := range paths {
		if at, ok := kp[p]; ok {
			return at
		}
	}
	return kp[""]
}

// lint runs the checks on a policy that parsed. Error findings become
// problems (so the policy is refused); warnings are returned, and become
// problems too under lint: strict.
func (ps *parser) lint() []Finding {
	l := &linter{p: ps.pol, ruleAt: ps.ruleAt, reviewAt: ps.reviewAt, resAt: ps.resAt}
	l.access()
	l.reviews()
	slices.SortStableFunc(l.out, func(a, b Finding) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	var warnings []Finding
	for _, f := range l.out {
		if f.Severity == SeverityError || ps.pol.LintStrict {
			msg := f.Message
			if f.Severity == SeverityWarning {
				msg += " (a warning, refused under lint: strict)"
			}
			ps.add(pos{f.File, f.Line, f.Column}, "%s", msg)
			continue
		}
		warnings = append(warnings, f)
	}
	return warnings
}

type linter struct {
	p        *Policy
	ruleAt   []keyPos
	reviewAt []keyPos
	resAt    map[string]pos
	out      []Finding
}

func (l *linter) add(sev Severity, check string, at pos, rule string, res []string, format string, args ...any) {
	l.out = append(l.out, Finding{Severity: sev, Check: check, File: at.file, Line: at.line, Column: at.col,
		Rule: rule, Resources: res, Message: fmt.Sprintf(format, args...)})
}

// ruleAt returns rule i's key positions (never nil).
func (l *linter) rulePos(i int, paths ...string) pos {
	if i < len(l.ruleAt) {
		return l.ruleAt[i].get(paths...)
	}
	return pos{l.p.Source, l.p.Rules[i].Line, 1}
}

// kinds groups the directory's people by what the rules can tell apart:
// department, employment, email domain, and the email itself when a rule,
// a step or an owner names it.
func (l *linter) kinds() [][]*Person {
	named := map[string]bool{}
	for _, r := range l.p.Rules {
		for _, e := range r.If.Requester.Email {
			named[e] = true
		}
		for _, a := range r.Then.Approvals {
			for _, t := range a.Approvers {
				named[normEmail(t)] = true
			}
		}
	}
	for _, res := range l.p.Resources {
		for _, o := range res.Owners {
			named[o] = true
		}
	}
	// A struct key: a string built per person cost a directory of 100,000
	// people as many allocations.
	type kindKey struct{ department, employment, domain, named string }
	index := map[kindKey]int{}
	var out [][]*Person
	people := keysOf(l.p.People)
	slices.Sort(people)
	for _, email := range people {
		per := l.p.People[email]
		key := kindKey{strings.ToLower(per.Department), per.Employment, domainOf(email), ""}
		if named[email] {
			key.named = email
		}
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], per)
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func domainOf(email string) string { return email[strings.LastIndexByte(email, '@')+1:] }

// durations are the durations at which some rule's answer for res can
// change, up to the longest res can be granted for.
func (l *linter) durations(limit time.Duration) []time.Duration {
	out := []time.Duration{time.Minute, limit}
	for _, r := range l.p.Rules {
		for _, t := range []time.Duration{r.If.DurationAtMost, r.If.DurationLongerThan} {
			if t > 0 {
				out = append(out, t, t+time.Minute)
			}
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(d time.Duration) bool { return d <= 0 || d > limit })
}

// hit is one request a rule is the first to match.
type hit struct {
	kind []*Person
	res  *Resource
	d    time.Duration
}

// access runs the checks on the access rules.
func (l *linter) access() {
	p := l.p
	if len(p.People) == 0 || len(p.Rules) == 0 {
		return
	}
	n := len(p.Rules)
	matchedAny := make([]bool, n)
	first := make([][]hit, n)
	shadow := make([][]int, n) // rules first for requests rule i also matches
	granted := map[string]bool{}
	for _, at := range moments(p) {
		for _, kind := range l.kinds() {
			per := kind[0]
			for _, res := range p.Resources {
				for _, d := range l.durations(p.resourceMax(res)) {
					winner := -1
					for i, r := range p.Rules {
						if !p.matches(&r.If, per, res, d, at) {
							continue
						}
						matchedAny[i] = true
						if winner < 0 {
							winner = i
							first[i] = append(first[i], hit{kind, res, d})
							granted[res.ID] = true
						} else if !slices.Contains(shadow[i], winner) {
							shadow[i] = append(shadow[i], winner)
						}
					}
				}
			}
		}
	}
	for i, r := range p.Rules {
		switch {
		case !matchedAny[i]:
			at, why := l.nothing(i)
			l.add(SeverityWarning, CheckMatchesNothing, at, r.Name, nil, "rule %q matches no request: %s", r.Name, why)
			continue
		case len(first[i]) == 0:
			l.add(SeverityWarning, CheckShadowed, l.rulePos(i), r.Name, nil, "rule %q can never match: %s before it %s every request it would", r.Name, l.ruleNames(shadow[i]), map[bool]string{true: "matches", false: "match"}[len(shadow[i]) == 1])
			continue
		}
		l.autoAdmin(i, first[i])
		l.maxDuration(i, first[i])
		l.selfOnly(i, first[i])
	}
	for _, res := range p.Resources {
		if !granted[res.ID] {
			l.add(SeverityWarning, CheckUngrantable, l.resAt[res.ID], "", []string{res.ID}, "no rule can grant %s: every request for it is refused", res.ID)
		}
	}
}

// ruleNames lists rules by name and line: `rule "a" (line 3)`.
func (l *linter) ruleNames(idx []int) string {
	var parts []string
	for _, i := range idx {
		parts = append(parts, fmt.Sprintf("%q (line %d)", l.p.Rules[i].Name, l.p.Rules[i].Line))
	}
	if len(parts) == 1 {
		return "rule " + parts[0]
	}
	return "rules " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// nothing says why rule i matches no request, and where.
func (l *linter) nothing(i int) (pos, string) {
	r := l.p.Rules[i]
	rq := r.If.Requester
	for _, c := range []struct {
		key, what string
		vals      []string
		of        func(*Person) string
	}{
		{"department", "department", rq.Department, func(p *Person) string { return p.Department }},
		{"employment", "employment", rq.Employment, func(p *Person) string { return p.Employment }},
		{"email", "email", rq.Email, func(p *Person) string { return p.Email }},
		{"email_domain", "email domain", rq.EmailDomain, func(p *Person) string { return domainOf(p.Email) }},
	} {
		if len(c.vals) == 0 {
			continue
		}
		var none []string
		for _, v := range c.vals {
			found := false
			for _, per := range l.p.People {
				if strings.EqualFold(c.of(per), v) {
					found = true
					break
				}
			}
			if !found {
				none = append(none, strconv.Quote(v))
			}
		}
		if len(none) == len(c.vals) {
			return l.rulePos(i, "if.requester."+c.key), fmt.Sprintf("nobody in the directory has the %s %s", c.what, strings.Join(none, " or "))
		}
	}
	return l.rulePos(i, "if"), "no person of the directory and resource of the catalogue meet all its conditions together"
}

// autoAdmin reports the admin escalations rule i auto-approves.
func (l *linter) autoAdmin(i int, hits []hit) {
	r := l.p.Rules[i]
	if !r.Then.AutoApprove || r.Then.AllowAutoAdmin {
		return
	}
	var seen []string
	for _, h := range hits {
		if slices.Contains(seen, h.res.ID) || !l.p.IsAdmin(h.res.ID) {
			continue
		}
		seen = append(seen, h.res.ID)
		for _, o := range hits { // the longest such request, as the example
			if o.res == h.res && o.d > h.d {
				h = o
			}
		}
		what := "an admin escalation"
		if h.res.IsBundle() {
			what = "a bundle holding an admin escalation"
		}
		l.add(SeverityError, CheckAutoAdmin, l.rulePos(i, "then.auto_approve"), r.Name, []string{h.res.ID},
			"rule %q auto-approves %s, %s (%s asking for %s gets it with nobody approving): limit the rule with resource_kind: standard or a resource list, or set allow_auto_admin: true if that is meant",
			r.Name, h.res.ID, what, h.kind[0].Email, FormatDuration(h.d))
	}
}

// maxDuration reports a rule cap above the maximum of everything the rule
// grants: it changes nothing, and reads as if it allowed more.
func (l *linter) maxDuration(i int, hits []hit) {
	r := l.p.Rules[i]
	if r.Then.MaxDuration <= 0 {
		return
	}
	longest := time.Duration(0)
	var ids []string
	for _, h := range hits {
		if !slices.Contains(ids, h.res.ID) {
			ids = append(ids, h.res.ID)
			longest = max(longest, l.p.resourceMax(h.res))
		}
	}
	if r.Then.MaxDuration <= longest {
		return
	}
	l.add(SeverityWarning, CheckMaxDuration, l.rulePos(i, "then.max_duration"), r.Name, nil,
		"max_duration %s of rule %q is longer than anything it grants can be given: the effective maximum is %s (the resources' own max_duration)",
		FormatDuration(r.Then.MaxDuration), r.Name, FormatDuration(longest))
}

// selfOnly reports a step of rule i whose only possible approver is the
// requester, for everyone the rule applies to.
func (l *linter) selfOnly(i int, hits []hit) {
	r := l.p.Rules[i]
	if r.Then.AutoApprove || r.Then.AllowSelfApproval {
		return
	}
	for s, a := range r.Then.Approvals {
		if slices.ContainsFunc(a.Approvers, func(t string) bool { return strings.HasPrefix(t, "group:") }) {
			continue // known only in Slack
		}
		selfOnly, who := true, ""
		for _, h := range hits {
			for _, per := range h.kind {
				approvers := l.p.stepPeople(a, per, h.res)
				if len(approvers) != 1 || approvers[0] != per.Email {
					selfOnly = false
					break
				}
				who = per.Email
			}
			if !selfOnly {
				break
			}
		}
		if selfOnly && who != "" {
			l.add(SeverityWarning, CheckSelfOnly, l.rulePos(i, "then.approvals"), r.Name, nil,
				"step %d of rule %q: its only approver is the requester (%s) for everyone it covers, so no request under it can be approved",
				s+1, r.Name, who)
		}
	}
}

// stepPeople resolves step a's manager, owner and email terms for per
// asking for res.
func (p *Policy) stepPeople(a Approval, per *Person, res *Resource) []string {
	var out []string
	add := func(e string) {
		if e = normEmail(e); e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	for _, t := range a.Approvers {
		switch t {
		case "manager":
			add(per.Manager)
		case "owner":
			for _, o := range p.owners(res) {
				add(o)
			}
		default:
			add(t)
		}
	}
	return out
}
