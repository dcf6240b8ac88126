package policies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"github.com/jitbot/jitbot"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeGroups is a GroupResolver over a fixed map.
type fakeGroups map[string][]string

var _ GroupResolver = fakeGroups(nil)

func (g fakeGroups) GroupMembers(_ context.Context, handle string) ([]string, error) {
	m, ok := g[handle]
	if !ok {
		return nil, errors.New("no such group " + handle)
	}
	return m, nil
}

var itLeads = fakeGroups{"it-leads": {"Dave@Example.com", "frank@example.com"}}

func loadExample(t *testing.T) *Policy {
	t.Helper()
	p, err := Load("testdata/example.yaml")
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	return p
}

func TestLoad_Example(t *testing.T) {
	p := loadExample(t)

	t.Run("Hash", func(t *testing.T) {
		yml, _ := os.ReadFile("testdata/example.yaml")
		csv, _ := os.ReadFile("testdata/people.csv")
		sum := sha256.Sum256(append(yml, csv...))
		if got, want := p.Hash, hex.EncodeToString(sum[:]); got != want {
			t.Errorf("Hash: got %s, want %s", got, want)
		}
		if got, want := p.Source, "testdata/example.yaml"; got != want {
			t.Errorf("Source: got %q, want %q", got, want)
		}
	})

	t.Run("People", func(t *testing.T) {
		if got, want := len(p.People), 5; got != want {
			t.Fatalf("people: got %d, want %d", got, want)
		}
		carol, ok := p.Person("  Carol@Example.COM")
		if !ok {
			t.Fatal("Person(Carol@Example.COM): not found")
		}
		want := &Person{Email: "carol@example.com", Department: "Finance", Manager: "bob@example.com", Employment: "internal", SlackID: "U0CAROL"}
		if !reflect.DeepEqual(carol, want) {
			t.Errorf("carol: got %+v, want %+v", carol, want)
		}
		if _, ok := p.Person("nobody@example.com"); ok {
			t.Error("Person(nobody): got found, want not found")
		}
	})

	t.Run("Resources", func(t *testing.T) {
		var ids []string
		for _, r := range p.Resources {
			ids = append(ids, r.ID)
		}
		if want := []string{"jira-admins", "confluence-finance", "incident-bundle"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("resource ids: got %v, want %v", ids, want)
		}
		ja, _ := p.Resource("jira-admins")
		want := &Resource{ID: "jira-admins", Name: "Jira administrators", Provider: "jira", Group: "jira-admins",
			Kind: "admin", MaxDuration: 4 * time.Hour, Reconcile: "remove"}
		if !reflect.DeepEqual(ja, want) {
			t.Errorf("jira-admins: got %+v, want %+v", ja, want)
		}
		b, _ := p.Resource("incident-bundle")
		if !b.IsBundle() || b.Kind != KindAdmin || b.Provider != "" {
			t.Errorf("incident-bundle: got bundle=%v kind=%q provider=%q, want bundle=true kind=admin provider=\"\"", b.IsBundle(), b.Kind, b.Provider)
		}
		if _, ok := p.Resource("nope"); ok {
			t.Error("Resource(nope): got found, want not found")
		}
	})

	t.Run("Rules", func(t *testing.T) {
		type rule struct {
			Name string
			Line int
		}
		var got []rule
		for _, r := range p.Rules {
			got = append(got, rule{r.Name, r.Line})
		}
		want := []rule{{"admin escalation", 25}, {"externals need the owner", 35}, {"short internal access is automatic", 41}, {"default", 44}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rules: got %v, want %v", got, want)
		}
		short := p.Rules[2]
		wantIf := Match{Requester: PersonMatch{Employment: []string{"internal"}}, Resources: []string{"confluence-finance"}, DurationAtMost: 8 * time.Hour}
		if !reflect.DeepEqual(short.If, wantIf) {
			t.Errorf("short rule if: got %+v, want %+v", short.If, wantIf)
		}
		if got := p.Rules[3].Then.RequestTTL; got != 24*time.Hour {
			t.Errorf("default request_ttl: got %v, want 24h", got)
		}
	})

	t.Run("Leaves", func(t *testing.T) {
		tests := []struct {
			name string
			give string
			want []string
		}{
			{"leaf", "jira-admins", []string{"jira-admins"}},
			{"bundle", "incident-bundle", []string{"jira-admins", "confluence-finance"}},
			{"unknown", "nope", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got []string
				for _, r := range p.Leaves(tt.give) {
					got = append(got, r.ID)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Leaves(%s): got %v, want %v", tt.give, got, tt.want)
				}
			})
		}
	})

	t.Run("IsAdmin", func(t *testing.T) {
		for id, want := range map[string]bool{"jira-admins": true, "confluence-finance": false, "incident-bundle": true, "nope": false} {
			if got := p.IsAdmin(id); got != want {
				t.Errorf("IsAdmin(%s): got %v, want %v", id, got, want)
			}
		}
	})

	t.Run("Groups", func(t *testing.T) {
		want := map[string][]string{"jira": {"confluence-finance", "jira-admins"}}
		if got := p.Groups(); !reflect.DeepEqual(got, want) {
			t.Errorf("Groups: got %v, want %v", got, want)
		}
	})
}

// TestLoad_ExamplesDirectory keeps the shipped example policy loadable.
func TestLoad_ExamplesDirectory(t *testing.T) {
	if _, err := os.Stat("../examples/policy.yaml"); err != nil {
		t.Skip("no examples/policy.yaml")
	}
	if _, err := Load("../examples/policy.yaml"); err != nil {
		t.Errorf("load examples/policy.yaml: %v", err)
	}
}

func TestLoad_Missing(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an os.ErrNotExist error", err)
	}
}

// wantRoute is the part of a Route a test case checks.
type wantRoute struct {
	rule    string
	auto    bool
	steps   [][]string // resolved approvers per step
	groups  [][]string // unresolved groups per step, when checked
	max     time.Duration
	admin   bool
	ticket  bool
	notify  []string
	ttl     time.Duration // 24h when zero
	self    bool          // self-approval allowed
	quorum  int           // of every step; 1 when zero
	code    string        // the expected error code; the rest is ignored then
	message string        // in the error message
}

func TestPolicy_Evaluate_Example(t *testing.T) {
	p := loadExample(t)
	tests := []struct {
		name     string
		give     Query
		resolver GroupResolver
		want     wantRoute
	}{
		{
			name:     "admin escalation",
			give:     Query{Requester: "alice@example.com", Resource: "jira-admins", Duration: time.Hour},
			resolver: itLeads,
			want: wantRoute{rule: "admin escalation", steps: [][]string{{"bob@example.com"}, {"dave@example.com", "frank@example.com"}},
				max: 2 * time.Hour, admin: true, ticket: true, notify: []string{"#it-access-log"}},
		},
		{
			name: "admin escalation without a resolver",
			give: Query{Requester: "ALICE@example.com", Resource: "jira-admins"},
			want: wantRoute{rule: "admin escalation", steps: [][]string{{"bob@example.com"}, nil},
				groups: [][]string{nil, {"it-leads"}}, max: 2 * time.Hour, admin: true, ticket: true, notify: []string{"#it-access-log"}},
		},
		{
			name:     "admin escalation by the manager removes the requester",
			give:     Query{Requester: "dave@example.com", Resource: "jira-admins", Duration: time.Hour},
			resolver: itLeads,
			want: wantRoute{rule: "admin escalation", steps: [][]string{{"bob@example.com"}, {"frank@example.com"}},
				max: 2 * time.Hour, admin: true, ticket: true, notify: []string{"#it-access-log"}},
		},
		{
			name:     "bundle is admin and capped by the rule",
			give:     Query{Requester: "alice@example.com", Resource: "incident-bundle"},
			resolver: itLeads,
			want: wantRoute{rule: "admin escalation", steps: [][]string{{"bob@example.com"}, {"dave@example.com", "frank@example.com"}},
				max: 2 * time.Hour, admin: true, ticket: true, notify: []string{"#it-access-log"}},
		},
		{
			name: "external needs the owner",
			give: Query{Requester: "erin@partner.io", Resource: "confluence-finance", Duration: 2 * time.Hour},
			want: wantRoute{rule: "externals need the owner", steps: [][]string{{"bob@example.com"}, {"carol@example.com"}}, max: 30 * Day},
		},
		{
			name: "short internal access is automatic",
			give: Query{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 2 * time.Hour},
			want: wantRoute{rule: "short internal access is automatic", auto: true, max: 30 * Day, notify: []string{"#access-log"}},
		},
		{
			name: "exactly the bound is automatic",
			give: Query{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 8 * time.Hour},
			want: wantRoute{rule: "short internal access is automatic", auto: true, max: 30 * Day, notify: []string{"#access-log"}},
		},
		{
			name: "longer internal access falls to the default",
			give: Query{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 3 * Day},
			want: wantRoute{rule: "default", steps: [][]string{{"bob@example.com"}}, max: 30 * Day},
		},
		{
			name: "no duration is matched at the maximum",
			give: Query{Requester: "alice@example.com", Resource: "confluence-finance"},
			want: wantRoute{rule: "default", steps: [][]string{{"bob@example.com"}}, max: 30 * Day},
		},
		{
			name: "the owner asks: her manager approves",
			give: Query{Requester: "carol@example.com", Resource: "confluence-finance", Duration: 3 * Day},
			want: wantRoute{rule: "default", steps: [][]string{{"bob@example.com"}}, max: 30 * Day},
		},
		{
			name: "no manager",
			give: Query{Requester: "bob@example.com", Resource: "confluence-finance", Duration: 3 * Day},
			want: wantRoute{code: CodeNoApprovers, message: `no one can approve step 1 of rule "default": bob@example.com has no manager in the directory`},
		},
		{
			name: "no manager for an admin escalation",
			give: Query{Requester: "bob@example.com", Resource: "jira-admins", Duration: time.Hour},
			want: wantRoute{code: CodeNoApprovers, message: "bob@example.com has no manager in the directory"},
		},
		{
			name:     "too long for the rule",
			give:     Query{Requester: "alice@example.com", Resource: "jira-admins", Duration: 3 * time.Hour},
			resolver: itLeads,
			want:     wantRoute{code: CodeTooLong, message: "jira-admins can be granted for at most 2h; you asked for 3h"},
		},
		{
			name: "too long for the resource",
			give: Query{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 31 * Day},
			want: wantRoute{code: CodeTooLong, message: "at most 30d"},
		},
		{
			name: "unknown person",
			give: Query{Requester: "mallory@example.com", Resource: "confluence-finance"},
			want: wantRoute{code: CodeUnknownPerson, message: "mallory@example.com is not in the jitbot directory"},
		},
		{
			name: "unknown resource",
			give: Query{Requester: "alice@example.com", Resource: "prod-root"},
			want: wantRoute{code: CodeUnknownResource, message: `there is no resource "prod-root"`},
		},
		{
			name: "negative duration",
			give: Query{Requester: "alice@example.com", Resource: "confluence-finance", Duration: -time.Hour},
			want: wantRoute{code: CodeInvalidDuration},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Evaluate(context.Background(), tt.give, tt.resolver)
			checkDecision(t, got, err, tt.want)
		})
	}
}

func checkDecision(t *testing.T, got *Route, err error, want wantRoute) {
	t.Helper()
	if want.code != "" {
		if code := ErrorCode(err); code != want.code {
			t.Fatalf("error: got %v (code %q), want code %q", err, code, want.code)
		}
		if !strings.Contains(err.Error(), want.message) {
			t.Errorf("message: got %q, want it to contain %q", err, want.message)
		}
		return
	}
	if err != nil {
		t.Fatalf("got error %v, want rule %q", err, want.rule)
	}
	if got.Rule != want.rule {
		t.Errorf("rule: got %q, want %q", got.Rule, want.rule)
	}
	if got.AutoApprove != want.auto {
		t.Errorf("auto-approve: got %v, want %v", got.AutoApprove, want.auto)
	}
	var steps, groups [][]string
	for _, st := range got.Steps {
		steps = append(steps, st.Approvers)
		groups = append(groups, st.Groups)
		if want.quorum == 0 {
			want.quorum = 1
		}
		if st.Quorum != want.quorum {
			t.Errorf("quorum: got %d, want %d", st.Quorum, want.quorum)
		}
	}
	if !reflect.DeepEqual(steps, want.steps) {
		t.Errorf("approvers: got %q, want %q", steps, want.steps)
	}
	if want.groups != nil && !reflect.DeepEqual(groups, want.groups) {
		t.Errorf("unresolved groups: got %q, want %q", groups, want.groups)
	}
	if got.MaxDuration != want.max {
		t.Errorf("max duration: got %v, want %v", got.MaxDuration, want.max)
	}
	if got.Admin != want.admin {
		t.Errorf("admin: got %v, want %v", got.Admin, want.admin)
	}
	if got.RequireTicket != want.ticket {
		t.Errorf("require ticket: got %v, want %v", got.RequireTicket, want.ticket)
	}
	if !reflect.DeepEqual(got.Notify, want.notify) {
		t.Errorf("notify: got %q, want %q", got.Notify, want.notify)
	}
	if want.ttl == 0 {
		want.ttl = 24 * time.Hour
	}
	if got.RequestTTL != want.ttl {
		t.Errorf("request ttl: got %v, want %v", got.RequestTTL, want.ttl)
	}
	if got.AllowSelfApproval != want.self {
		t.Errorf("allow self-approval: got %v, want %v", got.AllowSelfApproval, want.self)
	}
}

func TestPolicy_Evaluate_Example_Details(t *testing.T) {
	p := loadExample(t)
	d, err := p.Evaluate(context.Background(), Query{Requester: "alice@example.com", Resource: "jira-admins"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.RuleLine, 25; got != want {
		t.Errorf("rule line: got %d, want %d", got, want)
	}
	wantTerms := [][]string{{"manager"}, {"group:it-leads"}}
	for i, st := range d.Steps {
		if !reflect.DeepEqual(st.Terms, wantTerms[i]) {
			t.Errorf("step %d terms: got %q, want %q", i+1, st.Terms, wantTerms[i])
		}
	}

	t.Run("ResolverFails", func(t *testing.T) {
		_, err := p.Evaluate(context.Background(), Query{Requester: "alice@example.com", Resource: "jira-admins"}, fakeGroups{})
		if err == nil || ErrorCode(err) != jitbot.EInternal || !strings.Contains(err.Error(), "no such group it-leads") {
			t.Errorf("got %v, want the resolver's error, an internal one", err)
		}
	})

	t.Run("EmptyGroup", func(t *testing.T) {
		_, err := p.Evaluate(context.Background(), Query{Requester: "alice@example.com", Resource: "jira-admins"}, fakeGroups{"it-leads": nil})
		if ErrorCode(err) != CodeNoApprovers || !strings.Contains(err.Error(), "@it-leads has no members") {
			t.Errorf("got %v, want %s naming the empty group", err, CodeNoApprovers)
		}
	})

	t.Run("GroupOfOnlyTheRequester", func(t *testing.T) {
		_, err := p.Evaluate(context.Background(), Query{Requester: "alice@example.com", Resource: "jira-admins"}, fakeGroups{"it-leads": {"ALICE@example.com"}})
		if ErrorCode(err) != CodeNoApprovers || !strings.Contains(err.Error(), "alice@example.com cannot approve their own request") {
			t.Errorf("got %v, want %s explaining self-approval", err, CodeNoApprovers)
		}
	})
}

func TestPolicy_MaxFor(t *testing.T) {
	p := loadExample(t)
	tests := []struct {
		name      string
		requester string
		resource  string
		want      time.Duration
		code      string
	}{
		{"admin capped by rule", "alice@example.com", "jira-admins", 2 * time.Hour, ""},
		{"bundle", "alice@example.com", "incident-bundle", 2 * time.Hour, ""},
		{"resource maximum", "alice@example.com", "confluence-finance", 30 * Day, ""},
		{"even without a manager", "bob@example.com", "confluence-finance", 30 * Day, ""},
		{"unknown person", "x@example.com", "confluence-finance", 0, CodeUnknownPerson},
		{"unknown resource", "alice@example.com", "x", 0, CodeUnknownResource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.MaxFor(tt.requester, tt.resource, time.Now())
			if code := ErrorCode(err); code != tt.code {
				t.Fatalf("error: got %v, want code %q", err, tt.code)
			}
			if got != tt.want {
				t.Errorf("MaxFor(%s, %s): got %v, want %v", tt.requester, tt.resource, got, tt.want)
			}
		})
	}
}

// matcherPolicy exercises the matchers and approver terms beyond the example.
const matcherPolicy = `
directory:
  people:
    - {email: ann@example.com, department: Finance, manager: max@example.com, employment: internal}
    - {email: max@example.com, department: Finance, employment: internal}
    - {email: kim@contractor.dev, department: Sales, manager: max@example.com, employment: external}
    - {email: ops@example.com, department: IT, manager: max@example.com, employment: internal}
    - {email: sam@example.com, department: sales, manager: max@example.com}
resources:
  - {id: ledger, provider: jira, group: ledger, owners: [max@example.com], max_duration: 7d}
  - {id: wiki, provider: dryrun, group: wiki, owners: [ops@example.com], max_duration: 30d}
  - {id: cmdb, provider: atlassian-admin, group: cmdb, max_duration: 30d}
  - {id: kit, bundle: [ledger, wiki], max_duration: 30d}
  - {id: big, bundle: [kit, cmdb], owners: [ann@example.com], max_duration: 30d}
rules:
  - name: contractor domain
    if: {requester: {email_domain: "@CONTRACTOR.dev"}}
    then: {approvals: [{approvers: [owner]}]}
  - name: kit members
    if: {resource: kit, duration_longer_than: 1d}
    then:
      approvals:
        - {approvers: [owner, ops@example.com, manager], quorum: 2}
  - name: sales
    if: {requester: {department: [SALES, Marketing]}}
    then: {approvals: [{approvers: [owner]}]}
  - name: named people
    if: {requester: {email: [Ann@Example.com]}, resource: [cmdb]}
    then: {approvals: [{approvers: [ann@example.com]}]}
  - name: self service
    if: {requester: {email: ops@example.com}, resource: cmdb}
    then: {allow_self_approval: true, approvals: [{approvers: [ops@example.com, max@example.com]}]}
  - name: self service off
    if: {requester: {email: ops@example.com}, resource: wiki}
    then: {approvals: [{approvers: [owner]}], max_duration: 1h}
  - name: standard
    if: {resource_kind: standard, requester: {employment: [internal]}}
    then: {approvals: [{approvers: [manager]}], notify: ["#a", "#b"], request_ttl: 2h}
`

func TestPolicy_Evaluate_Matchers(t *testing.T) {
	p, err := Parse("matchers.yaml", []byte(matcherPolicy), nil)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	tests := []struct {
		name string
		give Query
		want wantRoute
	}{
		{
			name: "email domain, owner of a leaf",
			give: Query{Requester: "kim@contractor.dev", Resource: "wiki"},
			want: wantRoute{rule: "contractor domain", steps: [][]string{{"ops@example.com"}}, max: 30 * Day},
		},
		{
			name: "owner of a bundle without owners is the union of its leaves'",
			give: Query{Requester: "kim@contractor.dev", Resource: "kit"},
			want: wantRoute{rule: "contractor domain", steps: [][]string{{"max@example.com", "ops@example.com"}}, max: 7 * Day},
		},
		{
			name: "a bundle's own owners win",
			give: Query{Requester: "kim@contractor.dev", Resource: "big"},
			want: wantRoute{rule: "contractor domain", steps: [][]string{{"ann@example.com"}}, max: 7 * Day},
		},
		{
			name: "bundle rule covers a member asked for alone",
			give: Query{Requester: "ann@example.com", Resource: "ledger", Duration: 2 * Day},
			want: wantRoute{rule: "kit members", steps: [][]string{{"max@example.com", "ops@example.com"}}, max: 7 * Day, quorum: 2},
		},
		{
			name: "requester removed from the quorum step",
			give: Query{Requester: "ops@example.com", Resource: "kit", Duration: 2 * Day},
			want: wantRoute{code: CodeNoApprovers, message: `step 1 of rule "kit members" needs 2 approvers but only 1 can approve: ops@example.com cannot approve their own request`},
		},
		{
			name: "duration_longer_than is exclusive",
			give: Query{Requester: "ann@example.com", Resource: "kit", Duration: Day},
			want: wantRoute{rule: "standard", steps: [][]string{{"max@example.com"}}, max: 7 * Day, notify: []string{"#a", "#b"}, ttl: 2 * time.Hour},
		},
		{
			name: "a rule for a member does not match its bundle",
			give: Query{Requester: "ann@example.com", Resource: "big", Duration: 2 * Day},
			want: wantRoute{rule: "standard", steps: [][]string{{"max@example.com"}}, max: 7 * Day, notify: []string{"#a", "#b"}, ttl: 2 * time.Hour},
		},
		{
			name: "department case-insensitive, owner missing",
			give: Query{Requester: "sam@example.com", Resource: "cmdb"},
			want: wantRoute{code: CodeNoApprovers, message: `no one can approve step 1 of rule "sales": cmdb has no owners in the policy`},
		},
		{
			name: "email matcher, approver is the requester",
			give: Query{Requester: "ann@example.com", Resource: "cmdb"},
			want: wantRoute{code: CodeNoApprovers, message: `no one can approve step 1 of rule "named people": ann@example.com cannot approve their own request`},
		},
		{
			name: "self approval allowed",
			give: Query{Requester: "ops@example.com", Resource: "cmdb"},
			want: wantRoute{rule: "self service", steps: [][]string{{"ops@example.com", "max@example.com"}}, max: 30 * Day, self: true},
		},
		{
			name: "rule cap",
			give: Query{Requester: "ops@example.com", Resource: "wiki", Duration: 2 * time.Hour},
			want: wantRoute{code: CodeTooLong, message: "at most 1h"},
		},
		{
			name: "department matches case-insensitively",
			give: Query{Requester: "sam@example.com", Resource: "ledger", Duration: time.Hour},
			want: wantRoute{rule: "sales", steps: [][]string{{"max@example.com"}}, max: 7 * Day},
		},
		{
			name: "no manager under the last rule",
			give: Query{Requester: "max@example.com", Resource: "big", Duration: time.Hour},
			want: wantRoute{code: CodeNoApprovers, message: `no one can approve step 1 of rule "standard": max@example.com has no manager in the directory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Evaluate(context.Background(), tt.give, nil)
			checkDecision(t, got, err, tt.want)
		})
	}
}

func TestPolicy_Evaluate_NoRule(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`
directory: {people: [{email: a@x.io}]}
resources: [{id: r, provider: dryrun, group: g}]
rules:
  - {if: {requester: {employment: external}}, then: {auto_approve: true}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Evaluate(context.Background(), Query{Requester: "a@x.io", Resource: "r"}, nil)
	if ErrorCode(err) != CodeNoRule || err.Error() != "no rule of the policy lets a@x.io request r" {
		t.Errorf("got %v (code %q), want %s", err, ErrorCode(err), CodeNoRule)
	}
	if _, err := p.MaxFor("a@x.io", "r", time.Now()); ErrorCode(err) != CodeNoRule {
		t.Errorf("MaxFor: got %v, want %s", err, CodeNoRule)
	}
	if got, want := p.Rules[0].Name, "rule 1"; got != want {
		t.Errorf("unnamed rule: got %q, want %q", got, want)
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		give error
		want string
	}{
		{"nil", nil, ""},
		{"plain", errors.New("x"), jitbot.EInternal}, // never "": not a domain error is internal
		{"domain", &Error{Code: CodeNoRule, Message: "m"}, CodeNoRule},
		{"wrapped", errorsJoin(&Error{Code: CodeTooLong}), CodeTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorCode(tt.give); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func errorsJoin(err error) error { return errors.Join(errors.New("context"), err) }
