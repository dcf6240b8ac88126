package directory

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/policies"
)

func find(t *testing.T, people []Person, email string) Person {
	t.Helper()
	for _, p := range people {
		if p.Email == email {
			return p
		}
	}
	t.Fatalf("%s is not in the directory", email)
	return Person{}
}

func TestBuild_ManagersByIDLoginAndEmail(t *testing.T) {
	okta := Listing{Source: "okta", Entries: []Entry{
		{ID: "00u1", Login: "ceo@ex.com", Email: "ceo@ex.com", Department: "Exec", Employment: "Employee"},
		{ID: "00u2", Login: "vp.login", Email: "vp@ex.com", Manager: "00u1", Employment: "Employee"},          // by id
		{ID: "00u3", Login: "lead@ex.com", Email: "lead@ex.com", Manager: "VP.LOGIN", Employment: "internal"}, // by login
		{ID: "00u4", Login: "alice", Email: "Alice@Ex.com", Manager: "lead@ex.com", Employment: "Contractor"}, // by email
		{ID: "00u5", Login: "bob", Email: "bob@ex.com", Manager: "nobody@ex.com", Employment: "Intern"},       // unknown, unmapped
	}}
	people, problems := Build([]Listing{okta}, nil, map[string]string{"Employee": Internal, "Contractor": External})
	chain := []string{"alice@ex.com", "lead@ex.com", "vp@ex.com", "ceo@ex.com"}
	for i := 0; i+1 < len(chain); i++ {
		p := find(t, people, chain[i])
		if p.Manager != chain[i+1] || p.Sources["manager"] != "okta" {
			t.Errorf("%s: got manager %q from %q, want %q from okta", chain[i], p.Manager, p.Sources["manager"], chain[i+1])
		}
	}
	if got := find(t, people, "alice@ex.com").Employment; got != External {
		t.Errorf("alice: got employment %q, want external", got)
	}
	if got := find(t, people, "lead@ex.com").Employment; got != Internal {
		t.Errorf("lead: got employment %q, want internal (maps to itself)", got)
	}
	bob := find(t, people, "bob@ex.com")
	if bob.Manager != "" || bob.Employment != "" {
		t.Errorf("bob: got manager %q employment %q, want neither guessed", bob.Manager, bob.Employment)
	}
	want := []string{`okta: bob@ex.com: manager "nobody@ex.com" is no user of okta`, `okta: bob@ex.com: employment value "Intern" is not in employment_values`}
	if len(problems) != len(want) {
		t.Fatalf("got problems %v, want %d", problems, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i].String(), w) {
			t.Errorf("problem %d: got %q, want it to start %q", i, problems[i], w)
		}
	}
}

func TestBuild_OrderAndOverrides(t *testing.T) {
	okta := Listing{Source: "okta", Entries: []Entry{
		{ID: "1", Email: "a@ex.com", Manager: "b@ex.com"},
		{ID: "2", Email: "b@ex.com", Department: "Eng"},
	}}
	atl := Listing{Source: "atlassian", Entries: []Entry{
		{ID: "x", Email: "a@ex.com", Department: "Sales"},
		{ID: "y", Email: "b@ex.com", Department: "Ignored"},
	}}
	over := []policies.Person{{Email: "A@ex.com", Employment: External}}
	people, problems := Build([]Listing{okta, atl}, over, nil)
	if len(problems) != 0 {
		t.Fatalf("got problems %v", problems)
	}
	a := find(t, people, "a@ex.com")
	if a.Department != "Sales" || a.Sources["department"] != "atlassian" {
		t.Errorf("a: got department %q from %q, want Sales from atlassian (okta says none)", a.Department, a.Sources["department"])
	}
	if a.Employment != External || a.Sources["employment"] != SourcePolicy {
		t.Errorf("a: got employment %q from %q, want external from the policy", a.Employment, a.Sources["employment"])
	}
	if a.IDs.Get("okta") != "1" || a.IDs.Get("atlassian") != "x" || a.IDs != "atlassian=x\nokta=1" {
		t.Errorf("a: got ids %v", a.IDs)
	}
	if b := find(t, people, "b@ex.com"); b.Department != "Eng" {
		t.Errorf("b: got department %q, want Eng (the first source wins)", b.Department)
	}
}

func TestBuild_Cycle(t *testing.T) {
	l := Listing{Source: "entra", Entries: []Entry{
		{ID: "1", Email: "c@ex.com", Manager: "2"},
		{ID: "2", Email: "d@ex.com", Manager: "3"},
		{ID: "3", Email: "b@ex.com", Manager: "1"},
		{ID: "4", Email: "e@ex.com", Manager: "1"},
	}}
	_, problems := Build([]Listing{l}, nil, nil)
	if len(problems) != 1 || problems[0].What != "the manager chain loops: b@ex.com → c@ex.com → d@ex.com → b@ex.com" {
		t.Fatalf("got %v, want one loop from b@ex.com", problems)
	}
}

func TestCheckDrop(t *testing.T) {
	for _, tt := range []struct {
		before, after int
		ok            bool
	}{{1000, 900, true}, {1000, 899, false}, {0, 0, true}, {10, 20, true}, {1000, 0, false}} {
		err := CheckDrop(tt.before, tt.after, 0.10)
		if (err == nil) != tt.ok {
			t.Errorf("%d → %d: got %v, want ok=%v", tt.before, tt.after, err, tt.ok)
		}
	}
}

func TestDiff(t *testing.T) {
	mk := func(email, mgr string) Person {
		return Person{Person: policies.Person{Email: email, Manager: mgr}, Sources: map[string]string{"manager": "okta"}}
	}
	old := []Person{mk("a@x", "m1@x"), mk("b@x", "")}
	cur := []Person{mk("a@x", "m2@x"), mk("c@x", "m1@x")}
	changes, _ := Diff(old, cur)
	got := fmt.Sprint(changes)
	want := "[{a@x manager m1@x m2@x okta} {b@x person present  } {c@x person  present } {c@x manager  m1@x okta}]"
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

type pages struct{ n, size int }

func (pages) Name() string { return "fake" }
func (p pages) People(_ context.Context, fn func([]Entry) error) error {
	for i := 0; i < p.n; i += p.size {
		var page []Entry
		for j := i; j < min(i+p.size, p.n); j++ {
			page = append(page, Entry{ID: fmt.Sprint(j), Email: fmt.Sprintf("u%d@x", j)})
		}
		if err := fn(page); err != nil {
			return err
		}
	}
	return nil
}

func TestCollect(t *testing.T) {
	l, err := Collect(context.Background(), pages{n: 1000, size: 200})
	if err != nil || len(l.Entries) != 1000 || l.Source != "fake" {
		t.Fatalf("got %d entries from %q, %v; want 1000 from fake", len(l.Entries), l.Source, err)
	}
}
