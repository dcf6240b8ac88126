package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
)

// What `policy explain` says of incidents: the time window the rule
// matched in, each step's escalation, who may file for the requester, and
// whether break-glass is allowed and on what terms.

type incidentOpts struct {
	at         *string
	filer      *string
	breakGlass *bool
}

func incidentFlags(fs *flag.FlagSet) incidentOpts {
	return incidentOpts{
		at:         fs.String("at", "", "when the request is filed, RFC 3339 (e.g. 2026-12-24T07:30:00+01:00), for rules with a time window (default: now)"),
		filer:      fs.String("filer", "", "who files it for the requester (on behalf)"),
		breakGlass: fs.Bool("break-glass", false, "ask for it as break-glass (at once, reviewed after the fact)"),
	}
}

func (o incidentOpts) apply(q *policies.Query) error {
	if *o.at != "" {
		t, err := time.Parse(time.RFC3339, *o.at)
		if err != nil {
			return fmt.Errorf("--at: %q is not a time like 2026-12-24T07:30:00+01:00", *o.at)
		}
		q.At = t
	}
	q.Filer, q.BreakGlass = *o.filer, *o.breakGlass
	return nil
}

func explainEscalation(w io.Writer, st policies.RouteStep) {
	if st.EscalateAfter <= 0 {
		return
	}
	who := append([]string{}, st.EscalateTo...)
	for _, g := range st.EscalateGroups {
		who = append(who, "group:"+g+" (members resolved in Slack)")
	}
	fmt.Fprintf(w, "  escalates:   after %s unanswered, to %s — from %s\n", policies.FormatDuration(st.EscalateAfter),
		orNobody(who), strings.Join(st.EscalateTerms, ", "))
}

func explainIncidents(w io.Writer, p *policies.Policy, dec *policies.Route, q policies.Query) {
	var rule *policies.Rule
	for _, r := range p.Rules {
		if r.Name == dec.Rule {
			rule = r
		}
	}
	if rule == nil {
		return
	}
	if tw := rule.If.Time; tw != nil {
		at := q.At
		if at.IsZero() {
			at = time.Now()
		}
		fmt.Fprintf(w, "time window:   %s (matched at %s)\n", tw.Text, at.Format(time.RFC3339))
	}
	switch {
	case dec.Filer != "":
		fmt.Fprintf(w, "filed by:      %s for %s (allowed by on_behalf: %s, groups as resolved in Slack); neither approves\n", dec.Filer, q.Requester, strings.Join(dec.OnBehalf, ", "))
	case len(dec.OnBehalf) > 0:
		fmt.Fprintf(w, "on behalf:     %s may file it for the requester\n", strings.Join(dec.OnBehalf, ", "))
	default:
		fmt.Fprintln(w, "on behalf:     nobody may file it for someone else")
	}
	bg := rule.Then.BreakGlass
	if bg == nil {
		fmt.Fprintln(w, "break-glass:   not allowed by this rule")
		return
	}
	limit := dec.MaxDuration
	if bg.MaxDuration > 0 && bg.MaxDuration < limit {
		limit = bg.MaxDuration
	}
	fmt.Fprintf(w, "break-glass:   allowed, at once without approval, up to %s, at most %d uses per person in 30 days\n",
		policies.FormatDuration(limit), bg.MaxUses)
	reviewers := strings.Join(bg.ReviewBy, ", ")
	if dec.BreakGlass != nil && len(dec.BreakGlass.Reviewers) > 0 {
		reviewers = strings.Join(dec.BreakGlass.Reviewers, ", ") + " (from " + reviewers + ")"
	}
	fmt.Fprintf(w, "  review:      after the fact by %s; unanswered after a day, it escalates to the alert channel\n", reviewers)
	fmt.Fprintf(w, "  posted to:   %s and the alert channel\n", orNobody(append(append([]string{}, dec.Notify...), bg.Notify...)))
}

func orNobody(list []string) string {
	if len(list) == 0 {
		return "nobody"
	}
	return strings.Join(list, ", ")
}
