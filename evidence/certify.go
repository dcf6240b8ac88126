package evidence

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
)

// Certifications of standing access in the pack: each answer (or default)
// in the period with what became of it, certifications.csv, and checks on
// the review controls. A period without certification events shows none
// of it (the controls read as before).

// CertAnswer is one standing membership certified: the answer or the
// default, and what the removal found.
type CertAnswer struct {
	Time       time.Time
	CampaignID string
	ItemID     string
	Person     string
	Rule       string
	Provider   string
	Group      string
	Answer     string // keep | remove | convert
	By         string // the reviewer, or "system" for the default
	Reason     string
	Defaulted  bool
	Escalated  bool
	// Unescalated lists the escalate_to terms that named nobody for the
	// item ("manager, group:x"): it was escalated to fewer people than
	// the rule asks.
	Unescalated string
	Self        bool      // the member answered about themselves (must never happen)
	Outcome     string    // removed | gone | covered | failed; "" for a keep, or not yet
	OutcomeAt   time.Time // when it was reached, after the period too
}

// certEvent takes one certification event of the chain.
func (b *builder) certEvent(e *approvals.Event, in bool) {
	switch e.Action {
	case certify.ActionStarted:
		if in {
			b.pack.Campaigns++
		}
	case certify.ActionAnswered, certify.ActionDefaulted:
		if !in {
			return
		}
		if b.certItems == nil {
			b.certItems = map[string]int{}
		}
		b.certItems[e.Data["item_id"]] = len(b.pack.Certifications)
		b.pack.Certifications = append(b.pack.Certifications, CertAnswer{Time: e.Time, CampaignID: e.Data["campaign_id"],
			ItemID: e.Data["item_id"], Person: e.Subject, Rule: e.Rule, Provider: e.Data["provider"], Group: e.Data["group"],
			Answer: e.Data["answer"], By: e.Actor, Reason: e.Reason, Defaulted: e.Action == certify.ActionDefaulted,
			Escalated: e.Data["escalated"] == "true", Unescalated: e.Data["unescalated"], Self: strings.EqualFold(e.Actor, e.Subject)})
	case certify.ActionRemoved, certify.ActionFailed:
		if i, ok := b.certItems[e.Data["item_id"]]; ok {
			c := &b.pack.Certifications[i]
			c.Outcome, c.OutcomeAt = e.Data["outcome"], e.Time
			if e.Action == certify.ActionFailed {
				c.Outcome = "failed"
			}
		}
		if e.Action == certify.ActionFailed && in {
			b.failure(e)
		}
	}
}

// countCert adds the certification figures to s.
func (p *Pack) countCert(s *Stats) {
	for _, c := range p.Certifications {
		s.CertAnswers++
		if c.Answer == "keep" {
			s.CertKept++
		} else {
			s.CertRemoved++
		}
		if c.Self {
			s.CertSelf = append(s.CertSelf, c)
		}
	}
}

func certRows(p *Pack) ([][]string, error) {
	rows := [][]string{{"time", "campaign_id", "item_id", "person", "rule", "provider", "group", "answer", "answered_by", "reason",
		"defaulted", "escalated", "self", "outcome", "outcome_at", "unescalated"}}
	for _, c := range p.Certifications {
		rows = append(rows, []string{stamp(c.Time), c.CampaignID, c.ItemID, c.Person, c.Rule, c.Provider, c.Group, c.Answer, c.By,
			c.Reason, yes(c.Defaulted), yes(c.Escalated), yes(c.Self), c.Outcome, stamp(c.OutcomeAt), c.Unescalated})
	}
	return rows, nil
}

// withCertifications adds the certifications' figures and checks to the
// review controls when the period has any.
func (p *Pack) withCertifications(cs []Control) []Control {
	s := p.Stats()
	if p.Campaigns == 0 && s.CertAnswers == 0 {
		return cs
	}
	certified := Check{Name: "Standing access was certified in the period, and every Remove or Convert was carried out",
		Detail: fmt.Sprintf("%d certification campaigns started; %d memberships certified (%d keep, %d remove or convert)",
			p.Campaigns, s.CertAnswers, s.CertKept, s.CertRemoved), Pass: true}
	for _, c := range p.Certifications {
		if c.Answer != "keep" && (c.Outcome == "" || c.Outcome == "failed") {
			certified.Pass = false
			if len(certified.Items) < maxItems {
				how := "not carried out by the end of the chain"
				if c.Outcome == "failed" {
					how = "the removal failed"
				}
				certified.Items = append(certified.Items, fmt.Sprintf("%s in %s: %s by %s at %s; %s", c.Person, c.Group, c.Answer, c.By, stamp(c.Time), how))
			}
		}
	}
	self := Check{Name: "Nobody certified their own standing access", Pass: len(s.CertSelf) == 0,
		Detail: fmt.Sprintf("%d certifications; %d by the member themself", s.CertAnswers, len(s.CertSelf))}
	for _, c := range first(s.CertSelf) {
		self.Items = append(self.Items, fmt.Sprintf("%s answered %s about their own %s at %s", c.By, c.Answer, c.Group, stamp(c.Time)))
	}
	figures := []Figure{{"certification campaigns", fmt.Sprint(p.Campaigns)}, {"standing memberships certified", fmt.Sprint(s.CertAnswers)},
		{"kept", fmt.Sprint(s.CertKept)}, {"removed or converted to just in time", fmt.Sprint(s.CertRemoved)}}
	for i := range cs {
		switch cs[i].ID {
		case "dora-9-4-c", "iso-a-5-18", "iso-a-8-2", "sox-review":
			cs[i].Figures = append(cs[i].Figures, figures...)
			cs[i].Checks = append(cs[i].Checks, certified, self)
			cs[i].Evidence = append(cs[i].Evidence, "certifications.csv")
		}
	}
	return cs
}
