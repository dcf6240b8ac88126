package review

import (
	"fmt"
	"slices"
	"time"

	"github.com/jitbot/jitbot/policies"
)

// Verdict is what a rule's first pass makes of one directory user.
type Verdict string

// Verdicts. Only VerdictItem gives the person an item in the run.
const (
	VerdictApp         Verdict = "app"          // not a person's account
	VerdictClosed      Verdict = "closed"       // deactivated, closed, or gone from Atlassian
	VerdictNotCovered  Verdict = "not_covered"  // another rule (or none) reviews them
	VerdictTooNew      Verdict = "too_new"      // added less than inactive_for ago
	VerdictActive      Verdict = "active"       // active within inactive_for
	VerdictStillKept   Verdict = "still_kept"   // a Keep within keep_for
	VerdictUnderReview Verdict = "under_review" // an open item in another run
	VerdictItem        Verdict = "item"
)

// subject is what the first pass knows of one person besides the user row.
type subject struct {
	rule     *policies.ReviewRule // the rule the run is for
	set      Settings
	policy   *policies.Policy
	asOf     time.Time
	dryRun   bool
	keeps    map[string]*Keep
	restores map[string]time.Time
	open     map[string]bool
}

// Assess decides what rule's run (measuring inactivity at asOf) does with
// user u, for explain and tests. The item, when there is one, has no ids.
func Assess(p *policies.Policy, rule *policies.ReviewRule, u *User, asOf time.Time, keep *Keep, restoredAt time.Time) (Verdict, *Item) {
	s := &subject{rule: rule, set: SettingsOf(rule), policy: p, asOf: asOf, dryRun: rule.DryRun,
		keeps: map[string]*Keep{}, restores: map[string]time.Time{}, open: map[string]bool{}}
	if keep != nil {
		s.keeps[u.Email] = keep
	}
	if !restoredAt.IsZero() {
		s.restores[u.Email] = restoredAt
	}
	return s.assess(u)
}

func (s *subject) assess(u *User) (Verdict, *Item) {
	if !u.IsPerson() {
		return VerdictApp, nil
	}
	if u.Gone || (u.AccountStatus != "" && u.AccountStatus != AccountActive) {
		return VerdictClosed, nil
	}
	dept, employment, person := s.policy.ReviewSubject(u.Email, u.Department)
	if s.policy.Review.RuleFor(u.Email, dept, employment) != s.rule {
		return VerdictNotCovered, nil
	}
	it := &Item{Rule: s.rule.Name, PersonKey: u.AccountID, AccountID: u.AccountID, Email: u.Email, Name: u.Name,
		Department: dept, IdPManaged: u.IdPManaged()}
	if person != nil && person.Manager != "" {
		it.Manager = person.Manager
	} else {
		it.Unassigned = true
	}
	if u.Suspended() {
		s.inactivity(u, it)
		it.State, it.Finding = ItemAlreadySuspended, "suspended before this run"
		return VerdictItem, it
	}
	if !u.AddedToOrg.IsZero() && s.asOf.Sub(u.AddedToOrg) < s.set.InactiveFor {
		return VerdictTooNew, nil
	}
	s.inactivity(u, it)
	if !it.InactiveSince.IsZero() && s.asOf.Sub(it.InactiveSince) < s.set.InactiveFor {
		return VerdictActive, nil
	}
	if k := s.keeps[u.Email]; k != nil && k.Until.After(s.asOf) {
		return VerdictStillKept, nil
	}
	if s.open[u.AccountID] {
		return VerdictUnderReview, nil
	}
	s.act(it)
	if why, ok := s.rule.Excluded(u.Email, u.Groups); ok {
		it.State, it.DecidedBy, it.DecidedAt, it.Reason = ItemExcluded, ActorPolicy, s.asOf, "exclude: "+why
		it.Would, it.AnswerBy, it.SuspendAt = "", time.Time{}, time.Time{}
	}
	return VerdictItem, it
}

// inactivity fills the reviewed products and since when the person has
// been inactive in all of them: their latest activity, or when they were
// added if they never used any, or their restore if later.
func (s *subject) inactivity(u *User, it *Item) {
	keys := s.set.Products
	if len(keys) == 0 {
		for _, p := range u.Products {
			keys = append(keys, p.Key)
		}
		slices.Sort(keys)
	}
	var last time.Time
	for _, k := range keys {
		p, _ := u.Product(k)
		it.Products = append(it.Products, p)
		if p.LastActive.After(last) {
			last = p.LastActive
		}
	}
	it.NeverUsed = last.IsZero()
	since := last
	if since.IsZero() {
		since = u.AddedToOrg
	}
	if r := s.restores[u.Email]; r.After(since) {
		since = r
	}
	it.InactiveSince = since
}

// act sets what the rule's action does with an inactive person.
func (s *subject) act(it *Item) {
	idle := "never active in " + productList(it)
	if !it.NeverUsed {
		idle = fmt.Sprintf("inactive for %d days in %s", it.IdleDays(s.asOf), productList(it))
	}
	if it.InactiveSince.IsZero() {
		idle = "no activity and no date added known"
	}
	var (
		state ItemState
		would string
	)
	switch s.set.Action {
	case policies.ReviewReport:
		state, would = ItemReported, "listed in the report"
	case policies.ReviewPromptManager:
		state = ItemPending
		who := it.Manager
		if it.Unassigned {
			who = "IT (no manager in jitbot's directory)"
		}
		would = "ask " + who + " whether to keep or suspend"
		if s.set.AnswerWithin > 0 {
			it.AnswerBy = s.asOf.Add(s.set.AnswerWithin)
			would += fmt.Sprintf("; without an answer within %s: %s", policies.FormatDuration(s.set.AnswerWithin), s.set.Default)
		}
	case policies.ReviewSuspend:
		if s.set.WarnBefore > 0 {
			state = ItemWarned
			it.SuspendAt = s.asOf.Add(s.set.WarnBefore)
			would = "warn the person and their manager, then suspend at " + it.SuspendAt.Format(time.RFC3339)
		} else {
			state = ItemSuspending
			it.DecidedBy, it.DecidedAt = ActorPolicy, s.asOf
			would = "suspend"
		}
		if state == ItemSuspending {
			it.Reason = "rule " + s.rule.Name + ": action suspend after " + policies.FormatDuration(s.set.InactiveFor) + " of inactivity"
		}
	}
	it.Finding = idle
	if s.dryRun {
		it.State, it.Would, it.AnswerBy, it.SuspendAt = ItemDryRun, would, time.Time{}, time.Time{}
		it.DecidedBy, it.DecidedAt, it.Reason = "", time.Time{}, ""
		return
	}
	it.State = state
}

func productList(it *Item) string {
	if len(it.Products) == 0 {
		return "any product"
	}
	out := ""
	for i, p := range it.Products {
		if i > 0 {
			out += ", "
		}
		out += p.Key
	}
	return out
}
