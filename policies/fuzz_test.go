package policies

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzSeeds are small policies, one or two sections each. The fuzzer
// minimizes every input that finds new code for up to -fuzzminimizetime
// (60 s by default), running the target again and again meanwhile: from a
// 2 KB seed (the whole example, once the only seed) that is most of its
// time, and it made about 120 new inputs a second. Small seeds keep each
// minimization short; together they still reach every section.
var fuzzSeeds = []string{
	"directory:\n  people:\n    - {email: a@x.io, department: Eng, manager: b@x.io, employment: internal}\n    - {email: b@x.io}\nresources: [{id: r, provider: dryrun, group: g}]\nrules: [{then: {approvals: [{approvers: [manager]}]}}]\n",
	"directory: {file: people.csv}\nresources: [{id: r, provider: jira, group: g, max_duration: 4h, kind: admin}]\nrules: [{if: {resource_kind: admin}, then: {auto_approve: true, allow_auto_admin: true}}]\n",
	"resources:\n  - {id: a, provider: jira, group: a, owners: [o@x.io]}\n  - {id: b, bundle: [a], max_duration: 8h}\nrules:\n  - {name: n, if: {resource: [b], duration_at_most: 2h}, then: {approvals: [{approvers: [owner, group:it], quorum: 2}], notify: ['#c']}}\n",
	"directory: {people: [{email: a@x.io}]}\nresources: [{id: r, provider: dryrun, group: g}]\nrules: [{if: {requester: {email_domain: [x.io], department: [A]}}, then: {auto_approve: true, max_duration: 1d}}]\nlimits: {pending_per_requester: 3}\nlint: strict\n",
	"resources: [{id: r, provider: dryrun, group: g}]\nrules: []\nreviews:\n  - {name: e, if: {user: {employment: internal}}, inactive_for: 30d, schedule: \"0 9 * * MON\", action: prompt_manager, answer_within: 5d, default: keep}\ntimezone: Europe/Paris\nlicence_costs: {confluence: 6.05}\n",
	"resources: []\nrules: []\nreviews: [{name: s, inactive_for: 2d, schedule: '@every 12h', action: suspend, warn_before: 1d, exclude: [svc-*@x.io, group:g]}]\n",
	"a: &a {x: 1}\nrules: [{<<: [*a, *a]}]\n",
	"directory: {people: [{email: a@x.io, manager: b@x.io}, {email: b@x.io, manager: a@x.io}]}\nresources: [{id: b, bundle: [b]}]\nrules: []\n",
}

// FuzzParse checks that no input makes Parse, or Evaluate and the lint on
// what it accepts, panic, and that every problem has a position.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), []byte("email,department,manager,employment,slack_id\nc@x.io,Fin,a@x.io,internal,U1\n"))
	}
	f.Add([]byte(matcherPolicy), []byte(nil))
	f.Add([]byte("directory: {file: people.csv}\nresources: []\nrules: []\n"), []byte("email\n\"x"))
	f.Fuzz(func(t *testing.T, policy, people []byte) {
		readFile := func(string) ([]byte, error) {
			if people == nil {
				return nil, errors.New("no such file")
			}
			return people, nil
		}
		p, err := Parse("fuzz.yaml", policy, readFile)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("got %v, want a *LoadError with problems", err)
			}
			for _, pr := range le.Problems {
				if pr.Line < 1 || pr.Column < 1 || pr.Message == "" || strings.Contains(pr.Message, "strconv.") {
					t.Fatalf("problem %q: want a position and a plain message", pr)
				}
			}
			return
		}
		ctx := context.Background()
		resolver := fakeGroups{"it-leads": {"alice@example.com", "x@y"}}
		// In order: the same input must run the same code every time, or
		// the fuzzer takes the differences for new coverage.
		for _, email := range slices.Sorted(maps.Keys(p.People)) {
			for _, r := range p.Resources {
				for _, d := range []time.Duration{0, time.Hour, 40 * Day} {
					p.Evaluate(ctx, Query{Requester: email, Resource: r.ID, Duration: d}, nil)
					p.Evaluate(ctx, Query{Requester: email, Resource: r.ID, Duration: d}, resolver)
				}
				p.MaxFor(email, r.ID, time.Time{})
				p.Leaves(r.ID)
				p.IsAdmin(r.ID)
				p.FindingsFor("", r.ID)
			}
		}
		for _, fd := range p.Findings {
			if fd.Severity != SeverityWarning || fd.Line < 1 || !utf8.ValidString(fd.Message) {
				t.Fatalf("finding %v: want a warning with a position", fd)
			}
		}
		p.Groups()
	})
}

// FuzzParseDuration checks that a duration from a policy or a slash
// command either reads as a positive duration that prints back the same,
// or is refused with a plain message.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"2h", "1d12h", "90m", "30s", "0h", "-1h", "1.5h", "100000d", "9999999999999999999d", "2H", " 2h ", "1d1d", "h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "strconv.") {
				t.Fatalf("ParseDuration(%q): message %q", s, msg)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("ParseDuration(%q) = %v, want a positive duration", s, d)
		}
		back, err := ParseDuration(FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(FormatDuration(%v)) = %v, %v", d, back, err)
		}
	})
}

// FuzzDirectoryCSV checks the directory file: no panic, every problem at a
// line of the file, and no value of the file echoed in a problem.
func FuzzDirectoryCSV(f *testing.F) {
	policy := []byte("directory: {file: people.csv}\nresources: [{id: r, provider: dryrun, group: g}]\nrules: [{then: {approvals: [{approvers: [manager]}]}}]\n")
	for _, s := range []string{
		"email,department,manager,employment,slack_id\na@x.io,Eng,b@x.io,internal,U1\nb@x.io,Eng,,external,\n",
		"email\na@x.io\n",
		"slack_id,email,manager\nU1,a@x.io,a@x.io\n",
		"email,manager\na@x.io,b@x.io\nb@x.io,a@x.io\n",
		"email,colour\n\"a@x.io\",red\n",
		"\xef\xbb\xbfemail;department\r\na@x.io;x\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, csv []byte) {
		_, err := Parse("policy.yaml", policy, func(string) ([]byte, error) { return csv, nil })
		var le *LoadError
		if err == nil {
			return
		}
		if !errors.As(err, &le) {
			t.Fatalf("got %v, want a *LoadError", err)
		}
		values := strings.FieldsFunc(string(csv), func(r rune) bool { return strings.ContainsRune(",;\t\r\n\"", r) })
		for _, pr := range le.Problems {
			if pr.File != "people.csv" && pr.File != "policy.yaml" || pr.Line < 1 || pr.Column < 1 {
				t.Fatalf("problem %q: want a position in people.csv", pr)
			}
			for _, v := range values {
				if pr.File == "people.csv" && len(v) >= 5 && strings.Contains(v, "@") && strings.Contains(pr.Message, v) {
					t.Fatalf("problem %q echoes %q from the file", pr, v)
				}
			}
		}
	})
}
