package playground

import (
	"strings"

	"github.com/jitbot/jitbot/policies"
)

// The certifications in the playground: the groups they review are given
// standing members (the IT department and each resource's owners, there
// before jitbot), and the review panel has a button per rule that starts
// a campaign now (the Reviewer's RunNow with "certification:NAME").

// CertificationPrefix marks a RunNow rule name as a certification rule.
const CertificationPrefix = "certification:"

// seedStanding makes the IT department and the owners members of every
// group a certification reviews, so that a campaign has someone to ask about.
func (w *World) seedStanding(p *policies.Policy) {
	for _, r := range p.Certifications {
		for _, t := range p.Targets(r) {
			if t.Provider == policies.ProviderDryRun {
				continue
			}
			for _, per := range w.People {
				if strings.EqualFold(per.Department, "IT") {
					w.Atlassian.SetMember(t.Group, per.Email, true)
				}
			}
			for _, o := range t.Owners {
				w.Atlassian.SetMember(t.Group, o, true)
			}
		}
	}
}

// renderCertifications is the certification rules' part of the review panel.
func (s *Server) renderCertifications() string {
	p := s.cfg.Policy()
	if len(p.Certifications) == 0 {
		return ""
	}
	now := s.w.Clock.Now()
	var b strings.Builder
	b.WriteString(`<h2>Access reviews of standing membership</h2><ul class="reviews">`)
	for _, r := range p.Certifications {
		var groups []string
		for _, t := range p.Targets(r) {
			groups = append(groups, t.Group)
		}
		b.WriteString(`<li><b>` + esc(r.Name) + `</b> <span class="muted">· ` + esc(strings.Join(groups, ", ")) + ` · next campaign ` +
			esc(r.Next(now).Format("Mon 2 Jan 15:04")) + `</span>`)
		key := CertificationPrefix + r.Name
		if s.cfg.Reviews != nil {
			b.WriteString(` <button type="button" class="btn small" data-act="review" data-rule="` + esc(key) + `" id="certification-` +
				esc(slug(r.Name)) + `">Start the ` + esc(r.Name) + ` campaign now</button>`)
		}
		s.mu.Lock()
		st := s.reviews[key]
		s.mu.Unlock()
		if st != "" {
			b.WriteString(`<p class="review-status" role="status">` + esc(st) + `</p>`)
		}
		b.WriteString(`</li>`)
	}
	b.WriteString(`</ul>`)
	return b.String()
}
