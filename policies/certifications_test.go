package policies

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const certBase = `directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com}
    - {email: bob@example.com, department: Engineering}
resources:
  - {id: jira-admins, provider: jira, group: jira-admins, owners: [bob@example.com]}
  - {id: site-admins, provider: atlassian-admin, group: site-admins}
  - {id: confluence-finance, provider: jira, group: confluence-finance}
  - {id: confluence-hr, provider: jira, group: confluence-hr}
  - {id: both, bundle: [confluence-finance, jira-admins]}
rules:
  - {name: all, then: {auto_approve: true}}
timezone: Europe/Paris
`

// The rule, verbatim, and one over a group pattern.
const certExample = certBase + `certifications:
  - name: admin groups quarterly
    resources: [jira-admins, site-admins]   # or groups: [confluence-*]
    reviewers: [owner]                       # owner | manager | group:HANDLE | email
    schedule: "0 9 1 1,4,7,10 *"
    answer_within: 14d
    escalate_to: [group:it-leads]            # when unanswered halfway
    default: keep                            # keep | remove | convert
  - name: confluence
    groups: [confluence-*]
    reviewers: [manager, Bob@Example.com]
    schedule: "@monthly"
    default: convert
    channel: "#it-access-reviews"
`

func TestParse_Certifications(t *testing.T) {
	p, err := Parse("p.yaml", []byte(certExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Certifications) != 2 {
		t.Fatalf("got %d certifications, want 2", len(p.Certifications))
	}
	adm, conf := p.Certifications[0], p.Certifications[1]
	if adm.Name != "admin groups quarterly" || adm.Line != 15 || adm.AnswerWithin != 14*Day || adm.Default != CertKeep ||
		!slices.Equal(adm.Reviewers, []string{"owner"}) || !slices.Equal(adm.EscalateTo, []string{"group:it-leads"}) {
		t.Errorf("admin groups quarterly: got %+v", adm)
	}
	// 1 January 2027 09:00 in Paris is 08:00 UTC.
	if got, want := adm.Next(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)), time.Date(2027, 1, 1, 8, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Next: got %s, want %s", got, want)
	}
	var groups []string
	for _, tg := range p.Targets(adm) {
		groups = append(groups, tg.Provider+"/"+tg.Group)
	}
	if want := []string{"jira/jira-admins", "atlassian-admin/site-admins"}; !slices.Equal(groups, want) {
		t.Errorf("Targets(admin): got %v, want %v", groups, want)
	}
	if tg := p.Targets(adm)[0]; !slices.Equal(tg.Owners, []string{"bob@example.com"}) {
		t.Errorf("jira-admins owners: got %v", tg.Owners)
	}
	groups = nil
	for _, tg := range p.Targets(conf) {
		groups = append(groups, tg.Group)
	}
	if want := []string{"confluence-finance", "confluence-hr"}; !slices.Equal(groups, want) {
		t.Errorf("Targets(confluence): got %v, want %v", groups, want)
	}
	if conf.AnswerWithin != DefaultAnswerWithin || conf.Default != CertConvert || conf.Channel != "#it-access-reviews" ||
		!slices.Equal(conf.Reviewers, []string{"manager", "bob@example.com"}) {
		t.Errorf("confluence: got %+v", conf)
	}
	// A bundle named stands for its leaves.
	b, err := Parse("p.yaml", []byte(certBase+"certifications:\n  - {name: b, resources: [both], reviewers: [owner], schedule: '@weekly'}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(b.Targets(b.Certifications[0])); got != 2 {
		t.Errorf("Targets(bundle): got %d groups, want 2", got)
	}
}

func TestParse_CertificationErrors(t *testing.T) {
	tests := []struct {
		name, give, want string
	}{
		{"NoTarget", `{name: x, reviewers: [owner], schedule: "@daily"}`, `p.yaml:15:5: certification "x" must name resources: or groups: to review`},
		{"UnknownResource", `{name: x, resources: [nope], reviewers: [owner], schedule: "@daily"}`, `p.yaml:15:27: unknown resource "nope" in certification "x"`},
		{"GroupMatchesNothing", `{name: x, groups: [bitbucket-*], reviewers: [owner], schedule: "@daily"}`, `p.yaml:15:24: groups "bitbucket-*" matches no group of the resources`},
		{"BadSchedule", `{name: x, resources: [jira-admins], reviewers: [owner], schedule: "every day"}`, `p.yaml:15:71: schedule "every day" is not a cron expression`},
		{"BadReviewer", `{name: x, resources: [jira-admins], reviewers: [boss], schedule: "@daily"}`, `p.yaml:15:53: reviewers: unknown reviewer "boss": expected manager, owner, group:HANDLE or an email address`},
		{"UnknownEmail", `{name: x, resources: [jira-admins], reviewers: [zed@example.com], schedule: "@daily"}`, `p.yaml:15:53: reviewers: zed@example.com is not in the directory`},
		{"BadDefault", `{name: x, resources: [jira-admins], reviewers: [owner], schedule: "@daily", default: suspend}`, `p.yaml:15:90: default must be keep | remove | convert, got "suspend"`},
		{"ShortAnswer", `{name: x, resources: [jira-admins], reviewers: [owner], schedule: "@daily", answer_within: 10m}`, `p.yaml:15:96: answer_within must be at least 1h, got 10m`},
		{"MissingReviewers", `{name: x, resources: [jira-admins], schedule: "@daily"}`, `p.yaml:15:5: certification "x" is missing the required key "reviewers"`},
		{"UnknownKey", `{name: x, resources: [jira-admins], reviewers: [owner], schedule: "@daily", action: remove}`, `p.yaml:15:81: unknown key "action" in a certification`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(certBase+"certifications:\n  - "+tt.give+"\n"), nil)
			if err == nil {
				t.Fatal("got no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
