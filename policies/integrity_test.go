package policies

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 10 item 15: directory.file read any file and echoed it (file:
// /proc/self/environ printed the environment in policy check). The path is
// confined to the policy's folder, and no value of the file is repeated in
// a problem.
func TestIntegrity15_DirectoryFileConfined(t *testing.T) {
	const secret = "TOKEN=s3cr3t-value"
	root := t.TempDir()
	dir := filepath.Join(root, "policy")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(root, "outside.csv")
	must(t, os.WriteFile(outside, []byte("c@x.io,IT\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "people.csv"), []byte("c@x.io,IT\n"), 0o600))
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "staff.csv"), []byte("d@x.io,IT\n"), 0o600))
	must(t, os.Symlink(outside, filepath.Join(dir, "escape.csv")))
	must(t, os.Symlink("/proc/self/environ", filepath.Join(dir, "environ.csv")))
	must(t, os.Symlink("sub/staff.csv", filepath.Join(dir, "inside.csv")))
	must(t, os.WriteFile(filepath.Join(dir, "secrets.csv"), []byte("email,department,manager,employment\n"+secret+",x,"+secret+",y\n"+secret+"@x.io\nmail,"+secret+"\n"), 0o600))

	load := func(file string) error {
		path := filepath.Join(dir, "policy.yaml")
		must(t, os.WriteFile(path, []byte(okPeople+"  file: "+file+"\nresources: []\nrules: []\n"), 0o600))
		_, err := Load(path)
		return err
	}
	for _, file := range []string{"people.csv", "sub/staff.csv", "inside.csv", "./people.csv"} {
		if err := load(file); err != nil {
			t.Errorf("file: %s: got %v, want it read", file, err)
		}
	}
	for _, tc := range []struct{ file, want string }{
		{"/proc/self/environ", "relative path inside the policy's folder"},
		{outside, "relative path inside the policy's folder"},
		{"../outside.csv", "relative path inside the policy's folder"},
		{"sub/../../outside.csv", "relative path inside the policy's folder"},
		{"escape.csv", "leads out of the policy's folder"},
		{"environ.csv", "leads out of the policy's folder"},
		{"sub", "not a regular file"},
	} {
		err := load(tc.file)
		var le *LoadError
		if !errors.As(err, &le) || len(le.Problems) != 1 || !strings.Contains(le.Problems[0].Message, tc.want) || le.Problems[0].Line != 5 {
			t.Errorf("file: %s: got %v, want one problem at line 5 saying %q", tc.file, err, tc.want)
		}
	}
	err := load("secrets.csv")
	if err == nil {
		t.Fatal("secrets.csv: got no problem, want its rows refused")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a value of the directory file is echoed in the problems:\n%v", err)
	}
	if !strings.Contains(err.Error(), "secrets.csv:2:1: this email is not an email address") {
		t.Errorf("got %v, want the position and what is wrong", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Issue 10 item 9: limits.pending_per_requester caps the pending requests
// of one person; 10 when the policy says nothing.
func TestIntegrity9_PendingPerRequesterKey(t *testing.T) {
	p, err := Parse("p.yaml", []byte("resources: []\nrules: []\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Limits.PendingPerRequester; got != 10 {
		t.Errorf("default: got %d, want 10", got)
	}
	p, err = Parse("p.yaml", []byte("resources: []\nrules: []\nlimits: {pending_per_requester: 3}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Limits.PendingPerRequester; got != 3 {
		t.Errorf("pending_per_requester: 3: got %d, want 3", got)
	}
	for _, tc := range []struct{ give, want string }{
		{"limits: {pending_per_requester: 0}\n", "p.yaml:3:33: pending_per_requester must be at least 1, got 0"},
		{"limits: {pending_per_requester: -2}\n", "p.yaml:3:33: pending_per_requester must be at least 1, got -2"},
		{"limits: {pending_per_requester: many}\n", `p.yaml:3:33: pending_per_requester must be a whole number, got "many"`},
		{"limits: {pending: 3}\n", `p.yaml:3:10: unknown key "pending" in limits: expected one of pending_per_requester`},
		{"limits: 3\n", "p.yaml:3:9: limits must be a mapping with the keys pending_per_requester, got the number 3"},
	} {
		got := problemsOf(t, "resources: []\nrules: []\n"+tc.give, nil)
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: got %q, want %q", strings.TrimSpace(tc.give), got, tc.want)
		}
	}
}

// Issue 10 item 10: by default an approver of an earlier step may not
// approve a later one; then.allow_repeat_approver opts out, and the
// evaluated route carries it.
func TestIntegrity10_AllowRepeatApproverKey(t *testing.T) {
	const pol = okPeople + `resources: [{id: r, provider: dryrun, group: g}]
rules:
  - name: two people
    if: {resource: [r], duration_at_most: 1h}
    then: {approvals: [{approvers: [manager]}, {approvers: [b@x.io]}]}
  - name: one may do both
    then:
      approvals: [{approvers: [manager]}, {approvers: [b@x.io]}]
      allow_repeat_approver: true
`
	p, err := Parse("p.yaml", []byte(pol), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rules[0].Then.AllowRepeatApprover || !p.Rules[1].Then.AllowRepeatApprover {
		t.Fatalf("rules: got %v and %v, want false then true", p.Rules[0].Then.AllowRepeatApprover, p.Rules[1].Then.AllowRepeatApprover)
	}
	for _, tc := range []struct {
		d    time.Duration
		want bool
	}{{time.Hour, false}, {2 * time.Hour, true}} {
		dec, err := p.Evaluate(t.Context(), Query{Requester: "a@x.io", Resource: "r", Duration: tc.d}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dec.AllowRepeatApprover != tc.want {
			t.Errorf("%v: got AllowRepeatApprover %v, want %v", tc.d, dec.AllowRepeatApprover, tc.want)
		}
	}
	got := problemsOf(t, okPeople+"resources: []\nrules:\n  - then: {auto_approve: true, allow_repeat_approver: sometimes}\n", nil)
	if want := `p.yaml:7:55: allow_repeat_approver must be true or false, got "sometimes"`; len(got) != 1 || got[0] != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Issue 10 item 3: reconcile takes remove (the default), repair or report.
func TestIntegrity3_ReconcileRepairKey(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`resources:
  - {id: a, provider: dryrun, group: a}
  - {id: b, provider: dryrun, group: b, reconcile: repair}
  - {id: c, provider: dryrun, group: c, reconcile: Report}
rules: []
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Resources {
		got = append(got, r.Reconcile)
	}
	if want := []string{ReconcileRemove, ReconcileRepair, ReconcileReport}; strings.Join(got, ",") != strings.Join(want, ",") || ReconcileRepair != "repair" {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Issue 14 defect 7: a CSV without an email header read its header row as
// a person.
func TestFirstHour7_CSVHeaderWithoutEmail(t *testing.T) {
	for _, tc := range []struct{ csv, want string }{
		{"mail,department\nc@x.io,IT\n", "staff.csv:1:1: unknown column"},
		{"department,manager\nIT,b@x.io\n", "staff.csv:1:1: the header names no email column"},
		{"Name,Team\n", "staff.csv:1:1: unknown column"},
	} {
		got := problemsOf(t, okPeople+"  file: staff.csv\nresources: []\nrules: []\n", files{"staff.csv": tc.csv})
		if len(got) == 0 || !strings.HasPrefix(got[0], tc.want) {
			t.Errorf("%q: got %q, want a problem starting %q", tc.csv, got, tc.want)
		}
		for _, g := range got {
			if strings.Contains(g, "not an email address") {
				t.Errorf("%q: the header was read as a person: %q", tc.csv, g)
			}
		}
	}
}

// Issue 14 defect 1: policy check accepted rules that can never be met,
// and durations far beyond sense.
func TestFirstHour1_RulesThatCanNeverBeMet(t *testing.T) {
	const people = `directory:
  people:
    - {email: a@x.io, manager: b@x.io}
    - {email: b@x.io}
    - {email: c@x.io}
resources:
  - {id: r, provider: dryrun, group: r, owners: [c@x.io]}
  - {id: s, provider: dryrun, group: s, owners: [b@x.io, c@x.io]}
rules:
`
	for _, tc := range []struct {
		name, rules string
		want        string // "" : valid
	}{
		{"ManagerQuorum3", "  - then: {approvals: [{approvers: [manager], quorum: 3}]}\n",
			"p.yaml:10:55: quorum 3 can never be met: the step's approvers are at most 1 people (manager is one person)"},
		{"ManagerAndEmail", "  - then: {approvals: [{approvers: [manager, c@x.io], quorum: 2}]}\n", ""},
		{"OwnersOfTheRulesResources", "  - if: {resource: r}\n    then: {approvals: [{approvers: [owner], quorum: 2}]}\n",
			"p.yaml:11:53: quorum 2 can never be met: the step's approvers are at most 1 people (owner is at most 1)"},
		{"OwnersOfAnyResource", "  - then: {approvals: [{approvers: [owner], quorum: 2}]}\n", ""},
		{"GroupsKnownOnlyOnline", "  - then: {approvals: [{approvers: [group:leads], quorum: 5}]}\n", ""},
		{"TwoStepsOnePerson", "  - name: admin\n    then: {approvals: [{approvers: [manager]}, {approvers: [manager]}]}\n",
			`p.yaml:11:48: steps 1 to 2 of rule "admin" need 2 different people (an approver of an earlier step may not approve a later one) but name at most 1`},
		{"TwoStepsOnePersonAllowed", "  - then: {approvals: [{approvers: [manager]}, {approvers: [manager]}], allow_repeat_approver: true}\n", ""},
		{"TwoStepsTwoPeople", "  - then: {approvals: [{approvers: [manager]}, {approvers: [c@x.io]}]}\n", ""},
		{"Durations", "  - then: {auto_approve: true, max_duration: 100000d, request_ttl: 366d}\n", "p.yaml:10:46: max_duration: 100000d is longer than the limit of 365d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problemsOf(t, people+tc.rules, nil)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("got %q, want the policy valid", got)
			case tc.want != "" && (len(got) == 0 || !strings.HasPrefix(got[0], tc.want)):
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// With group sizes from Slack, CheckQuorums finds what only Slack knows.
	p, err := Parse("p.yaml", []byte(people+"  - then: {approvals: [{approvers: [group:leads, c@x.io], quorum: 3}]}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := p.CheckQuorums(func(h string) (int, bool) { return map[string]int{"leads": 1}[h], h == "leads" })
	if want := "p.yaml:10:67: quorum 3 can never be met: the step's approvers are at most 2 people (group:leads has 1 members)"; len(got) != 1 || got[0].String() != want {
		t.Errorf("CheckQuorums: got %v, want %q", got, want)
	}
	if got := p.CheckQuorums(func(string) (int, bool) { return 2, true }); len(got) != 0 {
		t.Errorf("CheckQuorums with a big enough group: got %v, want none", got)
	}
}
