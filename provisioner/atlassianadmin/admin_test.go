package atlassianadmin_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/atlassianadmin"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var ctx = context.Background()

const prefix = "/admin/v2/orgs/{org}/directories/{dir}"

func newProvider(t *testing.T, f *atlassianfake.Server, dir string, log *zap.Logger) *atlassianadmin.Provider {
	t.Helper()
	o := f.Options()
	p, err := atlassianadmin.New(atlassianadmin.Config{APIURL: f.URL(), OrgID: o.OrgID, DirectoryID: dir, APIKey: atlassian.Secret(o.APIKey), Log: log,
		Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1, BackoffBase: time.Millisecond, BackoffCap: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mem(group, person string) approvals.Membership {
	return approvals.Membership{Provider: "atlassian-admin", Group: group, Person: person}
}

func changes(f *atlassianfake.Server, op string) int {
	n := 0
	for _, c := range f.Changes() {
		if c.Op == op && c.API == "admin" {
			n++
		}
	}
	return n
}

func TestProvider_Membership(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("org-admins-jit")
	f.AddUser("alice@example.com")
	f.AddUser("carol@example.com")
	p := newProvider(t, f, "", nil)
	if err := p.CheckGroups(ctx, []string{"org-admins-jit"}); err != nil {
		t.Fatal(err)
	}
	m := mem("org-admins-jit", "alice@example.com")
	t.Run("AddTwice", func(t *testing.T) {
		for i := range 2 { // the second answers 409 "already a member"
			if err := p.AddMember(ctx, m); err != nil {
				t.Fatalf("add %d: %v", i+1, err)
			}
		}
		if n := changes(f, "add"); n != 1 || !f.IsMember("org-admins-jit", "alice@example.com") {
			t.Fatalf("adds: got %d, want 1", n)
		}
		if ok, err := p.IsMember(ctx, m); err != nil || !ok {
			t.Fatalf("IsMember: %v %v", ok, err)
		}
	})
	t.Run("RemoveTwice", func(t *testing.T) {
		for i := range 2 { // the second answers 404, confirmed by a search
			if err := p.RemoveMember(ctx, m); err != nil {
				t.Fatalf("remove %d: %v", i+1, err)
			}
		}
		if n := changes(f, "remove"); n != 1 || f.IsMember("org-admins-jit", "alice@example.com") {
			t.Fatalf("removes: got %d, want 1", n)
		}
		if ok, err := p.IsMember(ctx, m); err != nil || ok {
			t.Fatalf("IsMember: %v %v", ok, err)
		}
	})
	t.Run("RemoveNonMember", func(t *testing.T) {
		before := len(f.Changes())
		if err := p.RemoveMember(ctx, mem("org-admins-jit", "carol@example.com")); err != nil {
			t.Fatal(err)
		}
		if len(f.Changes()) != before {
			t.Fatal("a change was recorded")
		}
	})
	// Writes go to the group's own directory, never "-".
	for _, route := range []string{"POST " + prefix + "/groups/{group}/memberships", "DELETE " + prefix + "/groups/{group}/memberships/{account}",
		"POST " + prefix + "/users/search", "POST " + prefix + "/groups/search"} {
		if f.Calls(route) == 0 {
			t.Errorf("%s never called", route)
		}
	}
}

func TestProvider_AccountID(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	alice := f.AddUser("Alice@Example.com")
	f.AddUser("alice@example.com.au")
	f.PutUser(atlassianfake.User{Email: "dup@example.com", Active: true})
	f.PutUser(atlassianfake.User{Email: "DUP@example.com", Active: true})
	p := newProvider(t, f, "", nil)
	if id, err := p.AccountID(ctx, "alice@example.com"); err != nil || id != alice {
		t.Fatalf("got %q %v, want %q", id, err, alice)
	}
	for email, want := range map[string]string{"dup@example.com": "matches 2 accounts", "nobody@example.com": "no user in organisation org-1"} {
		if _, err := p.AccountID(ctx, email); !approvals.IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want a permanent error containing %q", email, err, want)
		}
	}
}

func TestProvider_CheckGroups(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("confluence-finance")
	f.AddGroup("shared-name")
	f.AddGroupIn("shared-name", "dir-2")
	t.Run("AnyDirectory", func(t *testing.T) {
		p := newProvider(t, f, "-", nil)
		err := p.CheckGroups(ctx, []string{"confluence-finance", "confluence-finanse", "shared-name"})
		want := "group confluence-finanse does not exist in organisation org-1\n" +
			"group shared-name exists in 2 directories of organisation org-1: set ATLASSIAN_DIRECTORY_ID to the one jitbot manages"
		if err == nil || err.Error() != want {
			t.Fatalf("got %v, want %q", err, want)
		}
	})
	t.Run("OneDirectory", func(t *testing.T) {
		p := newProvider(t, f, "dir-1", nil)
		if err := p.CheckGroups(ctx, []string{"confluence-finance", "shared-name"}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestProvider_Members(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("big")
	for i := range 230 {
		e := fmt.Sprintf("user%03d@example.com", i)
		f.AddUser(e)
		f.SetMember("big", e, true)
	}
	p := newProvider(t, f, "", nil)
	got, err := p.Members(ctx, "big")
	if err != nil || len(got) != 230 || got[0] != "user000@example.com" || got[229] != "user229@example.com" {
		t.Fatalf("members: %d %v", len(got), err)
	}
	if n := f.Calls("POST " + prefix + "/users/search"); n != 3 {
		t.Errorf("search pages: got %d, want 3 (100 a page)", n)
	}
}

func TestProvider_SuspendRestore(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	id := f.AddUser("erin@partner.io")
	for _, dir := range []string{"-", "dir-1"} {
		t.Run("Directory"+dir, func(t *testing.T) {
			p := newProvider(t, f, dir, nil)
			// The second time the API says it is done already: a typed
			// error, so the evidence can tell "suspended by jitbot" from
			// "found suspended".
			if err := p.Suspend(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := p.Suspend(ctx, id); !errors.Is(err, atlassianadmin.ErrAlreadySuspended) {
				t.Fatalf("suspend again: got %v, want ErrAlreadySuspended", err)
			}
			if !f.Suspended("erin@partner.io") {
				t.Fatal("not suspended")
			}
			if err := p.Restore(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := p.Restore(ctx, id); !errors.Is(err, atlassianadmin.ErrNotSuspended) {
				t.Fatalf("restore again: got %v, want ErrNotSuspended", err)
			}
			if f.Suspended("erin@partner.io") {
				t.Fatal("still suspended")
			}
		})
	}
	p := newProvider(t, f, "-", nil)
	if err := p.Suspend(ctx, "no-such-account"); !approvals.IsPermanent(err) || !errors.Is(err, atlassianadmin.ErrNotFound) || !strings.Contains(err.Error(), "in no directory") {
		t.Errorf("unknown account: %v", err)
	}
}

func TestProvider_PermanentReasons(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("jira-admins")
	f.AddUser("alice@example.com")
	t.Run("Forbidden", func(t *testing.T) {
		f.SetFaults(atlassianfake.Faults{DenyWrites: true})
		defer f.SetFaults(atlassianfake.Faults{})
		p := newProvider(t, f, "", nil)
		err := p.AddMember(ctx, mem("jira-admins", "alice@example.com"))
		if !approvals.IsPermanent(err) || !strings.HasPrefix(err.Error(), atlassianadmin.ReasonForbidden+" (admin POST /admin/v2/orgs/org-1/directories/dir-1/groups/") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("KeyRejected", func(t *testing.T) {
		p, err := atlassianadmin.New(atlassianadmin.Config{APIURL: f.URL(), OrgID: "org-1", APIKey: "wrong-key-123",
			Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1}})
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckGroups(ctx, []string{"jira-admins"})
		if !approvals.IsPermanent(err) || !strings.HasPrefix(err.Error(), "the Admin API key was rejected (admin POST") || !strings.Contains(err.Error(), "ADMIN-401") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("GroupDeleted", func(t *testing.T) {
		p := newProvider(t, f, "", nil)
		if err := p.CheckGroups(ctx, []string{"jira-admins"}); err != nil {
			t.Fatal(err)
		}
		f.DeleteGroup("jira-admins")
		err := p.AddMember(ctx, mem("jira-admins", "alice@example.com"))
		if !approvals.IsPermanent(err) || !strings.HasPrefix(err.Error(), "group jira-admins was deleted") {
			t.Fatalf("got %v", err)
		}
		if err := p.RemoveMember(ctx, mem("jira-admins", "alice@example.com")); err != nil {
			t.Fatalf("remove from a deleted group: %v", err)
		}
	})
}

func TestProvider_RetriesAndSecrets(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("jira-admins")
	f.AddUser("alice@example.com")
	core, logs := observer.New(zap.DebugLevel)
	o := f.Options()
	// 30% faults, 12 attempts a call: a call fails for good once in 2 million.
	p, err := atlassianadmin.New(atlassianadmin.Config{APIURL: f.URL(), OrgID: o.OrgID, APIKey: atlassian.Secret(o.APIKey), Log: zap.New(core),
		Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1, MaxAttempts: 12, BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	f.SetFaults(atlassianfake.Faults{Throttle: 0.2, Unavailable: 0.1, RetryAfter: 0})
	for range 10 {
		m := mem("jira-admins", "alice@example.com")
		if err := p.AddMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := p.RemoveMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if st := p.Client().Stats(); st.Retries == 0 {
		t.Fatalf("no retries: %+v", st)
	}
	f.SetFaults(atlassianfake.Faults{DenyWrites: true})
	err = p.AddMember(ctx, mem("jira-admins", "alice@example.com"))
	if err == nil {
		t.Fatal("want an error")
	}
	atlassianfake.CheckNoLeak(t, []string{o.APIKey}, []error{err}, logs.All(), p)
}

// Integrity item 17: a plain-http Admin API URL is refused, naming the
// setting, before any request carries the API key.
func TestIntegrity17_HTTPSRequired(t *testing.T) {
	_, err := atlassianadmin.New(atlassianadmin.Config{APIURL: "http://api.atlassian.com", OrgID: "org-1", APIKey: "key-SECRET-7f3a9c"})
	if err == nil || !strings.Contains(err.Error(), `ATLASSIAN_API_URL="http://api.atlassian.com" must be an https URL`) || strings.Contains(err.Error(), "key-SECRET") {
		t.Fatalf("got %v", err)
	}
	if _, err := atlassianadmin.New(atlassianadmin.Config{APIURL: "http://[::1]:1", OrgID: "org-1", APIKey: "key-SECRET-7f3a9c"}); err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
	if _, err := atlassianadmin.New(atlassianadmin.Config{OrgID: "org-1", APIKey: "key-SECRET-7f3a9c"}); err != nil {
		t.Fatalf("the default https://api.atlassian.com refused: %v", err)
	}
}
