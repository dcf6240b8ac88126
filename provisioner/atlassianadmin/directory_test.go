package atlassianadmin_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
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

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// directoryFake is an organisation with a few kinds of account: active
// with one product used and one never used, synced from an IdP,
// suspended, deactivated.
func directoryFake(t *testing.T) (*atlassianfake.Server, map[string]string) {
	t.Helper()
	f := atlassianfake.New(t, atlassianfake.Options{})
	f.AddGroup("confluence-finance")
	f.AddGroup("jira-users")
	ids := map[string]string{
		"alice": f.PutUser(atlassianfake.User{Email: "alice@example.com", Name: "Alice Adams", Active: true, Department: "Finance", JobTitle: "Controller",
			AddedToOrg: t0.AddDate(-1, 0, 0), Products: []atlassianfake.Product{{Key: "jira-software", LastActive: t0.Add(-3 * time.Hour)}, {Key: "confluence"}}}),
		"sam":   f.PutUser(atlassianfake.User{Email: "sam@example.com", Active: true, ManagementSource: "synced"}),
		"carol": f.PutUser(atlassianfake.User{Email: "carol@partner.io", Active: true, Suspended: true, ClaimStatus: "unmanaged"}),
		"dee":   f.PutUser(atlassianfake.User{Email: "dee@example.com", Active: false}),
	}
	f.SetMember("confluence-finance", "alice@example.com", true)
	f.SetMember("jira-users", "alice@example.com", true)
	f.SetMember("jira-users", "carol@partner.io", true)
	return f, ids
}

func collect(t *testing.T, p *atlassianadmin.Provider, q atlassianadmin.UserQuery) []atlassianadmin.User {
	t.Helper()
	var out []atlassianadmin.User
	if err := p.EachUser(ctx, q, func(u atlassianadmin.User) error { out = append(out, u); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func accountIDs(us []atlassianadmin.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.AccountID)
	}
	return out
}

func TestProvider_EachUser(t *testing.T) {
	f, ids := directoryFake(t)
	p := newProvider(t, f, "", nil)
	t.Run("Shape", func(t *testing.T) {
		got := collect(t, p, atlassianadmin.UserQuery{AccountIDs: []string{ids["alice"]}, Products: true, Groups: true})
		if len(got) != 1 {
			t.Fatalf("got %d users", len(got))
		}
		u := got[0]
		if u.AccountID != ids["alice"] || u.AccountType != "atlassian" || u.Status != atlassianadmin.StatusActive || u.AccountStatus != "active" ||
			u.MembershipStatus != "active" || u.ManagementSource != atlassianadmin.ManagedInvited || u.ClaimStatus != "managed" ||
			u.Email != "alice@example.com" || u.Name != "Alice Adams" || u.Department != "Finance" || u.JobTitle != "Controller" ||
			!u.AddedToOrg.Equal(t0.AddDate(-1, 0, 0)) || u.Synced() {
			t.Errorf("user: %+v", u)
		}
		site := f.Options().SiteID
		want := []atlassianadmin.ProductAccess{{Key: "jira-software", ID: site, LastActive: t0.Add(-3 * time.Hour)}, {Key: "confluence", ID: site}}
		if fmt.Sprint(u.Products) != fmt.Sprint(want) || !u.Products[1].LastActive.IsZero() {
			t.Errorf("products: got %v, want %v (a product never used has the zero time)", u.Products, want)
		}
		if len(u.Groups) != 2 || u.Groups[0].Name != "confluence-finance" || u.Groups[1].Name != "jira-users" || u.Groups[0].ID == "" {
			t.Errorf("groups: %+v", u.Groups)
		}
	})
	t.Run("NoExpand", func(t *testing.T) {
		got := collect(t, p, atlassianadmin.UserQuery{AccountIDs: []string{ids["alice"]}})
		if len(got) != 1 || got[0].Products != nil || got[0].Groups != nil {
			t.Errorf("got %+v, want no products or groups unless asked", got)
		}
	})
	for _, tc := range []struct {
		name string
		q    atlassianadmin.UserQuery
		want []string
	}{
		{"All", atlassianadmin.UserQuery{}, []string{ids["alice"], ids["sam"], ids["carol"], ids["dee"]}},
		{"Suspended", atlassianadmin.UserQuery{Status: []string{atlassianadmin.StatusSuspended}}, []string{ids["carol"]}},
		{"Deactivated", atlassianadmin.UserQuery{AccountStatus: []string{"inactive"}}, []string{ids["dee"]}},
		{"Membership", atlassianadmin.UserQuery{MembershipStatus: []string{"suspended"}}, []string{ids["carol"]}},
		{"Emails", atlassianadmin.UserQuery{Emails: []string{"sam@example.com"}}, []string{ids["sam"]}},
		{"SearchTerm", atlassianadmin.UserQuery{SearchTerm: "adams"}, []string{ids["alice"]}},
		{"Domain", atlassianadmin.UserQuery{EmailDomains: []string{"partner.io"}}, []string{ids["carol"]}},
		{"Claim", atlassianadmin.UserQuery{ClaimStatus: "unmanaged"}, []string{ids["carol"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := accountIDs(collect(t, p, tc.q)); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("Groups", func(t *testing.T) {
		gs, err := p.UserGroups(ctx, ids["alice"])
		if err != nil || len(gs) != 2 {
			t.Fatalf("%v %v", gs, err)
		}
		got := accountIDs(collect(t, p, atlassianadmin.UserQuery{GroupIDs: []string{gs[1].ID}}))
		if !slices.Equal(got, []string{ids["alice"], ids["carol"]}) {
			t.Errorf("members of %s: %v", gs[1].Name, got)
		}
	})
	t.Run("RefusedBeforeCalling", func(t *testing.T) {
		before := f.Requests()
		for _, q := range []atlassianadmin.UserQuery{{PageSize: 101}, {PageSize: -1}, {Emails: []string{"a@b.c"}, SearchTerm: "a"}} {
			if err := p.EachUser(ctx, q, func(atlassianadmin.User) error { return nil }); err == nil {
				t.Errorf("%+v: want an error", q)
			}
		}
		if f.Requests() != before {
			t.Error("a refused query was sent")
		}
	})
}

func TestProvider_EachUser_Pages(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	want := f.AddUsers(250, nil)
	p := newProvider(t, f, "", nil)
	route := "POST " + prefix + "/users/search"
	var got []string
	err := p.EachUser(ctx, atlassianadmin.UserQuery{}, func(u atlassianadmin.User) error { got = append(got, u.AccountID); return nil })
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %d users, %v", len(got), err)
	}
	if n := f.Calls(route); n != 3 {
		t.Errorf("pages: got %d, want 3 (100 a page)", n)
	}
	t.Run("CallbackStops", func(t *testing.T) {
		stop := errors.New("store is full")
		before, n := f.Calls(route), 0
		err := p.EachUser(ctx, atlassianadmin.UserQuery{}, func(atlassianadmin.User) error {
			if n++; n == 120 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 120 || f.Calls(route)-before != 2 {
			t.Errorf("got %v after %d users and %d pages", err, n, f.Calls(route)-before)
		}
	})
}

// Paging is throttled by the fake's rate limit: the transport waits out
// each 429 until X-RateLimit-Reset (the Admin API sends no Retry-After)
// and every user is read once.
func TestProvider_EachUser_RateLimited(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	want := f.AddUsers(300, nil)
	p := newProvider(t, f, "", nil) // no bucket of its own: only the fake's limit
	f.SetFaults(atlassianfake.Faults{RateLimit: 100, RateBurst: 2})
	var got []string
	if err := p.EachUser(ctx, atlassianadmin.UserQuery{PageSize: 10}, func(u atlassianadmin.User) error { got = append(got, u.AccountID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d users, want %d", len(got), len(want))
	}
	if _, limited := f.Throttled(); limited == 0 || p.Client().Stats().Throttled == 0 {
		t.Errorf("never throttled (fake %d, client %+v): the test does not test the limit", limited, p.Client().Stats())
	}
}

// A timestamp the client cannot read is an error, never "never used":
// that would make an active person look inactive.
func TestProvider_EachUser_BadTimestamp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":[{"accountId":"a1","productAccess":[{"key":"jira-software","id":"s","lastActiveTimestamp":"last tuesday"}]}],"links":{}}`))
	}))
	defer srv.Close()
	p, err := atlassianadmin.New(atlassianadmin.Config{APIURL: srv.URL, OrgID: "org-1", APIKey: "key-0123456789",
		Transport: atlassian.Options{HTTPClient: srv.Client(), Rate: -1}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.EachUser(ctx, atlassianadmin.UserQuery{Products: true}, func(atlassianadmin.User) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `user a1, product jira-software: lastActiveTimestamp "last tuesday" is not an ISO 8601 time`) {
		t.Fatalf("got %v", err)
	}
}

func TestProvider_UserByID(t *testing.T) {
	f, ids := directoryFake(t)
	p := newProvider(t, f, "", nil)
	u, err := p.UserByID(ctx, ids["sam"])
	if err != nil || u.Email != "sam@example.com" || !u.Synced() {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := p.UserByID(ctx, "nobody"); !errors.Is(err, atlassianadmin.ErrNotFound) || !approvals.IsPermanent(err) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestProvider_LastActiveDates(t *testing.T) {
	f := atlassianfake.New(t, atlassianfake.Options{})
	products := []atlassianfake.Product{{Key: "confluence"}} // never used
	for i := range 12 {                                      // two v1 pages
		products = append(products, atlassianfake.Product{Key: fmt.Sprintf("jira-%02d", i), LastActive: t0.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	id := f.PutUser(atlassianfake.User{Email: "alice@example.com", Active: true, AddedToOrg: t0.AddDate(-2, 0, 0), Products: products})
	p := newProvider(t, f, "", nil)
	la, err := p.LastActiveDates(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !la.AddedToOrg.Equal(t0.AddDate(-2, 0, 0)) || len(la.Products) != 12 || la.Products[0].Key != "jira-00" || !la.Products[0].LastActive.Equal(t0) ||
		!la.Products[11].LastActive.Equal(t0.AddDate(0, 0, -11)) || la.Products[0].ID != f.Options().SiteID {
		t.Fatalf("got %+v", la)
	}
	if n := f.Calls("GET /admin/v1/orgs/{org}/directory/users/{account}/last-active-dates"); n != 2 {
		t.Errorf("pages: %d, want 2", n)
	}
	f.ClearActivity(id)
	if la, err := p.LastActiveDates(ctx, id); err != nil || len(la.Products) != 0 {
		t.Errorf("after ClearActivity: %+v %v", la, err)
	}
	if _, err := p.LastActiveDates(ctx, "nobody"); !errors.Is(err, atlassianadmin.ErrNotFound) || !approvals.IsPermanent(err) {
		t.Errorf("unknown: %v", err)
	}
}

// Suspension keeps the memberships; restore brings the account back with
// them. The refusals have types.
func TestProvider_SuspendTypedErrors(t *testing.T) {
	f, ids := directoryFake(t)
	for _, dir := range []string{"-", "dir-1"} {
		t.Run("Directory"+dir, func(t *testing.T) {
			p := newProvider(t, f, dir, nil)
			alice := ids["alice"]
			if err := p.Suspend(ctx, alice); err != nil {
				t.Fatal(err)
			}
			if f.Status(alice) != atlassianfake.StatusSuspended {
				t.Fatalf("status %q", f.Status(alice))
			}
			gs, err := p.UserGroups(ctx, alice)
			if err != nil || len(gs) != 2 {
				t.Fatalf("groups while suspended: %v %v", gs, err)
			}
			if err := p.Restore(ctx, alice); err != nil {
				t.Fatal(err)
			}
			if f.Status(alice) != atlassianfake.StatusActive || !slices.Equal(f.GroupsOf(alice), []string{"confluence-finance", "jira-users"}) {
				t.Fatalf("after restore: %q %v", f.Status(alice), f.GroupsOf(alice))
			}
			for _, tc := range []struct {
				name, op, account string
				want              error
				permanent         bool
			}{
				{"Synced", "suspend", ids["sam"], atlassianadmin.ErrIdPManaged, true},
				{"SyncedRestore", "restore", ids["sam"], atlassianadmin.ErrIdPManaged, true},
				{"Deactivated", "suspend", ids["dee"], atlassianadmin.ErrDeactivated, true},
				{"AlreadySuspended", "suspend", ids["carol"], atlassianadmin.ErrAlreadySuspended, false},
				{"NotSuspended", "restore", alice, atlassianadmin.ErrNotSuspended, false},
				{"Unknown", "suspend", "no-such-account", atlassianadmin.ErrNotFound, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					do := p.Suspend
					if tc.op == "restore" {
						do = p.Restore
					}
					err := do(ctx, tc.account)
					var ae *atlassianadmin.AccountError
					if !errors.Is(err, tc.want) || approvals.IsPermanent(err) != tc.permanent || !errors.As(err, &ae) || ae.AccountID != tc.account {
						t.Fatalf("got %v (permanent %v), want %v (permanent %v)", err, approvals.IsPermanent(err), tc.want, tc.permanent)
					}
				})
			}
		})
	}
	t.Run("KeyMayNotManageUsers", func(t *testing.T) {
		f.SetFaults(atlassianfake.Faults{DenyWrites: true})
		defer f.SetFaults(atlassianfake.Faults{})
		err := newProvider(t, f, "dir-1", nil).Suspend(ctx, ids["alice"])
		if !approvals.IsPermanent(err) || errors.Is(err, atlassianadmin.ErrIdPManaged) || !strings.HasPrefix(err.Error(), atlassianadmin.ReasonForbidden) {
			t.Fatalf("got %v", err)
		}
	})
	// Every call the fake saw, refused ones too.
	var ops []string
	for _, c := range f.SuspendCalls() {
		ops = append(ops, fmt.Sprintf("%s:%d", c.Op, c.Status))
	}
	if len(ops) < 10 || ops[0] != "suspend:204" || ops[1] != "restore:204" || ops[2] != "suspend:403" {
		t.Errorf("suspend calls: %v", ops)
	}
}

// No call of the client goes to the v1 endpoints Atlassian switched off.
func TestProvider_NoSwitchedOffV1Calls(t *testing.T) {
	f, ids := directoryFake(t)
	p := newProvider(t, f, "", nil)
	m := mem("jira-users", "sam@example.com")
	steps := []error{
		p.CheckGroups(ctx, []string{"jira-users", "confluence-finance"}),
		p.AddMember(ctx, m), p.RemoveMember(ctx, m), p.RemoveMember(ctx, m),
		p.EachUser(ctx, atlassianadmin.UserQuery{Products: true, Groups: true}, func(atlassianadmin.User) error { return nil }),
		p.Suspend(ctx, ids["alice"]), p.Restore(ctx, ids["alice"]),
	}
	_, err := p.LastActiveDates(ctx, ids["alice"])
	steps = append(steps, err)
	_, err = p.UserGroups(ctx, ids["alice"])
	steps = append(steps, err)
	_, err = p.IsMember(ctx, m)
	steps = append(steps, err)
	_, err = p.Members(ctx, "jira-users")
	steps = append(steps, err)
	for i, err := range steps {
		if err != nil {
			t.Errorf("step %d: %v", i, err)
		}
	}
	for _, route := range atlassianfake.GoneRoutes() {
		if n := f.Calls(route); n != 0 {
			t.Errorf("%s called %d times", route, n)
		}
	}
	if len(f.Violations()) != 0 {
		t.Errorf("violations: %q", f.Violations())
	}
}

// The API key appears in no error and no log line of the directory calls,
// through retries, throttling and refusals alike.
func TestProvider_DirectorySecrets(t *testing.T) {
	f, ids := directoryFake(t)
	core, logs := observer.New(zap.DebugLevel)
	o := f.Options()
	p, err := atlassianadmin.New(atlassianadmin.Config{APIURL: f.URL(), OrgID: o.OrgID, APIKey: atlassian.Secret(o.APIKey), Log: zap.New(core),
		Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1, MaxAttempts: 12, BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	f.SetFaults(atlassianfake.Faults{Throttle: 0.2, Unavailable: 0.1, ServerError: 0.05})
	var errs []error
	for range 3 {
		errs = append(errs, p.EachUser(ctx, atlassianadmin.UserQuery{Products: true, PageSize: 1}, func(atlassianadmin.User) error { return nil }))
		_, err := p.LastActiveDates(ctx, ids["alice"])
		errs = append(errs, err, p.Suspend(ctx, ids["sam"]), p.Suspend(ctx, ids["carol"]))
	}
	f.SetFaults(atlassianfake.Faults{DenyWrites: true})
	errs = append(errs, p.Suspend(ctx, ids["alice"]), p.Restore(ctx, ids["carol"]))
	bad, _ := atlassianadmin.New(atlassianadmin.Config{APIURL: f.URL(), OrgID: o.OrgID, APIKey: atlassian.Secret(o.APIKey + "x"),
		Transport: atlassian.Options{HTTPClient: f.Client(), Rate: -1}})
	_, err = bad.LastActiveDates(ctx, ids["alice"])
	errs = append(errs, err)
	if p.Client().Stats().Retries == 0 {
		t.Fatalf("no retries: %+v", p.Client().Stats())
	}
	if n := atlassianfake.CheckNoLeak(t, []string{o.APIKey}, errs, logs.All(), p, bad); n < 5 {
		t.Fatalf("only %d errors to check", n)
	}
}
