package policies

import (
	"context"
	"strings"
	"testing"
	"time"
)

const windowPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Ops, manager: bob@example.com}
    - {email: bob@example.com, department: Ops}
resources:
  - {id: jira-admins, provider: jira, group: jira-admins, kind: admin, max_duration: 4h}
rules:
  - name: business hours
    if: {resource: jira-admins, time: {days: [mon-fri], hours: "08:00-18:00", timezone: Europe/Paris}}
    then: {auto_approve: true, max_duration: 1h}
  - name: otherwise the manager
    then:
      approvals: [{approvers: [manager]}]
`

func ruleAt(t *testing.T, p *Policy, at time.Time) string {
	t.Helper()
	r, err := p.Evaluate(context.Background(), Query{Requester: "alice@example.com", Resource: "jira-admins", Duration: time.Hour, At: at}, nil)
	if err != nil {
		t.Fatalf("evaluate at %s: %v", at, err)
	}
	return r.Rule
}

func TestTimeWindow_Edges(t *testing.T) {
	p, err := Parse("window.yaml", []byte(windowPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	at := func(y int, mo time.Month, d, h, m int) time.Time { return time.Date(y, mo, d, h, m, 0, 0, paris) }
	for _, c := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"Monday 07:59 is before", at(2026, 12, 7, 7, 59), "otherwise the manager"},
		{"Monday 08:00 opens", at(2026, 12, 7, 8, 0), "business hours"},
		{"Monday 17:59 is in", at(2026, 12, 7, 17, 59), "business hours"},
		{"Monday 18:00 has closed", at(2026, 12, 7, 18, 0), "otherwise the manager"},
		{"Friday noon is in", at(2026, 12, 11, 12, 0), "business hours"},
		{"Saturday noon is out", at(2026, 12, 12, 12, 0), "otherwise the manager"},
		{"Sunday noon is out", at(2026, 12, 13, 12, 0), "otherwise the manager"},
		// UTC 07:30 is 08:30 in Paris in winter: the wall clock decides.
		{"UTC 07:30 in winter is Paris 08:30", time.Date(2026, 12, 7, 7, 30, 0, 0, time.UTC), "business hours"},
	} {
		if got := ruleAt(t, p, c.at); got != c.want {
			t.Errorf("%s (%s): rule %q, want %q", c.name, c.at.UTC().Format(time.RFC3339), got, c.want)
		}
	}
}

// Across a DST change the window stays on the wall clock: in Paris the
// clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October
// 2026, so 08:00 is 07:00 UTC the Friday before the spring change and 06:00
// UTC the Monday after it.
func TestTimeWindow_AcrossDST(t *testing.T) {
	p, err := Parse("window.yaml", []byte(windowPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"Fri 27 Mar 06:59 UTC = 07:59 CET", utc(3, 27, 6, 59), "otherwise the manager"},
		{"Fri 27 Mar 07:00 UTC = 08:00 CET", utc(3, 27, 7, 0), "business hours"},
		{"Mon 30 Mar 05:59 UTC = 07:59 CEST", utc(3, 30, 5, 59), "otherwise the manager"},
		{"Mon 30 Mar 06:00 UTC = 08:00 CEST", utc(3, 30, 6, 0), "business hours"},
		{"Mon 30 Mar 15:59 UTC = 17:59 CEST", utc(3, 30, 15, 59), "business hours"},
		{"Mon 30 Mar 16:00 UTC = 18:00 CEST", utc(3, 30, 16, 0), "otherwise the manager"},
		{"Fri 23 Oct 16:00 UTC = 18:00 CEST", utc(10, 23, 16, 0), "otherwise the manager"},
		{"Mon 26 Oct 16:00 UTC = 17:00 CET", utc(10, 26, 16, 0), "business hours"},
		{"Mon 26 Oct 17:00 UTC = 18:00 CET", utc(10, 26, 17, 0), "otherwise the manager"},
	} {
		if got := ruleAt(t, p, c.at); got != c.want {
			t.Errorf("%s: rule %q, want %q", c.name, got, c.want)
		}
	}
}

func TestTimeWindow_OverMidnightAndPolicyZone(t *testing.T) {
	src := strings.Replace(windowPolicy, `{days: [mon-fri], hours: "08:00-18:00", timezone: Europe/Paris}`,
		`{days: [fri], hours: "22:00-06:00"}`, 1) + "timezone: America/New_York\n"
	p, err := Parse("window.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	at := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, ny) }
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{at(11, 21, 59), "otherwise the manager"}, // Friday before
		{at(11, 22, 0), "business hours"},         // Friday night
		{at(12, 5, 59), "business hours"},         // Saturday early: Friday's window
		{at(12, 6, 0), "otherwise the manager"},
		{at(12, 22, 30), "otherwise the manager"}, // Saturday night is not listed
		{at(11, 3, 0), "otherwise the manager"},   // Friday early: Thursday's window, not listed
	} {
		if got := ruleAt(t, p, c.at); got != c.want {
			t.Errorf("%s: rule %q, want %q", c.at, got, c.want)
		}
	}
}

func TestTimeWindow_Errors(t *testing.T) {
	for _, c := range []struct{ window, want string }{
		{`{days: [mon-fry]}`, `window.yaml:10:47: days: "mon-fry" is not a day range`},
		{`{hours: "8-18"}`, `window.yaml:10:47: hours: "8-18": "8" is not a time of day like 08:00`},
		{`{hours: "08:00-08:00"}`, `starts and ends at the same time`},
		{`{hours: "08:00-25:00"}`, `"25:00" is not a time of day`},
		{`{timezone: Mars/Olympus}`, `timezone "Mars/Olympus" is not an IANA time zone name`},
		{`{days: []}`, `days must list at least one value`},
		{`{weekdays: [mon]}`, `unknown key "weekdays" in time: expected one of days, hours, timezone`},
		{`{}`, `time must set days, hours or both`},
	} {
		src := strings.Replace(windowPolicy, `{days: [mon-fri], hours: "08:00-18:00", timezone: Europe/Paris}`, c.window, 1)
		_, err := Parse("window.yaml", []byte(src), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("time %s: got %v, want an error containing %q", c.window, err, c.want)
		}
	}
}
