package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/review"
)

// jitbot policy explain --user: which licence review rule covers a person.

// explainReview prints which review rule covers a person, why, and when
// its next run is (policy explain --user).
func (c *cli) explainReview(p *policies.Policy, cfg *Config, email string) int {
	email = strings.ToLower(strings.TrimSpace(email))
	w := c.stdout
	var (
		u      *review.User
		scheds []review.RuleSchedule
	)
	// The database is optional here: without it the next run is computed
	// from now and the person's Atlassian attributes are unknown.
	if db, err := cfg.openDB(c.ctx, true); err == nil {
		db.ViewReview(c.ctx, func(tx review.Tx) error {
			u, _ = tx.UserByEmail(email)
			return nil
		})
		scheds, _ = review.New(review.Config{Store: db, Policy: p}).Schedules(c.ctx)
		db.Close()
	}
	atlDept := ""
	if u != nil {
		atlDept = u.Department
	}
	dept, employment, person := p.ReviewSubject(email, atlDept)
	fmt.Fprintf(w, "person:        %s", email)
	switch {
	case person != nil:
		fmt.Fprintf(w, " (jitbot directory: department %s, employment %s, manager %s)\n", dashed(dept), dashed(employment), dashed(person.Manager))
	case u != nil:
		fmt.Fprintf(w, " (not in jitbot's directory: no manager, reviews go to IT as unassigned; Atlassian department %s)\n", dashed(dept))
	default:
		fmt.Fprintln(w, " (in neither jitbot's directory nor the synced Atlassian directory)")
	}
	if u != nil && !u.IsPerson() {
		fmt.Fprintf(w, "review:        never — %s is an app account (%s)\n", email, u.AccountType)
		return exitOK
	}
	var rule *policies.ReviewRule
	for _, r := range p.Review.Rules {
		if why := r.If.Mismatch(email, dept, employment); why != "" {
			fmt.Fprintf(w, "not rule %-6q %s\n", r.Name+":", why)
			continue
		}
		rule = r
		break
	}
	if rule == nil {
		fmt.Fprintln(w, "review rule:   none covers this person: their licences are not reviewed")
		return exitFailure
	}
	fmt.Fprintf(w, "review rule:   %s (%s line %d): covers %s\n", rule.Name, p.Source, rule.Line, rule.If.Describe())
	products := "every product they have"
	if len(rule.Products) > 0 {
		products = strings.Join(rule.Products, ", ")
	}
	fmt.Fprintf(w, "inactive:      %s in %s\n", policies.FormatDuration(rule.InactiveFor), products)
	action := rule.Action
	switch rule.Action {
	case policies.ReviewPromptManager:
		who := "their manager"
		if person == nil || person.Manager == "" {
			who = "IT (no manager)"
		}
		action += " — " + who + " is asked"
		if rule.AnswerWithin > 0 {
			action += ", answer within " + policies.FormatDuration(rule.AnswerWithin) + " or " + rule.Default
		}
	case policies.ReviewSuspend:
		if rule.WarnBefore > 0 {
			action += " after a warning " + policies.FormatDuration(rule.WarnBefore) + " before"
		}
	}
	if rule.DryRun {
		action += " (dry run: nothing is changed)"
	}
	fmt.Fprintf(w, "action:        %s\n", action)
	if why, ok := rule.Excluded(email, userGroups(u)); ok {
		fmt.Fprintf(w, "excluded:      yes, by %s\n", why)
	}
	next := rule.Next(time.Now())
	for _, sc := range scheds {
		if sc.Rule == rule {
			next = sc.Next
		}
	}
	fmt.Fprintf(w, "next run:      %s (%s)\n", next.In(p.Review.Loc()).Format("2006-01-02 15:04 MST"), rule.Schedule)
	return exitOK
}

func userGroups(u *review.User) []string {
	if u == nil {
		return nil
	}
	return u.Groups
}

// explainUser is policy explain --user.
func (c *cli) explainUser(cfg *Config, from, email string) int {
	p, err := loadPolicy(cfg.Policy, from)
	if err != nil {
		fmt.Fprintln(c.stderr, err)
		return exitFailure
	}
	return c.explainReview(p, cfg, email)
}
