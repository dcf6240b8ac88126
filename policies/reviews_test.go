package policies

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const reviewBase = `directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
    - {email: erin@partner.io, department: Engineering, manager: bob@example.com, employment: external}
resources:
  - {id: jira-admins, provider: jira, group: jira-admins}
rules:
  - {name: all, then: {auto_approve: true}}
`

// The two rules of the issue, verbatim.
const reviewExample = reviewBase + `reviews:
  - name: employees
    if: {user: {employment: internal}}     # same matcher vocabulary as requester
    products: [jira-software, confluence]  # inactive in all of these
    inactive_for: 30d
    schedule: "0 9 * * MON"
    action: prompt_manager
    answer_within: 5d
    default: keep
    keep_for: 90d
    digest: "#it-licences"
  - name: external consultants
    if: {user: {email_domain: [partner.io]}}
    inactive_for: 2d
    schedule: "@daily"
    action: suspend
    warn_before: 1d
    exclude: [svc-*@example.com, group:jira-admins-standing]
    dry_run: false
    digest: "#it-licences"
licence_costs: {jira-software: 8.60, confluence: 6.05}
`

func TestParse_Reviews(t *testing.T) {
	p, err := Parse("p.yaml", []byte(reviewExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := p.Review.Rules
	if len(rs) != 2 {
		t.Fatalf("got %d review rules, want 2", len(rs))
	}
	emp, ext := rs[0], rs[1]
	if emp.Name != "employees" || emp.Action != ReviewPromptManager || emp.InactiveFor != 30*Day ||
		emp.AnswerWithin != 5*Day || emp.Default != ReviewDefaultKeep || emp.KeepFor != 90*Day ||
		emp.Digest != "#it-licences" || !slices.Equal(emp.Products, []string{"jira-software", "confluence"}) ||
		!slices.Equal(emp.If.Employment, []string{"internal"}) || emp.Line != 11 {
		t.Errorf("employees: got %+v", emp)
	}
	if ext.Action != ReviewSuspend || ext.WarnBefore != Day || ext.InactiveFor != 2*Day || ext.DryRun ||
		!slices.Equal(ext.Exclude, []string{"svc-*@example.com"}) || !slices.Equal(ext.ExcludeGroups, []string{"jira-admins-standing"}) ||
		ext.KeepFor != DefaultKeepFor {
		t.Errorf("external consultants: got %+v", ext)
	}
	if got := p.Review.LicenceCosts; got["jira-software"] != 8.60 || got["confluence"] != 6.05 {
		t.Errorf("licence costs: got %v", got)
	}
	if p.Review.Zone() != "UTC" {
		t.Errorf("timezone: got %q, want UTC", p.Review.Zone())
	}

	t.Run("Next", func(t *testing.T) {
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) // a Tuesday
		if got, want := emp.Next(at), time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC); !got.Equal(want) {
			t.Errorf("employees next: got %v, want %v", got, want)
		}
		if got, want := ext.Next(at), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
			t.Errorf("consultants next: got %v, want %v", got, want)
		}
	})
	t.Run("RuleFor", func(t *testing.T) {
		for _, tc := range []struct{ email, want string }{
			{"alice@example.com", "employees"},
			{"erin@partner.io", "external consultants"},
			{"nobody@partner.io", "external consultants"}, // not in the directory: domain still matches
			{"stranger@example.com", ""},
		} {
			dept, emp, _ := p.ReviewSubject(tc.email, "")
			r := p.Review.RuleFor(tc.email, dept, emp)
			got := ""
			if r != nil {
				got = r.Name
			}
			if got != tc.want {
				t.Errorf("%s: got rule %q, want %q", tc.email, got, tc.want)
			}
		}
	})
	t.Run("Excluded", func(t *testing.T) {
		if why, ok := ext.Excluded("SVC-build@example.com", nil); !ok || why != "svc-*@example.com" {
			t.Errorf("pattern: got %q %v", why, ok)
		}
		if why, ok := ext.Excluded("erin@partner.io", []string{"Jira-Admins-Standing"}); !ok || why != "group:jira-admins-standing" {
			t.Errorf("group: got %q %v", why, ok)
		}
		if _, ok := ext.Excluded("erin@partner.io", []string{"staff"}); ok {
			t.Error("erin is not excluded")
		}
	})
}

func TestParse_ReviewTimezone(t *testing.T) {
	p, err := Parse("p.yaml", []byte(reviewBase+"timezone: Europe/Paris\nreviews:\n  - {name: r, inactive_for: 30d, schedule: \"0 9 * * *\", action: report}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)                                                          // 11:00 in Paris
	if got, want := p.Review.Rules[0].Next(at), time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC); !got.Equal(want) { // 09:00 CET
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParse_ReviewProblems(t *testing.T) {
	for _, tc := range []struct {
		name, give string
		want       []string
	}{
		{"UnknownProduct", `reviews:
  - {name: r, products: [jira-software, jira-sofware], inactive_for: 30d, schedule: "@daily", action: report}
`, []string{`p.yaml:11:41: unknown product "jira-sofware": expected one of jira-software,`}},
		{"BadCron", `reviews:
  - {name: r, inactive_for: 30d, schedule: "0 9 * * FUNDAY", action: report}
`, []string{`p.yaml:11:44: schedule "0 9 * * FUNDAY": "FUNDAY" in the day-of-week field is not a number or a name (days SUN MON TUE WED THU FRI SAT, months JAN to DEC); expected a cron expression`}},
		{"CronFieldName", `reviews:
  - {name: r, inactive_for: 30d, schedule: "0 9 * * MONDAY", action: report}
`, []string{`p.yaml:11:44: schedule "0 9 * * MONDAY": "MONDAY" in the day-of-week field is not a number or a name`}},
		{"CronAboveMaximum", `reviews:
  - {name: r, inactive_for: 30d, schedule: "0 9 * * 9", action: report}
`, []string{`p.yaml:11:44: schedule "0 9 * * 9": 9 in the day-of-week field is above its maximum 6;`}},
		{"CronFields", `reviews:
  - {name: r, inactive_for: 30d, schedule: "0 9 * *", action: report}
`, []string{`p.yaml:11:44: schedule "0 9 * *": it has 4 fields, a cron expression has 5;`}},
		{"CronDescriptor", `reviews:
  - {name: r, inactive_for: 30d, schedule: "@fortnightly", action: report}
`, []string{`p.yaml:11:44: schedule "@fortnightly": @fortnightly is not a descriptor: use @yearly, @monthly, @weekly, @daily, @hourly or @every followed by a duration;`}},
		{"WarnBeforeNotShorter", `reviews:
  - {name: r, inactive_for: 2d, schedule: "@daily", action: suspend, warn_before: 2d}
`, []string{`p.yaml:11:83: warn_before 2d must be shorter than inactive_for 2d`}},
		{"DefaultSuspendWithoutAnswerWithin", `reviews:
  - {name: r, inactive_for: 30d, schedule: "@weekly", action: prompt_manager, default: suspend}
`, []string{`p.yaml:11:88: default: suspend needs answer_within`}},
		{"MissingKeysAndBadAction", `reviews:
  - {name: r, action: delete}
`, []string{`p.yaml:11:5: review rule "r" is missing the required key "inactive_for"`,
			`p.yaml:11:5: review rule "r" is missing the required key "schedule"`,
			`p.yaml:11:23: action must be report | prompt_manager | suspend, got "delete"`}},
		{"DuplicateName", `reviews:
  - {name: r, inactive_for: 30d, schedule: "@daily", action: report}
  - {name: r, inactive_for: 30d, schedule: "@daily", action: report}
`, []string{`p.yaml:12:12: review rule name "r" is already used (first at line 11)`}},
		{"WrongActionKeys", `reviews:
  - {name: r, inactive_for: 30d, schedule: "@daily", action: report, answer_within: 5d, warn_before: 1d}
`, []string{`p.yaml:11:70: answer_within applies to action: prompt_manager only`,
			`p.yaml:11:89: warn_before applies to action: suspend only`}},
		{"UnknownMatcherAndKey", `reviews:
  - {name: r, if: {user: {team: x}}, inactive_for: 30d, schedule: "@daily", action: report, colour: red}
`, []string{`p.yaml:11:27: unknown key "team" in requester`, `p.yaml:11:93: unknown key "colour" in a review rule`}},
		{"BadExclude", `reviews:
  - {name: r, inactive_for: 30d, schedule: "@daily", action: report, exclude: ["svc-[", "group:"]}
`, []string{`p.yaml:11:80: exclude "svc-[": expected an email pattern`, `p.yaml:11:89: exclude "group:": expected group:`}},
		{"Costs", `licence_costs: {confluence: cheap, jira-softwar: 1}
`, []string{`p.yaml:10:29: licence_costs: confluence must be a cost`, `p.yaml:10:36: unknown key "jira-softwar" in licence_costs`}},
		{"Timezone", `timezone: Mars/Olympus
`, []string{`p.yaml:10:11: timezone "Mars/Olympus" is not an IANA time zone name`}},
		{"TooOften", `reviews:
  - {name: r, inactive_for: 30d, schedule: "@every 10s", action: report}
`, []string{`p.yaml:11:44: schedule "@every 10s" runs more often than once a minute`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problemsOf(t, reviewBase+tc.give, nil)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d problems %q, want %d like %q", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %d: got %q, want it to start with %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestPersonMatch_Mismatch(t *testing.T) {
	m := PersonMatch{Employment: []string{"internal"}, EmailDomain: []string{"example.com"}}
	if got := m.Mismatch("a@example.com", "", "internal"); got != "" {
		t.Errorf("got %q, want a match", got)
	}
	if got, want := m.Mismatch("a@example.com", "", ""), "employment is not known, not internal"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := m.Describe(), "employment internal and email domain example.com"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
