package policies

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

// files is a fake file system for directory.file.
type files map[string]string

func (f files) read(path string) ([]byte, error) {
	s, ok := f[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

// problemsOf parses give as p.yaml and returns its problems as strings.
func problemsOf(t *testing.T, give string, fsys files) []string {
	t.Helper()
	_, err := Parse("p.yaml", []byte(give), fsys.read)
	if err == nil {
		return nil
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("got %T %v, want a *LoadError", err, err)
	}
	var out []string
	for _, p := range le.Problems {
		out = append(out, p.String())
	}
	if got, want := err.Error(), strings.Join(out, "\n"); got != want {
		t.Errorf("Error(): got %q, want %q", got, want)
	}
	return out
}

// A valid policy the cases below start from.
const okPeople = `directory:
  people:
    - {email: a@x.io, manager: b@x.io}
    - {email: b@x.io}
`

func TestParse_Problems(t *testing.T) {
	tests := []struct {
		name  string
		give  string
		files files
		// want holds "file:line:column: part of the message", in order.
		want []string
	}{
		// The file as a whole.
		{name: "empty file", give: "", want: []string{"p.yaml:1:1: the policy is empty: expected a mapping with the keys directory, resources, rules"}},
		{name: "only a comment", give: "# nothing yet\n", want: []string{"p.yaml:1:1: the policy is empty"}},
		{name: "a list", give: "- a\n- b\n", want: []string{"p.yaml:1:1: the policy must be a mapping with the keys directory, resources, rules, got a list"}},
		{name: "a string", give: "\n\nhello\n", want: []string{`p.yaml:1:1: the policy must be a mapping with the keys directory, resources, rules, got "hello"`}},
		{name: "syntax error", give: "rules: []\nresources:\n  - id: a\n   provider: x\n", want: []string{"p.yaml:2:1: invalid YAML: did not find expected '-' indicator"}},
		{name: "tab indentation", give: "rules:\n\t- a\n", want: []string{"p.yaml:2:1: invalid YAML: found character that cannot start any token"}},
		{name: "two documents", give: "resources: []\nrules: []\n---\nrules: []\n", want: []string{"p.yaml:4:1: a policy file holds one YAML document"}},
		{name: "missing sections", give: "directory: {}\n", want: []string{
			`p.yaml:1:1: the policy is missing the required key "resources"`,
			`p.yaml:1:1: the policy is missing the required key "rules"`,
		}},
		{name: "unknown top-level key", give: "resources: []\nrules: []\nrole: x\n", want: []string{
			`p.yaml:3:1: unknown key "role" in the policy: expected one of directory, resources, rules`,
		}},
		{name: "repeated key", give: "resources: []\nrules: []\nresources: []\n", want: []string{
			`p.yaml:3:1: key "resources" is repeated (first at line 1)`,
		}},
		{name: "sections of the wrong type", give: "directory: []\nresources: {id: r}\nrules: all\n", want: []string{
			"p.yaml:1:12: directory must be a mapping with the keys file, people, sources, sync_every, max_drop, employment_values, got a list",
			"p.yaml:2:12: resources must be a list, got a mapping",
			`p.yaml:3:8: rules must be a list, got "all"`,
		}},

		// The directory.
		{name: "unknown person key", give: "directory:\n  people:\n    - {email: a@x.io, phone: 1}\nresources: []\nrules: []\n", want: []string{
			`p.yaml:3:23: unknown key "phone" in a person: expected one of email, department, manager, employment, slack_id`,
		}},
		{name: "person without email", give: "directory:\n  people:\n    - {department: IT}\nresources: []\nrules: []\n", want: []string{
			`p.yaml:3:7: a person is missing the required key "email"`,
		}},
		{name: "bad person values", give: "directory:\n  people:\n    - {email: nobody, employment: temp}\n    - {email: c@x.io, employment: [internal]}\n    - {email: d@x.io, manager: boss}\nresources: []\nrules: []\n", want: []string{
			`p.yaml:3:15: email "nobody" is not an email address`,
			`p.yaml:3:35: employment must be internal | external, got "temp"`,
			"p.yaml:4:35: employment must be a string, got a list",
			`p.yaml:5:32: manager "boss" is not an email address`,
		}},
		{name: "duplicate email", give: okPeople + "    - {email: A@X.io}\nresources: []\nrules: []\n", want: []string{
			"p.yaml:5:15: a@x.io is listed twice in the directory (first at line 3)",
		}},
		{name: "unknown manager", give: "directory:\n  people:\n    - {email: a@x.io, manager: c@x.io}\nresources: []\nrules: []\n", want: []string{
			"p.yaml:3:32: manager c@x.io is not in the directory",
		}},
		{name: "own manager", give: "directory:\n  people:\n    - {email: a@x.io, manager: A@x.io}\nresources: []\nrules: []\n", want: []string{
			"p.yaml:3:32: a@x.io cannot be their own manager",
		}},

		// The CSV directory file.
		{name: "missing csv", give: "directory:\n  file: people.csv\nresources: []\nrules: []\n", want: []string{
			"p.yaml:2:9: cannot read the directory file people.csv: open people.csv: file does not exist",
		}},
		{name: "csv problems", give: okPeople + "  file: staff.csv\nresources: []\nrules: []\n", files: files{"staff.csv": "" +
			"email,department,manager,employment,slack_id\n" +
			"c@x.io,IT,b@x.io,internal,U1\n" +
			"d@x.io,IT,z@x.io,contractor,\n" +
			"a@x.io,IT,,,\n" +
			",IT,b@x.io,internal,\n" +
			"e@x.io,IT,b@x.io,internal,U2,extra\n"},
			want: []string{
				"staff.csv:3:11: this manager is not in the directory",
				"staff.csv:3:18: employment must be internal | external",
				"staff.csv:4:1: this person is listed twice in the directory (first at p.yaml:3)",
				"staff.csv:5:1: missing email",
				"staff.csv:6:30: too many columns",
			}},
		{name: "csv header", give: okPeople + "  file: staff.csv\nresources: []\nrules: []\n", files: files{"staff.csv": "email,phone,email\nc@x.io,1,2\n"}, want: []string{
			"staff.csv:1:7: unknown column: expected email,department,manager,employment,slack_id",
			`staff.csv:1:13: column "email" is repeated`,
		}},
		{name: "csv without header, reordered header", give: okPeople + "  file: staff.csv\nresources: []\nrules: []\n", files: files{"staff.csv": "c@x.io,IT,b@x.io,external\nd@x.io,IT,b@x.io,internal,U1,x\n"}, want: []string{
			"staff.csv:2:30: too many columns: expected email,department,manager,employment,slack_id",
		}},
		{name: "csv syntax", give: okPeople + "  file: dir/staff.csv\nresources: []\nrules: []\n", files: files{"dir/staff.csv": "email\nc@x.io\n\"d@x.io\nx\"y\n"}, want: []string{
			`dir/staff.csv:4:2: invalid CSV: extraneous or missing " in quoted-field`,
		}},

		// Resources.
		{name: "unknown resource key", give: "resources:\n  - {id: r, provider: dryrun, group: g, owner: [a@x.io]}\nrules: []\n", want: []string{
			`p.yaml:2:41: unknown key "owner" in a resource: expected one of id, name, provider, group, kind, max_duration, owners, bundle, reconcile`,
		}},
		{name: "missing resource keys", give: "resources:\n  - {name: R}\n  - id: s\n    kind: admin\nrules: []\n", want: []string{
			`p.yaml:2:5: a resource is missing the required key "group"`,
			`p.yaml:2:5: a resource is missing the required key "id"`,
			`p.yaml:2:5: a resource is missing the required key "provider"`,
			`p.yaml:3:5: resource "s" is missing the required key "group"`,
			`p.yaml:3:5: resource "s" is missing the required key "provider"`,
		}},
		{name: "bad resource values", give: "" +
			"resources:\n" +
			"  - id: r\n" +
			"    provider: confluence\n" +
			"    group: [g]\n" +
			"    kind: superuser\n" +
			"    max_duration: 4 hours\n" +
			"    reconcile: ignore\n" +
			"    owners: nobody\n" +
			"rules: []\n",
			want: []string{
				`p.yaml:3:15: unknown provider "confluence": expected jira | atlassian-admin | dryrun`,
				"p.yaml:4:12: group must be a string, got a list",
				`p.yaml:5:11: kind must be admin | standard, got "superuser"`,
				`p.yaml:6:19: max_duration: invalid duration "4 hours"`,
				`p.yaml:7:16: reconcile must be remove | repair | report, got "ignore"`,
				`p.yaml:8:13: owners must be a list of strings, got "nobody"`,
			}},
		{name: "bad durations", give: "resources:\n  - {id: r, provider: dryrun, group: g, max_duration: 0h}\n  - {id: s, provider: dryrun, group: g, max_duration: 8}\n  - {id: t, provider: dryrun, group: g, max_duration: -1d}\nrules: []\n", want: []string{
			`p.yaml:2:55: max_duration: duration "0h" must be longer than zero`,
			`p.yaml:3:55: max_duration: invalid duration "8": "8" has no unit`,
			`p.yaml:4:55: max_duration: duration "-1d" is negative`,
		}},
		{name: "owners", give: okPeople + "resources:\n  - {id: r, provider: dryrun, group: g, owners: [a@x.io, c@x.io, owner, B@x.io, b@x.io]}\nrules: []\n", want: []string{
			"p.yaml:6:58: owner c@x.io is not in the directory",
			`p.yaml:6:66: owner "owner" is not an email address`,
			"p.yaml:6:81: owner b@x.io is listed twice",
		}},
		{name: "duplicate ids", give: "resources:\n  - {id: r, provider: dryrun, group: g}\n  - {id: r, provider: jira, group: h}\nrules: []\n", want: []string{
			`p.yaml:3:10: resource id "r" is already used (first at line 2)`,
		}},
		{name: "bundles", give: "" +
			"resources:\n" +
			"  - {id: r, provider: dryrun, group: g}\n" +
			"  - {id: b, bundle: [r, nope, r], provider: jira, group: g}\n" +
			"  - {id: e, bundle: []}\n" +
			"  - {id: f, bundle: r}\n" +
			"rules: []\n",
			want: []string{
				`p.yaml:3:25: bundle member "nope" is not a resource defined under resources`,
				`p.yaml:3:31: bundle member "r" is listed twice`,
				"p.yaml:3:35: a bundle has no provider of its own",
				"p.yaml:3:51: a bundle has no group of its own",
				"p.yaml:4:21: bundle must list at least one resource id",
				`p.yaml:5:21: bundle must be a list of strings, got "r"`,
			}},
		{name: "bundle cycles", give: "" +
			"resources:\n" +
			"  - {id: a, bundle: [b]}\n" +
			"  - {id: b, bundle: [c]}\n" +
			"  - {id: c, bundle: [a]}\n" +
			"  - {id: d, bundle: [d]}\n" +
			"rules: []\n",
			want: []string{
				"p.yaml:4:22: bundle cycle: a → b → c → a",
				"p.yaml:5:22: bundle cycle: d → d",
			}},

		// Rules.
		{name: "unknown rule keys", give: "resources: []\nrules:\n  - name: x\n    when: {}\n    then: {auto_approve: true, approve: true}\n", want: []string{
			`p.yaml:4:5: unknown key "when" in a rule: expected one of name, if, then`,
			`p.yaml:5:32: unknown key "approve" in then: expected one of approvals, auto_approve, notify, max_duration, require_ticket, request_ttl, allow_self_approval`,
		}},
		{name: "unknown matcher keys", give: "resources: []\nrules:\n  - if: {group: x, requester: {title: boss}}\n    then: {auto_approve: true}\n", want: []string{
			`p.yaml:3:10: unknown key "group" in if: expected one of requester, resource, resource_kind, duration_at_most, duration_longer_than`,
			`p.yaml:3:32: unknown key "title" in requester: expected one of department, employment, email, email_domain`,
		}},
		{name: "missing then", give: "resources: []\nrules:\n  - name: x\n", want: []string{
			`p.yaml:3:5: rule "x" is missing the required key "then"`,
		}},
		{name: "approvals and auto_approve", give: "resources: []\nrules:\n  - then: {auto_approve: true, approvals: [{approvers: [manager]}]}\n", want: []string{
			"p.yaml:3:12: a rule either auto-approves or lists approvals, not both",
		}},
		{name: "neither approvals nor auto_approve", give: "resources: []\nrules:\n  - then: {notify: [\"#x\"]}\n  - then: {auto_approve: false}\n", want: []string{
			"p.yaml:3:11: then needs either approvals or auto_approve: true",
			"p.yaml:4:11: then needs either approvals or auto_approve: true",
		}},
		{name: "bad action values", give: "" +
			"resources: []\n" +
			"rules:\n" +
			"  - name: x\n" +
			"    then:\n" +
			"      auto_approve: yes\n" +
			"      notify: \"#x\"\n" +
			"      request_ttl: 1w\n" +
			"      require_ticket: 1\n" +
			"      allow_self_approval: null\n" +
			"      max_duration: [1h]\n",
			want: []string{
				`p.yaml:5:21: auto_approve must be true or false, got "yes"`,
				`p.yaml:6:15: notify must be a list of strings, got "#x"`,
				`p.yaml:7:20: request_ttl: invalid duration "1w": unknown unit "w"`,
				"p.yaml:8:23: require_ticket must be true or false, got the number 1",
				"p.yaml:9:28: allow_self_approval must be true or false, got nothing",
				"p.yaml:10:21: max_duration must be a duration like 4h or 30d, got a list",
			}},
		{name: "approval steps", give: "" +
			"resources: []\n" +
			"rules:\n" +
			"  - then:\n" +
			"      approvals:\n" +
			"        - approvers: [boss, group:, group:it leads, x@, owner]\n" +
			"        - {approvers: [manager], quorum: 0}\n" +
			"        - {approvers: [a@x.io, A@x.io], quorum: 2}\n" +
			"        - {approvers: [manager], quorum: two}\n" +
			"        - {approvers: []}\n" +
			"        - {quorum: 1}\n" +
			"        - {approvers: [manager], who: x}\n" +
			"  - then: {approvals: []}\n",
			want: []string{
				`p.yaml:5:23: unknown approver "boss": expected manager, owner, group:HANDLE or an email address`,
				`p.yaml:5:29: approver "group:": expected group: followed by a Slack user group handle`,
				`p.yaml:5:37: approver "group:it leads"`,
				`p.yaml:5:53: approver "x@" is not an email address`,
				"p.yaml:6:42: quorum must be at least 1, got 0",
				"p.yaml:7:49: quorum 2 can never be met: the step lists 1 distinct approvers",
				`p.yaml:8:42: quorum must be a whole number, got "two"`,
				"p.yaml:9:23: approvers must list at least one approver",
				`p.yaml:10:11: an approval step is missing the required key "approvers"`,
				`p.yaml:11:34: unknown key "who" in an approval step`,
				"p.yaml:12:23: approvals must list at least one step",
			}},
		{name: "matcher values", give: okPeople + "" +
			"resources:\n" +
			"  - {id: r, provider: dryrun, group: g}\n" +
			"rules:\n" +
			"  - if:\n" +
			"      resource: [r, s]\n" +
			"      resource_kind: root\n" +
			"      duration_at_most: 1h\n" +
			"      duration_longer_than: 2h\n" +
			"      requester: {employment: [staff], email: bob, email_domain: '', department: []}\n" +
			"    then: {auto_approve: true}\n" +
			"  - if: {resource: nope, requester: {email_domain: [\"a b\"]}}\n" +
			"    then: {auto_approve: true}\n" +
			"  - if: []\n" +
			"    then: {auto_approve: true}\n",
			want: []string{
				`p.yaml:9:21: unknown resource "s": expected an id defined under resources`,
				`p.yaml:10:22: resource_kind must be admin | standard, got "root"`,
				"p.yaml:11:25: duration_at_most 1h is not longer than duration_longer_than 2h: the rule can never match",
				`p.yaml:13:32: employment: expected internal | external, got "staff"`,
				`p.yaml:13:47: email: "bob" is not an email address`,
				"p.yaml:13:66: email_domain entries must not be empty",
				"p.yaml:13:82: department must list at least one value",
				`p.yaml:15:20: unknown resource "nope"`,
				`p.yaml:15:53: email_domain: "a b" is not a domain like example.com`,
				"p.yaml:17:9: if must be a mapping with the keys requester, resource, resource_kind, duration_at_most, duration_longer_than, time, got a list",
			}},
		{name: "duplicate rule names", give: "resources: []\nrules:\n  - {name: a, then: {auto_approve: true}}\n  - {name: a, then: {auto_approve: true}}\n", want: []string{
			`p.yaml:4:12: rule name "a" is already used (first at line 3)`,
		}},

		// Ordering: problems are sorted by position, the policy file first.
		{name: "sorted", give: "" +
			"rules:\n" +
			"  - then: {}\n" +
			"resources:\n" +
			"  - {id: r, provider: nope, group: g, owners: [z@x.io]}\n" +
			"directory:\n" +
			"  file: staff.csv\n" +
			"  people: [{email: a@x.io, employment: x}]\n",
			files: files{"staff.csv": "email,department,manager\nb@x.io,IT,y@x.io\n"},
			want: []string{
				"p.yaml:2:11: then needs either approvals or auto_approve",
				`p.yaml:4:23: unknown provider "nope"`,
				"p.yaml:4:48: owner z@x.io is not in the directory",
				`p.yaml:7:40: employment must be internal | external, got "x"`,
				"staff.csv:2:11: this manager is not in the directory",
			}},

		// Aliases cannot make the parser run away.
		{name: "alias bomb", give: "" +
			"a: &a {x: 1}\n" +
			"b: &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}\n" +
			"c: &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}\n" +
			"d: &d {<<: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}\n" +
			"e: &e {<<: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]}\n" +
			"resources: []\n" +
			"rules: [{<<: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]}]\n",
			want: []string{
				`p.yaml:1:1: unknown key "a" in the policy`,
				`p.yaml:2:1: unknown key "b" in the policy`,
				`p.yaml:3:1: unknown key "c" in the policy`,
				`p.yaml:4:1: unknown key "d" in the policy`,
				`p.yaml:5:1: unknown key "e" in the policy`,
				"too many YAML aliases",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, tt.give, tt.files)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems:\n\t%s\nwant %d:\n\t%s", len(got), strings.Join(got, "\n\t"), len(tt.want), strings.Join(tt.want, "\n\t"))
			}
			for i, w := range tt.want {
				at, msg, _ := strings.Cut(w, ": ")
				if !strings.Contains(w, ": ") {
					at, msg = "", w
				}
				if !strings.HasPrefix(got[i], at+":") && at != "" || !strings.Contains(got[i], msg) {
					t.Errorf("problem %d: got %q, want %q", i+1, got[i], w)
				}
			}
		})
	}
}

func TestParse_Valid(t *testing.T) {
	t.Run("MergeKeysAndAliases", func(t *testing.T) {
		p, err := Parse("p.yaml", []byte(okPeople+`
resources:
  - &leaf {id: r, provider: dryrun, group: g, max_duration: 2d}
  - {<<: *leaf, id: s, group: h}
rules:
  - name: first
    then: &then
      approvals: [{approvers: &who [manager, b@x.io], quorum: 2}]
  - name: second
    then: {<<: *then, notify: ["#x"]}
`), nil)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := p.Resource("s")
		want := &Resource{ID: "s", Name: "s", Provider: "dryrun", Group: "h", Kind: "standard", MaxDuration: 48 * time.Hour, Reconcile: "remove"}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("merged resource: got %+v, want %+v", s, want)
		}
		wantThen := Action{Approvals: []Approval{{Approvers: []string{"manager", "b@x.io"}, Quorum: 2}}, Notify: []string{"#x"}, RequestTTL: 24 * time.Hour}
		if got := p.Rules[1].Then; !reflect.DeepEqual(got, wantThen) {
			t.Errorf("merged rule: got %+v, want %+v", got, wantThen)
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		p, err := Parse("p.yaml", []byte("resources: [{id: r, provider: atlassian-admin, group: g, kind: ADMIN}]\nrules: []\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		r := p.Resources[0]
		if r.Name != "r" || r.Kind != KindAdmin || r.MaxDuration != 8*time.Hour || r.Reconcile != ReconcileRemove {
			t.Errorf("defaults: got %+v, want name r, kind admin, 8h, remove", r)
		}
		if len(p.People) != 0 || p.People == nil {
			t.Errorf("people: got %v, want an empty map", p.People)
		}
	})

	t.Run("CSVWithoutHeader", func(t *testing.T) {
		fsys := files{"/etc/jitbot/staff.csv": "\ufeffC@X.io, IT ,b@x.io,External,U9\n# a comment\n\nd@x.io\n"}
		p, err := Parse("/etc/jitbot/policy.yaml", []byte(okPeople+"  file: staff.csv\nresources: []\nrules: []\n"), fsys.read)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.People["c@x.io"], (&Person{Email: "c@x.io", Department: "IT", Manager: "b@x.io", Employment: "external", SlackID: "U9"}); !reflect.DeepEqual(got, want) {
			t.Errorf("c@x.io: got %+v, want %+v", got, want)
		}
		if _, ok := p.People["d@x.io"]; !ok || len(p.People) != 4 {
			t.Errorf("people: got %d, want 4 with d@x.io", len(p.People))
		}
	})

	t.Run("CSVReorderedHeader", func(t *testing.T) {
		fsys := files{"staff.csv": "Email,Slack_ID,Employment\nc@x.io,U1,internal\n"}
		p, err := Parse("p.yaml", []byte(okPeople+"  file: staff.csv\nresources: []\nrules: []\n"), fsys.read)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.People["c@x.io"]; got.SlackID != "U1" || got.Employment != "internal" {
			t.Errorf("c@x.io: got %+v, want slack id U1, internal", got)
		}
	})

	t.Run("NestedBundles", func(t *testing.T) {
		p, err := Parse("p.yaml", []byte(`
resources:
  - {id: a, provider: jira, group: a, max_duration: 30d}
  - {id: b, provider: jira, group: b, kind: admin, max_duration: 30d}
  - {id: c, provider: dryrun, group: a, max_duration: 30d}
  - {id: inner, bundle: [b, a], max_duration: 3d}
  - {id: outer, bundle: [a, inner, c], max_duration: 10d}
rules: []
`), nil)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range p.Leaves("outer") {
			ids = append(ids, r.ID)
		}
		if want := []string{"a", "b", "c"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("Leaves(outer): got %v, want %v", ids, want)
		}
		if !p.IsAdmin("outer") {
			t.Error("IsAdmin(outer): got false, want true")
		}
		if got, want := p.resourceMax(p.byID["outer"]), 3*Day; got != want {
			t.Errorf("max of outer: got %v, want %v (the inner bundle's)", got, want)
		}
		if want := map[string][]string{"jira": {"a", "b"}, "dryrun": {"a"}}; !reflect.DeepEqual(p.Groups(), want) {
			t.Errorf("Groups: got %v, want %v", p.Groups(), want)
		}
	})
}
