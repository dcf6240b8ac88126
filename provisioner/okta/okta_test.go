package okta

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
)

func newOkta(t *testing.T, f *idpfake.Okta) *Okta {
	t.Helper()
	o, err := New(Config{URL: f.URL(), Token: atlassian.Secret(f.Token()), Map: directory.Map{}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// fill adds n people: u0 the CEO, each next one reporting to the one
// before by id, login or email in turn; the last has an unknown manager.
func fill(f *idpfake.Okta, n int) {
	f.AddUsers(n, func(i int) idpfake.User {
		u := idpfake.User{ID: fmt.Sprintf("00u%05d", i), Login: fmt.Sprintf("login%d", i), Email: fmt.Sprintf("u%d@example.com", i),
			Department: "Eng", Employment: "Employee"}
		switch {
		case i == 0:
		case i == n-1:
			u.Manager = "ghost@example.com"
		case i%3 == 0:
			u.Manager = fmt.Sprintf("00u%05d", i-1)
		case i%3 == 1:
			u.Manager = fmt.Sprintf("login%d", i-1)
		default:
			u.Manager = fmt.Sprintf("U%d@Example.com", i-1)
		}
		if i%10 == 9 {
			u.Employment = "Contractor"
		}
		return u
	})
}

func TestOkta_People(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	fill(f, 1000)
	o := newOkta(t, f)
	l, err := directory.Collect(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 1000 {
		t.Fatalf("got %d people, want 1000", len(l.Entries))
	}
	if got := f.Calls("GET /api/v1/users"); got != 5 {
		t.Errorf("got %d pages, want 5 of 200", got)
	}
	people, problems := directory.Build([]directory.Listing{l}, nil, map[string]string{"Employee": "internal", "Contractor": "external"})
	if len(problems) != 1 || !strings.Contains(problems[0].String(), `u999@example.com: manager "ghost@example.com" is no user of okta`) {
		t.Errorf("got problems %v, want the unknown manager of u999 only", problems)
	}
	by := map[string]directory.Person{}
	for _, p := range people {
		by[p.Email] = p
	}
	for i := 1; i < 999; i++ {
		p := by[fmt.Sprintf("u%d@example.com", i)]
		if want := fmt.Sprintf("u%d@example.com", i-1); p.Manager != want || p.Sources["manager"] != "okta" {
			t.Fatalf("u%d: got manager %q from %q, want %s from okta", i, p.Manager, p.Sources["manager"], want)
		}
	}
	if p := by["u19@example.com"]; p.Employment != "external" || p.Department != "Eng" || p.IDs["okta"] != "00u00019" {
		t.Errorf("u19: got %+v", p)
	}
}

func TestOkta_SourceDown(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	fill(f, 10)
	f.SetDown(true)
	o, err := New(Config{URL: f.URL(), Token: atlassian.Secret(f.Token()), Transport: atlassian.Options{MaxAttempts: 2, BackoffBase: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = directory.Collect(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("got %v, want the 500", err)
	}
	if strings.Contains(err.Error(), f.Token()) {
		t.Errorf("the token leaked: %v", err)
	}
}

func TestOkta_AddRemoveUnderRateLimit(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	fill(f, 30)
	gid := f.AddGroup("Jira Admins", "u0@example.com") // u0 is a standing member
	o := newOkta(t, f)
	ctx := context.Background()
	if err := o.CheckGroups(ctx, []string{"jira admins"}); err != nil {
		t.Fatal(err)
	}
	if err := o.CheckGroups(ctx, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("got %v, want the missing group named", err)
	}
	f.SetRateLimit(20, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			already, err := o.Add(ctx, approvals.Membership{Provider: Name, Group: "Jira Admins", Person: fmt.Sprintf("u%d@example.com", i)})
			if err != nil {
				errs <- err
			} else if already != (i == 0) {
				errs <- fmt.Errorf("u%d: got already %v", i, already)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(f.Members(gid)); got != 12 {
		t.Errorf("got %d members, want 12", got)
	}
	if f.Throttled() == 0 {
		t.Errorf("the rate limit never answered 429: the test shows nothing")
	}
	ms, err := o.Members(ctx, "Jira Admins")
	if err != nil || len(ms) != 12 {
		t.Errorf("got %d members, %v; want 12", len(ms), err)
	}
	for i := 1; i < 12; i++ {
		for range 2 { // a second removal of a non-member succeeds
			if err := o.RemoveMember(ctx, approvals.Membership{Provider: Name, Group: "Jira Admins", Person: fmt.Sprintf("u%d@example.com", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := f.Members(gid); len(got) != 1 || got[0] != "u0@example.com" {
		t.Errorf("got members %v, want the standing u0 only", got)
	}
}

func TestOkta_SuspendRestore(t *testing.T) {
	f := idpfake.NewOkta(t, idpfake.Options{})
	fill(f, 3)
	o := newOkta(t, f)
	ctx := context.Background()
	for range 2 { // the second time is already so, and a success
		if err := o.Suspend(ctx, "u1@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := f.User("u1@example.com"); !u.Suspended {
		t.Fatal("not suspended")
	}
	for range 2 {
		if err := o.Restore(ctx, "u1@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := f.User("u1@example.com"); u.Suspended {
		t.Fatal("still suspended")
	}
	var ops []string
	for _, c := range f.Changes() {
		ops = append(ops, c.Op)
	}
	if got := strings.Join(ops, ","); got != "suspend,unsuspend" {
		t.Errorf("got changes %s, want suspend,unsuspend", got)
	}
	if err := o.Suspend(ctx, "nobody@example.com"); err == nil || !approvals.IsPermanent(err) {
		t.Errorf("got %v, want a permanent error for an unknown person", err)
	}
}
