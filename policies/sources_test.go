package policies

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const withSources = `directory:
  people:
    - {email: a@x.io, manager: boss@x.io}
  sources:
    - okta: {url: https://example.okta.com}
      map: {department: department, manager: managerId, employment: userType}
    - entra: {tenant: 00000000-0000-0000-0000-000000000000}
      map: {employment: employeeType}
    - google: {}
    - atlassian: {}
  sync_every: 2h
  max_drop: 5%
  employment_values: {Employee: internal, Contractor: external}
resources:
  - {id: okta-admins, provider: okta, group: Okta Admins}
rules: []
reviews:
  - {name: r, inactive_for: 30d, schedule: "@daily", action: suspend, suspend_at: auto}
`

func TestParse_DirectorySources(t *testing.T) {
	p, err := Parse("p.yaml", []byte(withSources), files{}.read)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Directory
	if d == nil {
		t.Fatal("no directory settings")
	}
	want := []DirectorySource{
		{Kind: "okta", URL: "https://example.okta.com", Map: map[string]string{"department": "department", "manager": "managerId", "employment": "userType"}, Line: 5},
		{Kind: "entra", Tenant: "00000000-0000-0000-0000-000000000000", Map: map[string]string{"employment": "employeeType"}, Line: 7},
		{Kind: "google", Customer: "my_customer", Line: 9},
		{Kind: "atlassian", Line: 10},
	}
	if !reflect.DeepEqual(d.Sources, want) {
		t.Errorf("got sources %+v, want %+v", d.Sources, want)
	}
	if d.SyncEvery != 2*time.Hour || d.MaxDrop != 0.05 || d.EmploymentValues["Contractor"] != "external" {
		t.Errorf("got %+v", d)
	}
	if r, _ := p.Resource("okta-admins"); r.Provider != "okta" {
		t.Errorf("got provider %q", r.Provider)
	}
	if p.Review.Rules[0].SuspendAt != SuspendAtAuto {
		t.Errorf("got suspend_at %q, want auto", p.Review.Rules[0].SuspendAt)
	}
}

func TestParse_DirectorySourceProblems(t *testing.T) {
	tail := "resources: []\nrules: []\n"
	for _, tt := range []struct{ name, give, want string }{
		{"two kinds", "directory:\n  sources:\n    - {okta: {url: https://o}, entra: {tenant: t}}\n", "p.yaml:3:7: a directory source names exactly one of okta, entra, google, atlassian, got 2"},
		{"okta without url", "directory:\n  sources:\n    - okta: {}\n", "p.yaml:3:7: okta needs url:"},
		{"unknown key", "directory:\n  sources:\n    - okta: {url: https://o, token: x}\n", "p.yaml:3:30: unknown key \"token\" in okta"},
		{"twice", "directory:\n  sources:\n    - atlassian: {}\n    - atlassian: {}\n", "p.yaml:4:7: source atlassian is listed twice (first at line 3)"},
		{"max_drop", "directory:\n  sources: [{atlassian: {}}]\n  max_drop: 150%\n", "p.yaml:3:13: max_drop must be a share like 10% or 0.1"},
		{"employment value", "directory:\n  sources: [{atlassian: {}}]\n  employment_values: {Employee: staff}\n", `p.yaml:3:33: employment_values "Employee" must be internal | external, got "staff"`},
		{"settings without sources", "directory:\n  people: []\n  sync_every: 1h\n", "p.yaml:3:3: sync_every applies to directory sources"},
		{"map key", "directory:\n  sources:\n    - okta: {url: https://o}\n      map: {title: x}\n", `p.yaml:4:13: unknown key "title"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.give+tail, files{})
			if len(got) == 0 || !strings.HasPrefix(got[0], tt.want) {
				t.Errorf("got %q, want it to start %q", got, tt.want)
			}
		})
	}
}
