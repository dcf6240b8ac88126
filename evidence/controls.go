package evidence

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Control is one section of the pack: what a framework asks, the
// population the period offers, and the tests an auditor runs on it.
type Control struct {
	ID       string // a stable anchor: dora-9-4-c, iso-a-5-15, …
	Title    string // the framework's name for it
	Asks     string // what the control asks, in a sentence
	Figures  []Figure
	Checks   []Check
	Evidence []string // the files holding the population
}

// Figure is a number of the population.
type Figure struct {
	Label string
	Value string
}

// Check is a test the auditor runs, with its result.
type Check struct {
	Name   string
	Pass   bool
	Detail string   // the figures behind the result
	Items  []string // what failed it, at most maxItems
}

const maxItems = 20

// Stats are the figures the controls share.
type Stats struct {
	Grants, Privileged, Auto, Standing int
	Removals, Late                     int
	StillActive, RemovalFailed         int
	LagP50, LagP99, LagMax             time.Duration
	// LagBuckets counts removals by lag: <1m, 1-5m, 5-15m, 15-60m, >1h.
	LagBuckets [5]int

	Decisions, Approvals, Declines int
	Ineligible, SelfDecided        []Decision
	ProvisionedBeforeApproval      []Grant

	Answers, Kept, Suspended int
	ByAnswerer               map[string]int
	SelfAnswered             []ReviewAnswer

	CertAnswers, CertKept, CertRemoved int
	CertSelf                           []CertAnswer
}

// LagBucketNames label Stats.LagBuckets.
var LagBucketNames = [5]string{"under 1 min", "1–5 min", "5–15 min", "15–60 min", "over 1 h"}

// Stats computes the figures of the pack.
func (p *Pack) Stats() Stats {
	if p.stats == nil { // a Pack is not changed after Build: its figures are counted once
		s := p.count()
		p.stats = &s
	}
	return *p.stats
}

func (p *Pack) count() Stats {
	s := Stats{ByAnswerer: map[string]int{}}
	var lags []time.Duration
	for i := range p.Grants {
		g := &p.Grants[i]
		s.Grants++
		if g.Privileged {
			s.Privileged++
		}
		if g.Auto {
			s.Auto++
		}
		if g.Kept {
			s.Standing++
		}
		if !g.Provisioned.IsZero() && !g.Auto && (g.Approved.IsZero() || g.Provisioned.Before(g.Approved)) {
			s.ProvisionedBeforeApproval = append(s.ProvisionedBeforeApproval, *g)
		}
		switch lag, ok := g.RemovalLag(); {
		case ok && inPeriod(g.Removed, p.From, p.To):
			s.Removals++
			lags = append(lags, lag)
			if lag > LateAfter {
				s.Late++
			}
			s.LagBuckets[bucketOf(lag)]++
		case g.Removed.IsZero() && g.Failed != "" && !g.Ended.IsZero():
			s.RemovalFailed++
		case g.Ended.IsZero() && !g.Provisioned.IsZero():
			s.StillActive++
		}
	}
	slices.Sort(lags)
	if n := len(lags); n > 0 {
		s.LagP50, s.LagP99, s.LagMax = lags[(n-1)/2], lags[(n*99+99)/100-1], lags[n-1]
	}
	for _, d := range p.Decisions {
		s.Decisions++
		if d.Approved {
			s.Approvals++
		} else {
			s.Declines++
		}
		if !d.Eligible {
			s.Ineligible = append(s.Ineligible, d)
		}
		if d.Self {
			s.SelfDecided = append(s.SelfDecided, d)
		}
	}
	for _, a := range p.Reviews {
		s.Answers++
		switch a.Decision {
		case "keep":
			s.Kept++
		case "suspend":
			s.Suspended++
		}
		s.ByAnswerer[a.By]++
		if a.Self {
			s.SelfAnswered = append(s.SelfAnswered, a)
		}
	}
	p.countCert(&s) // certify.go
	return s
}

func bucketOf(d time.Duration) int {
	switch {
	case d < time.Minute:
		return 0
	case d < 5*time.Minute:
		return 1
	case d < 15*time.Minute:
		return 2
	case d < time.Hour:
		return 3
	}
	return 4
}

// Controls returns the pack's sections, in the order they are shown.
func (p *Pack) Controls() []Control {
	s := p.Stats()
	n := func(v int) string { return fmt.Sprint(v) }
	approvedFirst := Check{Name: "Every membership was approved before it was provisioned (or approved automatically by a rule)",
		Pass: len(s.ProvisionedBeforeApproval) == 0, Detail: fmt.Sprintf("%d grants, %d provisioned without an approval before it", s.Grants, len(s.ProvisionedBeforeApproval))}
	for _, g := range first(s.ProvisionedBeforeApproval) {
		approvedFirst.Items = append(approvedFirst.Items, fmt.Sprintf("%s %s in %s, provisioned %s", short(g.RequestID), g.Person, g.Group, stamp(g.Provisioned)))
	}
	eligible := Check{Name: "Every decision was made by one of the step's approvers, none by the requester",
		Pass: len(s.Ineligible) == 0 && len(s.SelfDecided) == 0,
		Detail: fmt.Sprintf("%d decisions (%d approvals, %d declines); %d by someone who was not an approver, %d by the requester",
			s.Decisions, s.Approvals, s.Declines, len(s.Ineligible), len(s.SelfDecided))}
	for _, d := range first(append(slices.Clone(s.Ineligible), s.SelfDecided...)) {
		eligible.Items = append(eligible.Items, fmt.Sprintf("%s step %d decided by %s at %s (requester %s)", short(d.RequestID), d.Step, d.Approver, stamp(d.Time), d.Requester))
	}
	timely := Check{Name: fmt.Sprintf("Every membership was removed within %s of its grant's end", minutes(LateAfter)),
		Pass: s.Late == 0 && s.RemovalFailed == 0,
		Detail: fmt.Sprintf("%d removals in the period: median %s, p99 %s, longest %s; %d later than %s; %d removals jitbot gave up on",
			s.Removals, minutes(s.LagP50), minutes(s.LagP99), minutes(s.LagMax), s.Late, minutes(LateAfter), s.RemovalFailed)}
	for _, g := range p.Grants {
		if lag, ok := g.RemovalLag(); ok && lag > LateAfter && inPeriod(g.Removed, p.From, p.To) && len(timely.Items) < maxItems {
			timely.Items = append(timely.Items, fmt.Sprintf("%s %s in %s: ended %s, removed %s (%s)", short(g.RequestID), g.Person, g.Group, stamp(g.Ended), stamp(g.Removed), minutes(lag)))
		}
	}
	selfReview := Check{Name: "Nobody answered a review about themselves", Pass: len(s.SelfAnswered) == 0,
		Detail: fmt.Sprintf("%d answers by %d people; %d about themselves", s.Answers, len(s.ByAnswerer), len(s.SelfAnswered))}
	for _, a := range first(s.SelfAnswered) {
		selfReview.Items = append(selfReview.Items, fmt.Sprintf("%s answered %s about themselves at %s", a.By, a.Decision, stamp(a.Time)))
	}
	reviewed := Check{Name: "Access was reviewed in the period", Pass: p.ReviewRuns > 0 || s.Answers > 0,
		Detail: fmt.Sprintf("%d licence review runs started; %d answers (%d keep, %d suspend)", p.ReviewRuns, s.Answers, s.Kept, s.Suspended)}
	policy := Check{Name: "A reviewed policy was in force throughout the period", Pass: len(p.Policies) > 0 && p.Policies[0].InForceAtStart,
		Detail: fmt.Sprintf("%d policy versions: the one in force when the period began, and %d loaded during it", len(p.Policies), max(len(p.Policies)-1, 0))}
	if len(p.Policies) > 0 && !p.Policies[0].InForceAtStart {
		policy.Detail = fmt.Sprintf("no policy was loaded before the period began (jitbot's first start was within it); %d loaded during it", len(p.Policies))
	}
	chain := Check{Name: "The audit chain verifies, and meets every anchor witnessed outside the database", Pass: p.Chain.Verified,
		Detail: fmt.Sprintf("%d events, head %s; %d anchors", p.Chain.Events, p.Chain.Head, len(p.Chain.Anchors))}
	if p.Chain.Problem != "" {
		chain.Items = []string{p.Chain.Problem}
	}
	var privileged []Grant
	for _, g := range p.Grants {
		if g.Privileged {
			privileged = append(privileged, g)
		}
	}
	privApproved := Check{Name: "Every privileged grant had a person's approval", Pass: true}
	for _, g := range privileged {
		if len(g.Approvers) == 0 {
			privApproved.Pass = false
			if len(privApproved.Items) < maxItems {
				privApproved.Items = append(privApproved.Items, fmt.Sprintf("%s %s in %s: %s", short(g.RequestID), g.Person, g.Group, approvalText(g)))
			}
		}
	}
	privApproved.Detail = fmt.Sprintf("%d privileged grants; %d without a person's approval", len(privileged), len(privApproved.Items))
	grantsFigures := []Figure{{"grants live in the period", n(s.Grants)}, {"of them privileged (admin escalations)", n(s.Privileged)},
		{"approved automatically by a rule", n(s.Auto)}, {"still active at the end of the chain", n(s.StillActive)},
		{"kept because the person was a member before", n(s.Standing)}}

	return p.withBreakGlass(p.withCertifications([]Control{
		{ID: "dora-9-4-c", Title: "DORA Article 9(4)(c) — access limited to what is required and approved",
			Asks:    "ICT access is limited to what is required for legitimate and approved functions: granted for a time, approved by the right people, removed when the time is up.",
			Figures: grantsFigures, Checks: []Check{approvedFirst, eligible, timely},
			Evidence: []string{"grants.csv", "decisions.csv", "removals.csv"}},
		{ID: "iso-a-5-15", Title: "ISO/IEC 27001:2022 A.5.15 — access control",
			Asks:    "Rules to control access are established on business and security requirements; jitbot's are the policy file, versioned by its SHA-256.",
			Figures: []Figure{{"policy versions", n(len(p.Policies))}}, Checks: []Check{policy},
			Evidence: []string{"policy-versions.csv"}},
		{ID: "iso-a-5-16", Title: "ISO/IEC 27001:2022 A.5.16 — identity management",
			Asks:    "The full life cycle of identities is managed: inactive accounts are found, suspended on a decision, and restored.",
			Figures: []Figure{{"licence review runs", n(p.ReviewRuns)}, {"accounts suspended, restored or refused", n(len(p.Lifecycle))}},
			Checks:  []Check{reviewed, selfReview}, Evidence: []string{"review-answers.csv", "accounts.csv"}},
		{ID: "iso-a-5-18", Title: "ISO/IEC 27001:2022 A.5.18 — access rights (provisioning, review, removal)",
			Asks:    "Access rights are provisioned, reviewed, modified and removed in line with the policy.",
			Figures: append(slices.Clone(grantsFigures[:2]), Figure{"removals in the period", n(s.Removals)}, Figure{"review answers", n(s.Answers)}),
			Checks:  []Check{approvedFirst, timely, reviewed}, Evidence: []string{"grants.csv", "removals.csv", "review-answers.csv"}},
		{ID: "iso-a-8-2", Title: "ISO/IEC 27001:2022 A.8.2 — privileged access rights",
			Asks:    "The allocation and use of privileged access rights is restricted and managed: each admin escalation approved, time-bound and removed.",
			Figures: []Figure{{"privileged grants", n(len(privileged))}}, Checks: []Check{privApproved, eligible, timely},
			Evidence: []string{"grants.csv"}},
		{ID: "sox-provisioning", Title: "SOX ITGC — access provisioning",
			Asks:    "Access is granted only on an approved request, by someone entitled to approve it.",
			Figures: grantsFigures[:3], Checks: []Check{approvedFirst, eligible}, Evidence: []string{"grants.csv", "decisions.csv"}},
		{ID: "sox-removal", Title: "SOX ITGC — timely removal",
			Asks:    "Access that is no longer needed is removed promptly.",
			Figures: []Figure{{"removals in the period", n(s.Removals)}, {"later than " + minutes(LateAfter), n(s.Late)}, {"median", minutes(s.LagP50)}, {"p99", minutes(s.LagP99)}},
			Checks:  []Check{timely}, Evidence: []string{"removals.csv", "removal-lag.png"}},
		{ID: "sox-review", Title: "SOX ITGC — periodic review",
			Asks:    "Access is reviewed periodically by people who may not review themselves, and the answers are carried out.",
			Figures: []Figure{{"review runs", n(p.ReviewRuns)}, {"answers", n(s.Answers)}, {"keep", n(s.Kept)}, {"suspend", n(s.Suspended)}},
			Checks:  []Check{reviewed, selfReview}, Evidence: []string{"review-answers.csv"}},
		{ID: "chain", Title: "The evidence itself — the audit chain",
			Asks:    "Every record above comes from a hash chain no one can edit unseen; its head is witnessed in Slack.",
			Figures: []Figure{{"events in the chain", fmt.Sprint(p.Chain.Events)}, {"head", p.Chain.Head.String()}, {"anchors", n(len(p.Chain.Anchors))}},
			Checks:  []Check{chain}, Evidence: []string{"chain.txt"}},
	}))
}

// Answerers returns who answered reviews, most answers first.
func (s Stats) Answerers() []Figure {
	who := slices.Collect(maps.Keys(s.ByAnswerer))
	sort.Slice(who, func(i, j int) bool {
		if a, b := s.ByAnswerer[who[i]], s.ByAnswerer[who[j]]; a != b {
			return a > b
		}
		return who[i] < who[j]
	})
	out := make([]Figure, len(who))
	for i, w := range who {
		out[i] = Figure{w, fmt.Sprint(s.ByAnswerer[w])}
	}
	return out
}

func first[T any](s []T) []T { return s[:min(len(s), maxItems)] }

func approvalText(g Grant) string {
	switch {
	case g.Auto:
		return "approved automatically by rule " + g.Rule
	case len(g.Approvers) == 0:
		return "no approval recorded"
	}
	return "approved by " + strings.Join(g.Approvers, ", ")
}

func minutes(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d%time.Minute == 0 && d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
