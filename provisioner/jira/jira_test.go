package jira_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
)

// Every Jira call the provider makes goes through the fake, which checks
// it (and its own answer) against the official spec and fails the test on
// a violation. This test makes each kind of call at least once.
func TestContract_EveryCallMatchesTheSpec(t *testing.T) {
	atlassianfake.RequireSpec(t)
	f := newFake(t)
	if !f.Validating() {
		t.Fatal("the fake is not validating")
	}
	f.AddGroup("jira-admins")
	f.AddGroup("confluence-finance")
	f.AddUser("alice@example.com")
	f.AddUser("bob@example.com")
	f.SetMember("confluence-finance", "bob@example.com", true)
	p := newProvider(t, f, nil, nil)

	if err := p.CheckGroups(ctx, []string{"jira-admins", "confluence-finance"}); err != nil {
		t.Fatal(err)
	}
	m := mem("jira-admins", "alice@example.com")
	if ok, err := p.IsMember(ctx, m); err != nil || ok {
		t.Fatalf("IsMember before: %v %v", ok, err)
	}
	for range 2 { // the second answers 400 "already a member"
		if err := p.AddMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := p.IsMember(ctx, m); err != nil || !ok {
		t.Fatalf("IsMember after: %v %v", ok, err)
	}
	if got, err := p.Members(ctx, "confluence-finance"); err != nil || fmt.Sprint(got) != "[bob@example.com]" {
		t.Fatalf("Members: %v %v", got, err)
	}
	for range 2 { // the second answers 400 "not a member", confirmed by the member list
		if err := p.RemoveMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, route := range []string{"GET /rest/api/3/group/bulk", "GET /rest/api/3/user/search", "GET /rest/api/3/group/member",
		"POST /rest/api/3/group/user", "DELETE /rest/api/3/group/user"} {
		if f.Calls(route) == 0 {
			t.Errorf("%s was never called: the contract test does not cover it", route)
		}
	}
	if v := f.Violations(); len(v) != 0 {
		t.Errorf("violations: %v", v)
	}
}

func TestIdempotency(t *testing.T) {
	f := newFake(t)
	f.AddGroup("jira-admins")
	f.AddUser("alice@example.com")
	f.AddUser("carol@example.com")
	p := newProvider(t, f, nil, nil)
	m := mem("jira-admins", "alice@example.com")
	t.Run("AddTwice", func(t *testing.T) {
		for i := range 2 {
			if err := p.AddMember(ctx, m); err != nil {
				t.Fatalf("add %d: %v", i+1, err)
			}
		}
		if n := changes(f, "add", "jira-admins", "alice@example.com"); n != 1 {
			t.Fatalf("adds: got %d, want 1", n)
		}
		if !f.IsMember("jira-admins", "alice@example.com") {
			t.Fatal("not a member")
		}
	})
	t.Run("RemoveTwice", func(t *testing.T) {
		for i := range 2 {
			if err := p.RemoveMember(ctx, m); err != nil {
				t.Fatalf("remove %d: %v", i+1, err)
			}
		}
		if n := changes(f, "remove", "jira-admins", "alice@example.com"); n != 1 {
			t.Fatalf("removes: got %d, want 1", n)
		}
		if f.IsMember("jira-admins", "alice@example.com") {
			t.Fatal("still a member")
		}
	})
	t.Run("RemoveNonMember", func(t *testing.T) {
		before := len(f.Changes())
		if err := p.RemoveMember(ctx, mem("jira-admins", "carol@example.com")); err != nil {
			t.Fatal(err)
		}
		if got := len(f.Changes()); got != before {
			t.Fatalf("changes: got %d, want %d", got, before)
		}
	})
}

func TestAccountID(t *testing.T) {
	f := newFake(t)
	alice := f.AddUser("alice@example.com")
	f.AddUser("alice@example.com.au")                                     // a prefix match, not the same email
	f.PutUser(atlassianfake.User{Email: "Dup@Example.com", Active: true}) // two accounts, one email
	f.PutUser(atlassianfake.User{Email: "dup@example.com", Active: true})
	f.PutUser(atlassianfake.User{Email: "hidden@example.com", Active: true, HideEmail: true})
	p := newProvider(t, f, nil, nil)

	t.Run("ExactMatch", func(t *testing.T) {
		id, err := p.AccountID(ctx, "ALICE@example.com")
		if err != nil || id != alice {
			t.Fatalf("got %q %v, want %q", id, err, alice)
		}
		before := f.Calls("GET /rest/api/3/user/search")
		if id, err := p.AccountID(ctx, "alice@example.com"); err != nil || id != alice {
			t.Fatalf("cached: %q %v", id, err)
		}
		if f.Calls("GET /rest/api/3/user/search") != before {
			t.Error("a cached account was searched again")
		}
	})
	for _, tc := range []struct{ name, email, want string }{
		{"Ambiguous", "dup@example.com", "the email dup@example.com matches 2 Jira accounts"},
		{"Missing", "nobody@example.com", "no Jira account on"},
		{"Hidden", "hidden@example.com", "no Jira account on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.AccountID(ctx, tc.email)
			if err == nil || !approvals.IsPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a permanent error containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckGroups(t *testing.T) {
	f := newFake(t)
	var names []string
	for i := range 120 {
		name := fmt.Sprintf("group-%03d", i)
		f.AddGroup(name)
		names = append(names, name)
	}
	p := newProvider(t, f, nil, nil)
	t.Run("AllThere", func(t *testing.T) {
		if err := p.CheckGroups(ctx, names[:45]); err != nil {
			t.Fatal(err)
		}
		if n := f.Calls("GET /rest/api/3/group/bulk"); n != 3 {
			t.Errorf("bulk calls: got %d, want 3 (20 names a call)", n)
		}
	})
	t.Run("SaysWhichIsMissing", func(t *testing.T) {
		err := p.CheckGroups(ctx, []string{"group-001", "jira-admns", "group-119", "confluence-finanse"})
		if err == nil {
			t.Fatal("want an error")
		}
		want := fmt.Sprintf("group jira-admns does not exist on %s\ngroup confluence-finanse does not exist on %s", f.URL(), f.URL())
		if err.Error() != want {
			t.Errorf("got %q, want %q", err, want)
		}
	})
}

func TestPermanentReasons(t *testing.T) {
	t.Run("NotSiteAdmin", func(t *testing.T) {
		f := newFake(t)
		f.AddGroup("jira-admins")
		f.AddUser("alice@example.com")
		f.SetFaults(atlassianfake.Faults{DenyWrites: true})
		p := newProvider(t, f, nil, nil)
		err := p.AddMember(ctx, mem("jira-admins", "alice@example.com"))
		if !approvals.IsPermanent(err) || !strings.HasPrefix(err.Error(), "the API token's user is not a site admin (jira POST /rest/api/3/group/user: 403") {
			t.Fatalf("got %v", err)
		}
		if n := f.Calls("POST /rest/api/3/group/user"); n != 1 {
			t.Errorf("POST calls: got %d, want 1", n)
		}
	})
	t.Run("GroupDeleted", func(t *testing.T) {
		f := newFake(t)
		f.AddGroup("jira-admins")
		f.AddUser("alice@example.com")
		p := newProvider(t, f, nil, nil)
		if err := p.CheckGroups(ctx, []string{"jira-admins"}); err != nil {
			t.Fatal(err)
		}
		f.DeleteGroup("jira-admins")
		err := p.AddMember(ctx, mem("jira-admins", "alice@example.com"))
		if !approvals.IsPermanent(err) || !strings.HasPrefix(err.Error(), "group jira-admins was deleted") {
			t.Fatalf("got %v", err)
		}
		// Removing from a deleted group: nothing is left to remove.
		if err := p.RemoveMember(ctx, mem("jira-admins", "alice@example.com")); err != nil {
			t.Fatalf("remove from a deleted group: %v", err)
		}
	})
	t.Run("GroupRecreated", func(t *testing.T) {
		f := newFake(t)
		f.AddGroup("jira-admins")
		f.AddUser("alice@example.com")
		p := newProvider(t, f, nil, nil)
		if err := p.CheckGroups(ctx, []string{"jira-admins"}); err != nil {
			t.Fatal(err)
		}
		f.DeleteGroup("jira-admins")
		f.AddGroup("jira-admins") // same name, new id
		if err := p.AddMember(ctx, mem("jira-admins", "alice@example.com")); err != nil {
			t.Fatal(err)
		}
		if !f.IsMember("jira-admins", "alice@example.com") {
			t.Fatal("not added to the new group")
		}
	})
	t.Run("TokenRejected", func(t *testing.T) {
		f := newFake(t)
		f.AddGroup("jira-admins")
		o := f.Options()
		p, err := jira.New(jira.Config{SiteURL: f.URL(), Email: o.Email, Token: "wrong-token-123",
			Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1}})
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckGroups(ctx, []string{"jira-admins"})
		if !approvals.IsPermanent(err) || !strings.HasPrefix(err.Error(), "the API token was rejected (jira GET /rest/api/3/group/bulk: 401") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("UnknownPerson", func(t *testing.T) {
		f := newFake(t)
		f.AddGroup("jira-admins")
		p := newProvider(t, f, nil, nil)
		err := p.AddMember(ctx, mem("jira-admins", "ghost@example.com"))
		if !approvals.IsPermanent(err) || !strings.Contains(err.Error(), "no Jira account on") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestMembers(t *testing.T) {
	f := newFake(t)
	f.AddGroup("big")
	var want []string
	for i := range 120 {
		e := fmt.Sprintf("user%03d@example.com", i)
		f.AddUser(e)
		f.SetMember("big", e, true)
		want = append(want, e)
	}
	hidden := f.PutUser(atlassianfake.User{Email: "hidden@example.com", Active: true, HideEmail: true})
	stranger := f.PutUser(atlassianfake.User{Email: "stranger@example.com", Active: true, HideEmail: true})
	f.PutUser(atlassianfake.User{Email: "gone@example.com", Active: false})
	f.SetMember("big", "hidden@example.com", true)
	f.SetMember("big", "stranger@example.com", true)
	f.SetMember("big", "gone@example.com", true)
	// jitbot knows the hidden account from an earlier lookup (its cache).
	c := &memCache{m: map[string]string{"hidden@example.com": hidden}}
	p := newProvider(t, f, c, nil)
	if _, err := p.AccountID(ctx, "hidden@example.com"); err != nil {
		t.Fatal(err)
	}
	got, err := p.Members(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, "accountId:"+stranger, "gone@example.com", "hidden@example.com")
	if fmt.Sprint(got) != fmt.Sprint(sorted(want)) {
		t.Errorf("members:\ngot  %v\nwant %v", got, sorted(want))
	}
	if n := f.Calls("GET /rest/api/3/group/member"); n != 3 {
		t.Errorf("pages: got %d, want 3 (123 members, 50 a page)", n)
	}
	var e *atlassian.Error
	if _, err := p.Members(ctx, "nope"); err == nil || errors.As(err, &e) {
		t.Errorf("unknown group: got %v, want the provider's own error", err)
	}
}

// Whether a person is in a group is one request (their groups), however
// large the group: paging a thousand members would be twenty.
func TestProvider_IsMemberOneRequest(t *testing.T) {
	f := newFake(t)
	f.AddGroup("jira-admins")
	for i := range 1000 {
		email := fmt.Sprintf("member%04d@example.com", i)
		f.AddUser(email)
		f.SetMember("jira-admins", email, true)
	}
	f.AddUser("alice@example.com")
	p := newProvider(t, f, nil, nil)
	if _, err := p.IsMember(ctx, mem("jira-admins", "member0999@example.com")); err != nil { // warm the group and account caches
		t.Fatal(err)
	}
	if _, err := p.AccountID(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	before := f.Requests()
	in, err := p.IsMember(ctx, mem("jira-admins", "alice@example.com"))
	if err != nil || in {
		t.Fatalf("alice in jira-admins: %v %v, want false", in, err)
	}
	if n := f.Requests() - before; n != 1 {
		t.Errorf("requests to learn alice is not in a group of 1,000: %d, want 1", n)
	}
	if in, err := p.IsMember(ctx, mem("jira-admins", "member0500@example.com")); err != nil || !in {
		t.Errorf("member0500 in jira-admins: %v %v, want true", in, err)
	}
}
