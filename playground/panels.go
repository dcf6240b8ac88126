package playground

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
)

// The page's side panels: the local Atlassian, the licence reviews and the audit trail.

func (s *Server) renderAtlassian() string {
	a := s.w.Atlassian
	now := s.w.Clock.Now()
	var b strings.Builder
	b.WriteString(`<h2>Atlassian <span class="muted">(local)</span></h2><h3>Groups</h3><ul class="groups">`)
	for _, g := range a.Groups() {
		b.WriteString(groupItem("data-group", g.Name, a.Members(g.Name), a.Suspended))
	}
	b.WriteString(`</ul><h3>Accounts and last activity</h3><table class="accounts"><thead><tr><th scope="col">person</th><th scope="col">account</th><th scope="col">idle</th></tr></thead><tbody>`)
	for _, u := range a.Users() {
		status := "active"
		if u.Suspended {
			status = "suspended"
		}
		var idle []string
		for _, p := range u.Products {
			d := "never used"
			if !p.LastActive.IsZero() {
				d = ago(now.Sub(p.LastActive))
			}
			idle = append(idle, p.Key+": "+d)
		}
		b.WriteString(`<tr data-email="` + esc(u.Email) + `"><td>` + esc(localPart(u.Email)) + `</td><td class="status-` + status + `">` + status +
			`</td><td>` + esc(strings.Join(idle, " · ")) + `</td></tr>`)
	}
	b.WriteString(`</tbody></table><h3>What the APIs changed</h3><ol class="changes">`)
	type change struct {
		at   time.Time
		text string
	}
	var cs []change
	for _, c := range a.Changes() {
		verb := "added " + localPart(c.Email) + " to "
		if c.Op == "remove" {
			verb = "removed " + localPart(c.Email) + " from "
		}
		api := "Jira REST v3"
		if c.API == "admin" {
			api = "Admin API v2"
		}
		cs = append(cs, change{c.Time, verb + c.Group + " (" + api + ")"})
	}
	for _, c := range a.SuspendCalls() {
		if c.Status >= 300 {
			continue
		}
		who := c.AccountID
		if u, ok := a.UserByID(c.AccountID); ok {
			who = localPart(u.Email)
		}
		cs = append(cs, change{c.Time, c.Op + "ed " + who + " (Admin API v2)"})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].at.After(cs[j].at) })
	if len(cs) == 0 {
		b.WriteString(`<li class="muted">nothing yet</li>`)
	}
	for i, c := range cs {
		if i == 8 {
			break
		}
		b.WriteString(`<li><time>` + esc(c.at.Format("Mon 15:04")) + `</time> ` + esc(c.text) + `</li>`)
	}
	b.WriteString(`</ol>`)
	return b.String()
}

// groupItem is a group and its members (emails) as the panels list them:
// attr is the data attribute that names the group on each member,
// suspended marks the members suspended (nil: none).
func groupItem(attr, name string, members []string, suspended func(email string) bool) string {
	var b strings.Builder
	b.WriteString(`<li><code>` + esc(name) + `</code> `)
	if len(members) == 0 {
		b.WriteString(`<span class="muted">no members</span>`)
	}
	for i, m := range members {
		if i > 0 {
			b.WriteString(", ")
		}
		cls := "member"
		if suspended != nil && suspended(m) {
			cls += " suspended"
		}
		b.WriteString(`<span class="` + cls + `" ` + attr + `="` + esc(name) + `" data-email="` + esc(m) + `">` + esc(localPart(m)) + `</span>`)
	}
	b.WriteString(`</li>`)
	return b.String()
}

// ago says a duration the way the activity table does.
func ago(d time.Duration) string {
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 2*day:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d/day))
}

func (s *Server) renderReview() string {
	p := s.cfg.Policy()
	var b strings.Builder
	b.WriteString(`<h2>Licence reviews</h2>`)
	if len(p.Review.Rules) == 0 {
		b.WriteString(`<p class="muted">The policy has no reviews: rules.</p>`)
		return b.String()
	}
	now := s.w.Clock.Now()
	b.WriteString(`<ul class="reviews">`)
	for _, r := range p.Review.Rules {
		b.WriteString(`<li><b>` + esc(r.Name) + `</b> <span class="muted">· ` + esc(r.Action) + ` after ` + esc(policies.FormatDuration(r.InactiveFor)) +
			` idle · next run ` + esc(r.Next(now).Format("Mon 2 Jan 15:04")) + `</span>`)
		if s.cfg.Reviews != nil {
			b.WriteString(` <button type="button" class="btn small" data-act="review" data-rule="` + esc(r.Name) + `" id="review-` + esc(slug(r.Name)) +
				`">Run the ` + esc(r.Name) + ` review now</button>`)
		}
		s.mu.Lock()
		st := s.reviews[r.Name]
		s.mu.Unlock()
		if st != "" {
			b.WriteString(`<p class="review-status" role="status">` + esc(st) + `</p>`)
		}
		b.WriteString(`</li>`)
	}
	b.WriteString(`</ul>`)
	return b.String()
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

// auditShown is how many of the latest events the panel lists.
const auditShown = 40

func (s *Server) renderAudit(ctx context.Context) string {
	ring, n, err := lastEvents(ctx, s.cfg.Audit, auditShown, nil)
	var b strings.Builder
	b.WriteString(`<h2>Audit trail <span class="muted">(` + strconv.Itoa(n) + ` events)</span></h2>` +
		`<p>Download the export: <a href="/audit/export?format=jsonl" download="jitbot-audit.jsonl">JSON Lines</a> · ` +
		`<a href="/audit/export?format=csv" download="jitbot-audit.csv">CSV</a> <span class="muted">(what <code>jitbot audit export</code> prints)</span> · ` +
		`<a href="/evidence/pack.zip" download id="evidence-pack">the evidence pack</a> <span class="muted">(the last 90 days, as <code>jitbot evidence pack</code> writes it)</span></p>`)
	if err != nil {
		s.log.Warn("audit panel", zap.Error(err))
		b.WriteString(`<p class="error">The audit trail could not be read.</p>`)
		return b.String()
	}
	b.WriteString(`<ol class="audit" reversed>`)
	for i := len(ring) - 1; i >= 0; i-- {
		b.WriteString(auditItem(ring[i]))
	}
	b.WriteString(`</ol>`)
	return b.String()
}

// lastEvents returns the latest n events of the audit trail that keep
// accepts (nil: all), oldest first, and how many events it holds in all.
func lastEvents(ctx context.Context, src audit.Source, n int, keep func(*approvals.Event) bool) ([]approvals.Event, int, error) {
	var ring []approvals.Event
	total := 0
	err := src.Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		total++
		if keep != nil && !keep(e) {
			return nil
		}
		ring = append(ring, *e) // the store may hand the same event over again, refilled
		if len(ring) > n {
			ring = ring[1:]
		}
		return nil
	})
	return ring, total, err
}

// auditItem is one event as the audit panels list it.
func auditItem(e approvals.Event) string {
	var b strings.Builder
	what := e.Subject
	if e.Resource != "" {
		what += " · " + e.Resource
	}
	b.WriteString(`<li data-action="` + esc(e.Action) + `"><time>` + esc(e.Time.Format("Mon 15:04:05")) + `</time> <code>` + esc(e.Action) +
		`</code> <span class="actor">` + esc(e.Actor) + `</span>`)
	if what != "" {
		b.WriteString(` → ` + esc(what))
	}
	if e.Reason != "" {
		b.WriteString(` <q>` + esc(e.Reason) + `</q>`)
	}
	b.WriteString(`</li>`)
	return b.String()
}

// ---- what the page posts ----
