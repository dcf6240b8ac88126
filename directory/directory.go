// Package directory builds the people jitbot knows — department, manager
// and employment type — from identity providers (Okta, Entra ID, Google
// Workspace, the Atlassian organisation), merged in the policy's order,
// with the policy file's own people winning as overrides.
//
// A Source lists Entries as its IdP stores them, already read through the
// policy's attribute map (which attribute holds the department, the
// manager, the employment type). Build resolves what an Entry leaves raw:
// a manager given by IdP user id, login or email becomes the manager's
// email; an employment value becomes internal or external through
// employment_values (a value already reading internal or external maps to
// itself). What cannot be resolved — an unknown manager, an unmapped
// employment value, a manager chain that loops — is reported as a Problem,
// never guessed. Every attribute of the result names the source that said
// it.
//
// The package is domain: it knows no HTTP, no Slack and no SQL.
package directory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/policies"
)

// Employment values jitbot knows.
const (
	Internal = "internal"
	External = "external"
)

// Source names used for attributes that do not come from an IdP.
const (
	SourcePolicy = "policy" // the policy file's inline people or its CSV
)

// Entry is one person as an identity provider reports them.
type Entry struct {
	ID         string // the IdP's user id
	Login      string // the IdP's login (Okta login, Graph userPrincipalName)
	Email      string // the primary email
	Department string
	Manager    string // as the IdP holds it: a user id, a login or an email
	Employment string // the IdP's own value (Employee, Contractor, …)
	Suspended  bool   // the IdP has the account suspended or disabled
}

// A Source lists the people of one identity provider.
type Source interface {
	// Name names the source in attributes and messages: okta, entra,
	// google, atlassian.
	Name() string
	// People calls fn with each page of entries until there are no more
	// or fn returns an error, which People returns.
	People(ctx context.Context, fn func(page []Entry) error) error
}

// Map names which IdP attribute holds each of jitbot's attributes. An
// empty field takes the IdP's default (see each adapter).
type Map struct {
	Department string
	Manager    string
	Employment string
}

// Or fills the empty fields of m from def.
func (m Map) Or(def Map) Map {
	if m.Department == "" {
		m.Department = def.Department
	}
	if m.Manager == "" {
		m.Manager = def.Manager
	}
	if m.Employment == "" {
		m.Employment = def.Employment
	}
	return m
}

// Person is what jitbot believes about one person, and who said it.
type Person struct {
	policies.Person
	// Sources names the source of each attribute set: keys department,
	// manager, employment; values a Source's Name or SourcePolicy. People
	// with the same sources share one map: never change it in place.
	Sources map[string]string
	// Suspended: the IdP that said the manager or department has the
	// account suspended.
	Suspended bool
	// IDs holds the person's user id at each source that lists them.
	IDs IDs
}

// IDs are a person's user ids by source, kept as one string
// ("okta=00u1\nentra=4f2…"): a map per person would cost a hundred
// thousand maps for a hundred thousand people.
type IDs string

// Get returns the id at source, "" when it does not list the person.
func (ids IDs) Get(source string) string {
	for _, line := range strings.Split(string(ids), "\n") {
		if s, id, ok := strings.Cut(line, "="); ok && s == source {
			return id
		}
	}
	return ""
}

// With returns ids with source's id set (added, or replacing one).
func (ids IDs) With(source, id string) IDs {
	var lines []string
	for _, line := range strings.Split(string(ids), "\n") {
		if s, _, ok := strings.Cut(line, "="); ok && s != source {
			lines = append(lines, line)
		}
	}
	lines = append(lines, source+"="+id)
	slices.Sort(lines)
	return IDs(strings.Join(lines, "\n"))
}

// Sources lists the sources that hold an id, sorted.
func (ids IDs) Sources() []string {
	var out []string
	for _, line := range strings.Split(string(ids), "\n") {
		if s, _, ok := strings.Cut(line, "="); ok {
			out = append(out, s)
		}
	}
	return out
}

// Problem is something a sync could not resolve. It names the person, the
// source and what is wrong; it never holds a credential.
type Problem struct {
	Source string
	Email  string
	What   string
}

func (p Problem) String() string {
	if p.Email == "" {
		return p.Source + ": " + p.What
	}
	return fmt.Sprintf("%s: %s: %s", p.Source, p.Email, p.What)
}

// Listing is what one source gave in one sync.
type Listing struct {
	Source  string
	Entries []Entry
}

// Collect lists every entry of src.
func Collect(ctx context.Context, src Source) (Listing, error) {
	l := Listing{Source: src.Name()}
	err := src.People(ctx, func(page []Entry) error {
		l.Entries = append(l.Entries, page...)
		return nil
	})
	return l, err
}

// Build merges the listings in order — the first source that states an
// attribute wins it — then applies the policy's own people as overrides,
// resolves managers and employment values, and reports what it could not
// resolve. values maps IdP employment values to internal or external.
// The result is sorted by email.
func Build(listings []Listing, overrides []policies.Person, values map[string]string) ([]Person, []Problem) {
	var problems []Problem
	n := 0
	for _, l := range listings {
		n += len(l.Entries)
	}
	people := make([]Person, 0, n+len(overrides)) // one allocation, indexed by email
	byEmail := make(map[string]int, n+len(overrides))
	get := func(email string) *Person {
		i, ok := byEmail[email]
		if !ok {
			i = len(people)
			people = append(people, Person{Person: policies.Person{Email: email}, Sources: map[string]string{}})
			byEmail[email] = i
		}
		return &people[i]
	}
	vals := map[string]string{}
	for k, v := range values {
		vals[strings.ToLower(strings.TrimSpace(k))] = v
	}
	// A manager named by email may be known from another source only.
	emails := map[string]bool{}
	for _, l := range listings {
		for _, e := range l.Entries {
			emails[norm(e.Email)] = true
		}
	}
	for _, o := range overrides {
		emails[norm(o.Email)] = true
	}
	for _, l := range listings {
		ref := index(l.Entries)
		for _, e := range l.Entries {
			email := norm(e.Email)
			if email == "" {
				continue
			}
			p := get(email)
			if e.ID != "" {
				p.IDs = p.IDs.With(l.Source, e.ID)
			}
			if _, ok := p.Sources["department"]; !ok && e.Department != "" {
				p.Department, p.Sources["department"] = e.Department, l.Source
			}
			if _, ok := p.Sources["manager"]; !ok && e.Manager != "" {
				m, ok := ref[norm(e.Manager)]
				if !ok && emails[norm(e.Manager)] {
					m, ok = norm(e.Manager), true
				}
				if !ok {
					problems = append(problems, Problem{Source: l.Source, Email: email,
						What: fmt.Sprintf("manager %q is no user of %s (looked up as a user id, a login and an email)", e.Manager, l.Source)})
				} else if m != email {
					p.Manager, p.Sources["manager"] = m, l.Source
				}
			}
			if _, ok := p.Sources["employment"]; !ok && e.Employment != "" {
				v := strings.ToLower(strings.TrimSpace(e.Employment))
				mapped, ok := vals[v]
				if !ok && (v == Internal || v == External) {
					mapped, ok = v, true
				}
				if !ok {
					problems = append(problems, Problem{Source: l.Source, Email: email,
						What: fmt.Sprintf("employment value %q is not in employment_values", e.Employment)})
				} else {
					p.Employment, p.Sources["employment"] = mapped, l.Source
				}
			}
			if e.Suspended {
				p.Suspended = true
			}
		}
	}
	for _, o := range overrides {
		p := get(norm(o.Email))
		if o.Department != "" {
			p.Department, p.Sources["department"] = o.Department, SourcePolicy
		}
		if o.Manager != "" {
			p.Manager, p.Sources["manager"] = norm(o.Manager), SourcePolicy
		}
		if o.Employment != "" {
			p.Employment, p.Sources["employment"] = o.Employment, SourcePolicy
		}
		if o.SlackID != "" {
			p.SlackID = o.SlackID
		}
	}
	byEmail = nil
	shared := map[[3]string]map[string]string{} // most people share their sources: one map each
	for i := range people {
		p := &people[i]
		k := [3]string{p.Sources["department"], p.Sources["manager"], p.Sources["employment"]}
		if m, ok := shared[k]; ok {
			p.Sources = m
		} else {
			shared[k] = p.Sources
		}
	}
	out := people
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	problems = append(problems, cycles(out)...)
	return out, problems
}

// index maps every id, login and email of entries (lower-cased) to the
// entry's email, so a manager reference of any of the three resolves.
func index(entries []Entry) map[string]string {
	m := make(map[string]string, 3*len(entries))
	for _, e := range entries {
		email := norm(e.Email)
		if email == "" {
			continue
		}
		for _, k := range []string{e.ID, e.Login, e.Email} {
			if k = norm(k); k != "" {
				m[k] = email
			}
		}
	}
	return m
}

// cycles reports every manager chain that comes back to where it started.
// Each loop is reported once, from its smallest email.
func cycles(people []Person) []Problem {
	mgr := make(map[string]string, len(people))
	for _, p := range people {
		if p.Manager != "" {
			mgr[p.Email] = p.Manager
		}
	}
	done := map[string]bool{}
	var out []Problem
	for _, p := range people {
		var path []string
		seen := map[string]int{}
		for e := p.Email; e != "" && !done[e]; e = mgr[e] {
			if i, ok := seen[e]; ok {
				loop := slices.Clone(path[i:])
				first := slices.Min(loop)
				for len(loop) > 0 && loop[0] != first {
					loop = append(loop[1:], loop[0])
				}
				src := ""
				for _, q := range people {
					if q.Email == first {
						src = q.Sources["manager"]
					}
				}
				out = append(out, Problem{Source: src, Email: first,
					What: "the manager chain loops: " + strings.Join(append(loop, first), " → ")})
				break
			}
			seen[e] = len(path)
			path = append(path, e)
		}
		for _, e := range path {
			done[e] = true
		}
	}
	return out
}

// CheckDrop refuses a sync that would drop more than maxDrop (a fraction,
// 0.1 for 10 %) of the people the last good sync had.
func CheckDrop(before, after int, maxDrop float64) error {
	if before == 0 || after >= before {
		return nil
	}
	dropped := before - after
	if float64(dropped) > maxDrop*float64(before) {
		return fmt.Errorf("refused as suspicious: the sync would drop %d of %d people (%.1f %%), more than max_drop %.0f %%; the last good directory is kept",
			dropped, before, 100*float64(dropped)/float64(before), 100*maxDrop)
	}
	return nil
}

// Change is one attribute that a sync changed.
type Change struct {
	Email  string
	Field  string // department, manager, employment, person (added or removed)
	Old    string
	New    string
	Source string // who said the new value
}

// Diff lists what changed between two directories, each sorted by email,
// and, in email order, the people whose stored row changed in nothing it
// reports: their user ids at the sources (one newly listed by an IdP,
// whose suspension must then go there) or which source said each
// attribute. Those are written without an event.
func Diff(old, cur []Person) (out []Change, quiet []string) {
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j >= len(cur) || (i < len(old) && old[i].Email < cur[j].Email):
			out = append(out, Change{Email: old[i].Email, Field: "person", Old: "present"})
			i++
		case i >= len(old) || cur[j].Email < old[i].Email:
			p := cur[j]
			out = append(out, Change{Email: p.Email, Field: "person", New: "present"})
			out = append(out, fields(Person{}, p)...)
			j++
		default:
			a, b := &old[i], &cur[j]
			n := len(out)
			out = append(out, fields(*a, *b)...)
			if len(out) == n && (a.IDs != b.IDs || !maps.Equal(a.Sources, b.Sources)) {
				quiet = append(quiet, b.Email)
			}
			i++
			j++
		}
	}
	return out, quiet
}

func fields(a, b Person) []Change {
	var out []Change
	add := func(field, x, y string) {
		if x != y {
			out = append(out, Change{Email: b.Email, Field: field, Old: x, New: y, Source: b.Sources[field]})
		}
	}
	add("department", a.Department, b.Department)
	add("manager", a.Manager, b.Manager)
	add("employment", a.Employment, b.Employment)
	if a.Suspended != b.Suspended { // suspended or unsuspended at an identity provider
		out = append(out, Change{Email: b.Email, Field: "suspended", Old: strconv.FormatBool(a.Suspended), New: strconv.FormatBool(b.Suspended)})
	}
	return out
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
