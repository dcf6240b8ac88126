package evidence

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
)

// Break-glass in the pack: every use in the period with its review after
// the fact (acknowledged, flagged and why, or still waiting, escalated),
// break-glass.csv, and a check on the privileged-access controls that every
// use was reviewed.

// BreakGlassUse is one break-glass grant and its review.
type BreakGlassUse struct {
	Time       time.Time
	RequestID  string
	Person     string
	Filer      string // who filed it, when on behalf of Person
	Resource   string
	Rule       string
	Reason     string
	Duration   string
	Reviewers  string
	UsesIn30d  int
	MaxUses    int
	Review     string // acknowledged | flagged | "" (not reviewed by the end of the chain)
	ReviewedBy string
	ReviewedAt time.Time
	FlagReason string
	Escalated  bool // unanswered for a day, raised to the alert channel
}

// breakGlassEvent takes one break-glass event of the chain: uses in the
// period, and their reviews whenever they came.
func (b *builder) breakGlassEvent(e *approvals.Event, in bool) {
	if e.Action == approvals.ActionBreakGlassUsed {
		if !in {
			return
		}
		if b.breakGlass == nil {
			b.breakGlass = map[string]int{}
		}
		uses, _ := strconv.Atoi(e.Data["uses_in_30d"])
		most, _ := strconv.Atoi(e.Data["max_uses"])
		u := BreakGlassUse{Time: e.Time, RequestID: e.RequestID, Person: e.Subject, Resource: e.Resource, Rule: e.Rule,
			Reason: e.Reason, Duration: e.Data["duration"], Reviewers: e.Data["reviewers"], UsesIn30d: uses, MaxUses: most}
		if !strings.EqualFold(e.Actor, e.Subject) {
			u.Filer = e.Actor
		}
		b.breakGlass[e.RequestID] = len(b.pack.BreakGlass)
		b.pack.BreakGlass = append(b.pack.BreakGlass, u)
		return
	}
	i, ok := b.breakGlass[e.RequestID]
	if !ok {
		return
	}
	u := &b.pack.BreakGlass[i]
	switch e.Action {
	case approvals.ActionBreakGlassAcknowledged, approvals.ActionBreakGlassFlagged:
		if u.Review == "" {
			u.Review, u.ReviewedBy, u.ReviewedAt = strings.TrimPrefix(e.Action, "breakglass."), e.Actor, e.Time
			if e.Action == approvals.ActionBreakGlassFlagged {
				u.FlagReason = e.Reason
			}
		}
	case approvals.ActionBreakGlassEscalated:
		u.Escalated = true
	}
}

func breakGlassRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"time", "request_id", "person", "filed_by", "resource", "rule", "reason", "duration", "reviewers",
		"uses_in_30_days", "max_uses", "review", "reviewed_by", "reviewed_at", "flag_reason", "escalated"}}
	for _, u := range p.BreakGlass {
		rows = append(rows, []string{stamp(u.Time), u.RequestID, u.Person, u.Filer, u.Resource, u.Rule, u.Reason, u.Duration, u.Reviewers,
			strconv.Itoa(u.UsesIn30d), strconv.Itoa(u.MaxUses), u.Review, u.ReviewedBy, stamp(u.ReviewedAt), u.FlagReason, yes(u.Escalated)})
	}
	return rows, nil
}

// withBreakGlass adds the break-glass figures and check to the controls of
// privileged and approved access.
func (p *Pack) withBreakGlass(cs []Control) []Control {
	var acknowledged, flagged int
	reviewed := Check{Name: "Every break-glass use was reviewed after the fact", Pass: true}
	for _, u := range p.BreakGlass {
		switch u.Review {
		case "acknowledged":
			acknowledged++
		case "flagged":
			flagged++
		default:
			reviewed.Pass = false
			if len(reviewed.Items) < maxItems {
				how := "no reviewer has answered by the end of the chain"
				if u.Escalated {
					how += " (escalated after a day)"
				}
				reviewed.Items = append(reviewed.Items, fmt.Sprintf("%s took %s at %s for %s: %s", u.Person, u.Resource, stamp(u.Time), u.Duration, how))
			}
		}
	}
	reviewed.Detail = fmt.Sprintf("%d break-glass uses; %d acknowledged, %d flagged, %d not reviewed", len(p.BreakGlass), acknowledged, flagged,
		len(p.BreakGlass)-acknowledged-flagged)
	if len(p.BreakGlass) == 0 {
		reviewed.Detail = "no break-glass use in the period"
	}
	figures := []Figure{{"break-glass uses", fmt.Sprint(len(p.BreakGlass))}, {"of them flagged by their reviewer", fmt.Sprint(flagged)}}
	for i := range cs {
		switch cs[i].ID {
		case "dora-9-4-c", "iso-a-8-2":
			cs[i].Figures = append(cs[i].Figures, figures...)
			cs[i].Checks = append(cs[i].Checks, reviewed)
			cs[i].Evidence = append(cs[i].Evidence, "break-glass.csv")
		}
	}
	return cs
}
