package policies

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

const incidentsPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Ops, manager: bob@example.com}
    - {email: bob@example.com, department: Ops}
    - {email: dave@example.com, department: IT}
    - {email: frank@example.com, department: IT}
resources:
  - {id: jira-admins, provider: jira, group: jira-admins, kind: admin, max_duration: 4h}
  - {id: wiki, provider: jira, group: wiki}
rules:
  - name: admins
    if: {resource: jira-admins}
    then:
      approvals:
        - approvers: [manager, group:it-leads]
          escalate_after: 30m
          escalate_to: [frank@example.com]
      on_behalf: [manager, group:it-leads]
      break_glass: {max_duration: 1h, notify: ["#security"], review_by: [group:it-leads], max_uses: 3}
  - name: default
    then:
      approvals: [{approvers: [manager]}]
`

var incidentGroups = fakeGroups{"it-leads": {"dave@example.com", "alice@example.com"}}

func evalIncident(t *testing.T, q Query) (*Route, error) {
	t.Helper()
	p, err := Parse("incidents.yaml", []byte(incidentsPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Requester == "" {
		q.Requester = "alice@example.com"
	}
	if q.Duration == 0 {
		q.Duration = time.Hour
	}
	return p.Evaluate(context.Background(), q, incidentGroups)
}

func TestOnBehalf(t *testing.T) {
	// bob (alice's manager) files for alice: neither approves; dave is left.
	r, err := evalIncident(t, Query{Resource: "jira-admins", Filer: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Filer != "bob@example.com" || !slices.Equal(r.Steps[0].Approvers, []string{"dave@example.com"}) {
		t.Errorf("filed by bob: filer %q, approvers %v", r.Filer, r.Steps[0].Approvers)
	}
	// dave (an IT lead) may file too; then only bob approves, and the
	// escalation still reaches frank.
	r, err = evalIncident(t, Query{Resource: "jira-admins", Filer: "Dave@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Steps[0].Approvers, []string{"bob@example.com"}) || !slices.Equal(r.Steps[0].EscalateTo, []string{"frank@example.com"}) {
		t.Errorf("filed by dave: approvers %v, escalate to %v", r.Steps[0].Approvers, r.Steps[0].EscalateTo)
	}
	// frank is neither the manager nor an IT lead.
	_, err = evalIncident(t, Query{Resource: "jira-admins", Filer: "frank@example.com"})
	if ErrorCode(err) != CodeNotOnBehalf || !strings.Contains(err.Error(), "frank@example.com may not file requests for alice@example.com") {
		t.Errorf("filed by frank: %v", err)
	}
	// The default rule lets nobody file for others.
	_, err = evalIncident(t, Query{Resource: "wiki", Filer: "bob@example.com"})
	if ErrorCode(err) != CodeNotOnBehalf {
		t.Errorf("wiki filed by bob: %v", err)
	}
	// Filing for oneself is plain filing.
	r, err = evalIncident(t, Query{Resource: "wiki", Filer: "alice@example.com"})
	if err != nil || r.Filer != "" {
		t.Errorf("alice filing for herself: %+v, %v", r, err)
	}
}

func TestBreakGlass(t *testing.T) {
	r, err := evalIncident(t, Query{Resource: "jira-admins", BreakGlass: true})
	if err != nil {
		t.Fatal(err)
	}
	bg := r.BreakGlass
	// alice is an IT lead herself: she never reviews her own use.
	if bg == nil || !slices.Equal(bg.Reviewers, []string{"dave@example.com"}) || bg.MaxUses != 3 || !slices.Equal(bg.Notify, []string{"#security"}) {
		t.Fatalf("break-glass route: %+v", bg)
	}
	if len(r.Steps) != 0 || r.MaxDuration != time.Hour {
		t.Errorf("steps %v, max %s", r.Steps, r.MaxDuration)
	}
	if _, err := evalIncident(t, Query{Resource: "jira-admins", BreakGlass: true, Duration: 2 * time.Hour}); ErrorCode(err) != CodeTooLong {
		t.Errorf("2h break-glass: %v, want %s", err, CodeTooLong)
	}
	if _, err := evalIncident(t, Query{Resource: "wiki", BreakGlass: true}); ErrorCode(err) != CodeNoBreakGlass {
		t.Errorf("break-glass on wiki: %v, want %s", err, CodeNoBreakGlass)
	}
}

func TestIncidentKeys_Errors(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{`escalate_to: [frank@example.com]`, `escalate_to: [nobody]`, `escalate_to: unknown approver "nobody"`},
		{`          escalate_to: [frank@example.com]
`, ``, `incidents.yaml:17:11: escalate_after needs escalate_to`},
		{`          escalate_after: 30m
`, ``, `incidents.yaml:17:11: escalate_to needs escalate_after`},
		{`escalate_after: 30m`, `escalate_after: 10s`, `escalate_after must be at least 1m`},
		{`on_behalf: [manager, group:it-leads]`, `on_behalf: [boss]`, `on_behalf: unknown approver "boss"`},
		{`review_by: [group:it-leads], `, ``, `break_glass is missing the required key "review_by"`},
		{`max_uses: 3`, `max_uses: 0`, `max_uses must be at least 1`},
		{`max_uses: 3`, `max_use: 3`, `unknown key "max_use" in break_glass`},
	} {
		src := strings.Replace(incidentsPolicy, c.from, c.to, 1)
		if src == incidentsPolicy {
			t.Fatalf("%q is not in the policy", c.from)
		}
		_, err := Parse("incidents.yaml", []byte(src), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s → %s: got %v, want %q", c.from, c.to, err, c.want)
		}
	}
}
