package policies

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// lintPeople is a small company: a CEO, IT, engineers, a contractor.
const lintPeople = `directory:
  people:
    - {email: ceo@example.com, department: Management, employment: internal}
    - {email: it-lead@example.com, department: IT, manager: ceo@example.com, employment: internal}
    - {email: dev1@example.com, department: Engineering, manager: it-lead@example.com, employment: internal}
    - {email: dev2@example.com, department: Engineering, manager: it-lead@example.com, employment: internal}
    - {email: ext1@partner.io, department: Engineering, manager: it-lead@example.com, employment: external}
resources:
  - {id: jira-admins, provider: jira, group: jira-admins, kind: admin, max_duration: 4h}
  - {id: confluence-finance, provider: jira, group: confluence-finance, max_duration: 30d, owners: [ceo@example.com]}
  - {id: incident, bundle: [jira-admins, confluence-finance]}
`

// lintOf parses give and returns every finding and problem as printed:
// warnings from Policy.Findings, errors from the LoadError.
func lintOf(t *testing.T, give string) []string {
	t.Helper()
	p, err := Parse("p.yaml", []byte(give), files{}.read)
	var out []string
	var le *LoadError
	switch {
	case err == nil:
		for _, f := range p.Findings {
			out = append(out, f.String())
		}
	case errors.As(err, &le):
		for _, pr := range le.Problems {
			out = append(out, pr.String())
		}
		for _, f := range le.Warnings {
			out = append(out, f.String())
		}
	default:
		t.Fatal(err)
	}
	return out
}

func TestLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		give string
		want []string
	}{
		{
			// The trial's auto-approve rule, moved above admin escalation.
			name: "an auto-approve rule above admin escalation",
			give: lintPeople + `rules:
  - name: short access is automatic
    if: {duration_at_most: 8h}
    then: {auto_approve: true}
  - name: admin escalation
    if: {resource_kind: admin}
    then: {approvals: [{approvers: [manager]}, {approvers: [group:it-leads]}]}
  - name: default
    then: {approvals: [{approvers: [manager]}]}
`,
			want: []string{
				`p.yaml:15:26: rule "short access is automatic" auto-approves incident, a bundle holding an admin escalation (ceo@example.com asking for 4h gets it with nobody approving): limit the rule with resource_kind: standard or a resource list, or set allow_auto_admin: true if that is meant`,
				`p.yaml:15:26: rule "short access is automatic" auto-approves jira-admins, an admin escalation (ceo@example.com asking for 4h gets it with nobody approving): limit the rule with resource_kind: standard or a resource list, or set allow_auto_admin: true if that is meant`,
				`p.yaml:16:5: warning: rule "admin escalation" can never match: rule "short access is automatic" (line 13) before it matches every request it would`,
			},
		},
		{
			name: "auto-approving an admin escalation on purpose",
			give: lintPeople + `rules:
  - name: on-call break glass
    if: {requester: {department: [IT]}, resource: [jira-admins]}
    then: {auto_approve: true, allow_auto_admin: true, notify: ["#it-access-log"]}
  - name: default
    then: {approvals: [{approvers: [manager]}]}
`,
		},
		{
			name: "a rule after a catch-all",
			give: lintPeople + `rules:
  - name: default
    then: {approvals: [{approvers: [manager]}]}
  - name: externals need the owner
    if: {requester: {employment: external}}
    then: {approvals: [{approvers: [manager]}, {approvers: [owner]}]}
`,
			want: []string{`p.yaml:15:5: warning: rule "externals need the owner" can never match: rule "default" (line 13) before it matches every request it would`},
		},
		{
			name: "a rule shadowed by two before it",
			give: lintPeople + `rules:
  - {name: internals, if: {requester: {employment: internal}}, then: {approvals: [{approvers: [manager]}]}}
  - {name: externals, if: {requester: {employment: external}}, then: {approvals: [{approvers: [manager]}, {approvers: [owner]}]}}
  - {name: finance, if: {resource: [confluence-finance]}, then: {approvals: [{approvers: [owner]}]}}
`,
			want: []string{`p.yaml:15:5: warning: rule "finance" can never match: rules "internals" (line 13) and "externals" (line 14) before it match every request it would`},
		},
		{
			name: "an empty department",
			give: lintPeople + `rules:
  - {name: finance, if: {requester: {department: [Finance]}}, then: {approvals: [{approvers: [owner]}]}}
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
`,
			want: []string{`p.yaml:13:50: warning: rule "finance" matches no request: nobody in the directory has the department "Finance"`},
		},
		{
			name: "an email domain nobody has",
			give: lintPeople + `rules:
  - {name: contractors, if: {requester: {email_domain: [contractors.example.com]}}, then: {approvals: [{approvers: [manager]}]}}
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
`,
			want: []string{`p.yaml:13:56: warning: rule "contractors" matches no request: nobody in the directory has the email domain "contractors.example.com"`},
		},
		{
			name: "conditions nobody meets together",
			give: lintPeople + `rules:
  - {name: external IT, if: {requester: {department: [IT], employment: external}}, then: {approvals: [{approvers: [manager]}]}}
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
`,
			want: []string{`p.yaml:13:29: warning: rule "external IT" matches no request: no person of the directory and resource of the catalogue meet all its conditions together`},
		},
		{
			name: "a resource no rule grants",
			give: lintPeople + `rules:
  - {name: finance, if: {resource: [confluence-finance]}, then: {approvals: [{approvers: [owner]}]}}
`,
			want: []string{
				`p.yaml:9:10: warning: no rule can grant jira-admins: every request for it is refused`,
				`p.yaml:11:10: warning: no rule can grant incident: every request for it is refused`,
			},
		},
		{
			name: "the requester is the only approver",
			give: lintPeople + `rules:
  - name: the CEO's finance space
    if: {requester: {email: [ceo@example.com]}, resource: [confluence-finance]}
    then: {approvals: [{approvers: [owner]}]}
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
`,
			want: []string{`p.yaml:15:23: warning: step 1 of rule "the CEO's finance space": its only approver is the requester (ceo@example.com) for everyone it covers, so no request under it can be approved`},
		},
		{
			name: "a max_duration longer than the resources give",
			give: lintPeople + `rules:
  - {name: finance for a month, if: {resource: [confluence-finance]}, then: {approvals: [{approvers: [owner]}], max_duration: 60d}}
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
`,
			want: []string{`p.yaml:13:127: warning: max_duration 60d of rule "finance for a month" is longer than anything it grants can be given: the effective maximum is 30d (the resources' own max_duration)`},
		},
		{
			name: "a review rule shadowed by a broader one",
			give: lintPeople + `rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
reviews:
  - {name: employees, if: {user: {employment: internal}}, inactive_for: 30d, schedule: "0 9 * * MON", action: prompt_manager}
  - {name: engineers, if: {user: {employment: internal, department: [Engineering]}}, inactive_for: 14d, schedule: "0 9 * * MON", action: prompt_manager}
  - {name: partners, if: {user: {email: [ext1@partner.io]}}, inactive_for: 2d, schedule: "@daily", action: suspend}
`,
			want: []string{`p.yaml:15:5: warning: review rule "engineers" never reviews anyone: review rule "employees" (line 14) before it covers everyone it would`},
		},
		{
			name: "a review rule that covers nobody",
			give: lintPeople + `rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
reviews:
  - {name: contractors, if: {user: {employment: external, department: [Sales]}}, inactive_for: 2d, schedule: "@daily", action: suspend}
`,
			want: []string{`p.yaml:14:29: warning: review rule "contractors" covers nobody: no one in the directory is department Sales and employment external`},
		},
		{
			name: "a schedule that never comes",
			give: lintPeople + `rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
reviews:
  - {name: year end, inactive_for: 90d, schedule: "0 9 31 4 *", action: report}
`,
			want: []string{`p.yaml:14:51: schedule "0 9 31 4 *" of review rule "year end" never comes: no date matches it (like a 30th of February), so the review never runs`},
		},
		{
			name: "a 29th of February comes",
			give: lintPeople + `rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
reviews:
  - {name: leap, inactive_for: 90d, schedule: "0 9 29 2 *", action: report}
`,
		},
		{
			name: "lint: strict refuses warnings",
			give: lintPeople + `lint: strict
rules:
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
  - {name: never, if: {requester: {employment: external}}, then: {approvals: [{approvers: [manager]}]}}
`,
			want: []string{`p.yaml:15:5: rule "never" can never match: rule "default" (line 14) before it matches every request it would (a warning, refused under lint: strict)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lintOf(t, tc.give)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// A loop of managers is one problem, where the first of them names their
// manager; the people under it get no follow-on problem.
func TestParse_ManagerLoops(t *testing.T) {
	for _, tc := range []struct {
		name, give string
		want       []string
	}{
		{
			name: "the CEO and the head of sales",
			give: `directory:
  people:
    - {email: ceo@example.com, manager: head-of-sales@example.com}
    - {email: head-of-sales@example.com, manager: ceo@example.com}
    - {email: rep1@example.com, manager: head-of-sales@example.com}
resources: [{id: r, provider: dryrun, group: r}]
rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
`,
			want: []string{"p.yaml:3:41: managers form a loop: ceo@example.com → head-of-sales@example.com → ceo@example.com (each managed by the next); one of them must have no manager"},
		},
		{
			name: "their own manager",
			give: `directory:
  people:
    - {email: ceo@example.com, manager: ceo@example.com}
    - {email: cfo@example.com, manager: ceo@example.com}
resources: [{id: r, provider: dryrun, group: r}]
rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
`,
			want: []string{"p.yaml:3:41: ceo@example.com cannot be their own manager"},
		},
		{
			name: "a loop in the directory file",
			give: `directory: {file: people.csv}
resources: [{id: r, provider: dryrun, group: r}]
rules: [{name: default, then: {approvals: [{approvers: [manager]}]}}]
`,
			want: []string{"people.csv:2:15: this manager leads to a loop of 3 people, each managed by the next: one of them must have no manager"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problemsOf(t, tc.give, files{"people.csv": "email,manager\na@example.com,b@example.com\nb@example.com,c@example.com\nc@example.com,a@example.com\nd@example.com,a@example.com\n"})
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// explain's maximum is the effective one: the resource's 30d under a
// rule that says 60d.
func TestLint_FindingsFor(t *testing.T) {
	p, err := Parse("p.yaml", []byte(lintPeople+`rules:
  - {name: finance for a month, if: {resource: [confluence-finance]}, then: {approvals: [{approvers: [owner]}], max_duration: 60d}}
  - {name: default, then: {approvals: [{approvers: [manager]}]}}
`), files{}.read)
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Evaluate(context.Background(), Query{Requester: "dev1@example.com", Resource: "confluence-finance"}, nil)
	if err != nil || d.MaxDuration != 30*Day {
		t.Fatalf("max: got %v, %v; want 30d", d, err)
	}
	if got := p.FindingsFor(d.Rule, "confluence-finance"); len(got) != 1 || got[0].Check != CheckMaxDuration {
		t.Errorf("findings for the request: got %v, want the max_duration one", got)
	}
	if got := p.FindingsFor("default", "jira-admins"); len(got) != 0 {
		t.Errorf("findings for another request: got %v, want none", got)
	}
}

// A tab in the indentation is reported on its own line, where it is.
func TestParse_TabLine(t *testing.T) {
	got := problemsOf(t, "resources:\n  - id: x\n    provider: jira\n\tgroup: g\nrules: []\n", nil)
	want := []string{"p.yaml:4:1: invalid YAML: found a tab character that violates indentation"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// BenchmarkParseWithLint parses a policy of 10,000 people (a CSV, 40
// departments, 1,000 managers), 20 resources and 15 rules, the lint
// included, and the same policy's lint alone.
//
//	go test -run '^$' -bench BenchmarkParseWithLint -benchmem ./policies/
func BenchmarkParseWithLint(b *testing.B) {
	var csv strings.Builder
	csv.WriteString("email,department,manager,employment\n")
	for i := range 10000 {
		mgr := ""
		if i >= 1000 {
			mgr = fmt.Sprintf("m%d@example.com", i%1000)
		}
		email := fmt.Sprintf("u%d@example.com", i)
		if i < 1000 {
			email = fmt.Sprintf("m%d@example.com", i)
		}
		emp := "internal"
		if i%10 == 0 {
			emp = "external"
		}
		fmt.Fprintf(&csv, "%s,dept%d,%s,%s\n", email, i%40, mgr, emp)
	}
	var pol strings.Builder
	pol.WriteString("directory: {file: people.csv}\nresources:\n")
	for i := range 20 {
		kind := "standard"
		if i%5 == 0 {
			kind = "admin"
		}
		fmt.Fprintf(&pol, "  - {id: r%d, provider: jira, group: g%d, kind: %s, max_duration: %dh, owners: [m%d@example.com]}\n", i, i, kind, 4+i, i)
	}
	pol.WriteString("rules:\n  - {name: admin, if: {resource_kind: admin}, then: {approvals: [{approvers: [manager]}, {approvers: [owner]}]}}\n")
	for i := range 12 {
		fmt.Fprintf(&pol, "  - {name: dept%d, if: {requester: {department: [dept%d]}, resource: [r%d], duration_at_most: %dh}, then: {auto_approve: true}}\n", i, i, i%20+1, 2+i%6)
	}
	pol.WriteString("  - {name: externals, if: {requester: {employment: external}}, then: {approvals: [{approvers: [manager]}, {approvers: [owner]}]}}\n")
	pol.WriteString("  - {name: default, then: {approvals: [{approvers: [manager]}]}}\n")
	read := func(string) ([]byte, error) { return []byte(csv.String()), nil }
	p, err := Parse("p.yaml", []byte(pol.String()), read)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("parse", func(b *testing.B) {
		for range b.N {
			if _, err := Parse("p.yaml", []byte(pol.String()), read); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lint", func(b *testing.B) {
		l := &linter{p: p}
		for range b.N {
			l.out = l.out[:0]
			l.access()
			l.reviews()
		}
	})
}
