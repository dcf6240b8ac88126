// Package idptest is the conformance suite every IdP provider passes
// against its local fake (internal/idpfake): a full directory sync with
// paging and a manager chain, an unknown manager, a source that fails,
// add and remove under the fake's rate limit with a standing member kept,
// suspend and restore, each twice (the second time already so).
package idptest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
)

// Fake is what the suite drives of a local IdP.
type Fake interface {
	AddUsers(n int, fn func(i int) idpfake.User)
	AddGroup(name string, members ...string) string
	Members(groupID string) []string
	SetRateLimit(perSecond float64, burst int)
	Throttled() int
	SetDown(down bool)
	User(key string) (idpfake.User, bool)
	Changes() []idpfake.Change
}

// Provider is what the suite checks of a provider.
type Provider interface {
	directory.Source
	approvals.Provisioner
	approvals.Adder
	approvals.MemberLister
	CheckGroups(ctx context.Context, names []string) error
	Suspend(ctx context.Context, email string) error
	Restore(ctx context.Context, email string) error
}

// ID is the id the suite gives person i.
func ID(i int) string { return fmt.Sprintf("00u%06d", i) }

// Email is person i's email.
func Email(i int) string { return fmt.Sprintf("u%d@example.com", i) }

// Fill adds n people: person 0 heads the chain, person i reports to i-1
// through ref(i) (the IdP's way of naming i-1: its id, login or email),
// the last person to a manager no one is. Every tenth is a Contractor.
func Fill(f Fake, n int, ref func(i int) string) {
	f.AddUsers(n, func(i int) idpfake.User {
		u := idpfake.User{ID: ID(i), Login: fmt.Sprintf("login%d@corp.example.com", i), Email: Email(i),
			First: "U", Last: fmt.Sprint(i), Department: "Eng", Employment: "Employee"}
		switch {
		case i == 0:
		case i == n-1:
			u.Manager = "ghost"
		default:
			u.Manager = ref(i)
		}
		if i%10 == 9 {
			u.Employment = "Contractor"
		}
		return u
	})
}

// People syncs n people filled by Fill and checks the chain, the
// employment values and the one unknown manager.
func People(t *testing.T, src directory.Source, n int) []directory.Person {
	t.Helper()
	l, err := directory.Collect(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != n {
		t.Fatalf("got %d people, want %d", len(l.Entries), n)
	}
	people, problems := directory.Build([]directory.Listing{l}, nil, map[string]string{"Employee": "internal", "Contractor": "external"})
	last := Email(n - 1)
	if len(problems) != 1 || problems[0].Email != last || !strings.Contains(problems[0].What, "is no user of "+src.Name()) {
		t.Errorf("got problems %v, want the unknown manager of %s only", problems, last)
	}
	by := map[string]directory.Person{}
	for _, p := range people {
		by[p.Email] = p
	}
	for i := 1; i < n-1; i++ {
		p := by[Email(i)]
		if p.Manager != Email(i-1) || p.Sources["manager"] != src.Name() {
			t.Fatalf("%s: got manager %q from %q, want %s from %s", Email(i), p.Manager, p.Sources["manager"], Email(i-1), src.Name())
		}
	}
	if p := by[Email(19)]; p.Employment != "external" || p.Department != "Eng" || p.IDs.Get(src.Name()) != ID(19) {
		t.Errorf("%s: got %+v, want an external in Eng with id %s", Email(19), p, ID(19))
	}
	if p := by[Email(1)]; p.Employment != "internal" {
		t.Errorf("%s: got employment %q, want internal", Email(1), p.Employment)
	}
	return people
}

// Down checks that a sync from a failing source fails, its error naming
// the answer and no secret.
func Down(t *testing.T, f Fake, src directory.Source, secrets ...string) {
	t.Helper()
	f.SetDown(true)
	defer f.SetDown(false)
	_, err := directory.Collect(context.Background(), src)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("got %v, want the 500", err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("a secret leaked: %v", err)
		}
	}
}

// AddRemove adds people 0…n-1 to a group concurrently under a rate limit
// of perSecond with a budget of burst (person 0 a standing member), checks
// the limit was met — the fake throttled, or the provider slowed on a
// budget its answers said was nearly spent — and every add landed, then
// removes 1…n-1 twice and checks person 0 stays.
func AddRemove(t *testing.T, f Fake, p Provider, name string, n int, perSecond float64, burst int) {
	t.Helper()
	ctx := context.Background()
	gid := f.AddGroup("Jira Admins", Email(0))
	if err := p.CheckGroups(ctx, []string{"jira admins"}); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckGroups(ctx, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("got %v, want the missing group named", err)
	}
	f.SetRateLimit(perSecond, burst)
	start := time.Now()
	defer f.SetRateLimit(0, 0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			already, err := p.Add(ctx, approvals.Membership{Provider: name, Group: "Jira Admins", Person: Email(i)})
			if err != nil {
				errs <- err
			} else if already != (i == 0) {
				errs <- fmt.Errorf("%s: got already %v, want %v", Email(i), already, i == 0)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(f.Members(gid)); got != n {
		t.Errorf("got %d members, want %d", got, n)
	}
	var near int64
	if c, ok := p.(interface{ Client() *atlassian.Client }); ok {
		near = c.Client().Pace().Near
	}
	t.Logf("%d adds at %.0f/s (budget %d): %d answers 429, %d nearly spent, in %v", n, perSecond, burst, f.Throttled(), near, time.Since(start))
	if f.Throttled() == 0 && near == 0 {
		t.Errorf("the rate limit never answered, nor said it was nearly spent: the test shows nothing")
	}
	ms, err := p.Members(ctx, "Jira Admins")
	if err != nil || len(ms) != n {
		t.Errorf("got %d members, %v; want %d", len(ms), err, n)
	}
	for i := 1; i < n; i++ {
		for range 2 { // a second removal of a non-member succeeds
			if err := p.RemoveMember(ctx, approvals.Membership{Provider: name, Group: "Jira Admins", Person: Email(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := f.Members(gid); len(got) != 1 || got[0] != Email(0) {
		t.Errorf("got members %v, want the standing %s only", got, Email(0))
	}
}

// SuspendRestore suspends and restores person 1, each twice.
func SuspendRestore(t *testing.T, f Fake, p Provider) {
	t.Helper()
	ctx := context.Background()
	for range 2 { // the second time is already so, and a success
		if err := p.Suspend(ctx, Email(1)); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := f.User(Email(1)); !u.Suspended {
		t.Fatal("not suspended")
	}
	for range 2 {
		if err := p.Restore(ctx, Email(1)); err != nil {
			t.Fatal(err)
		}
	}
	if u, _ := f.User(Email(1)); u.Suspended {
		t.Fatal("still suspended")
	}
	var ops []string
	for _, c := range f.Changes() {
		if c.Op == "suspend" || c.Op == "unsuspend" {
			ops = append(ops, c.Op)
		}
	}
	if got := strings.Join(ops, ","); got != "suspend,unsuspend" {
		t.Errorf("got changes %s, want suspend,unsuspend", got)
	}
	if err := p.Suspend(ctx, "nobody@example.com"); err == nil || !approvals.IsPermanent(err) {
		t.Errorf("got %v, want a permanent error for an unknown person", err)
	}
}

// memStore is a directory.Store in memory.
type memStore struct {
	people []directory.Person
	at     time.Time
	events []*approvals.Event
}

func (m *memStore) Directory(context.Context) ([]directory.Person, time.Time, error) {
	return m.people, m.at, nil
}

func (m *memStore) SaveDirectory(_ context.Context, people []directory.Person, _ []string, evs []*approvals.Event, at time.Time) error {
	m.people, m.at, m.events = people, at, append(m.events, evs...)
	return nil
}

func (m *memStore) RecordDirectory(_ context.Context, evs []*approvals.Event) error {
	m.events = append(m.events, evs...)
	return nil
}

// Remover is a Fake that can delete a user.
type Remover interface {
	Fake
	RemoveUser(id string)
}

// Suspicious syncs the n people Fill made, deletes people 1…drop from the
// IdP, and checks that the next sync is refused as suspicious (max_drop
// 10 %) and the last good directory kept, then that a sync with the IdP
// down is refused too and keeps it.
func Suspicious(t *testing.T, f Remover, src directory.Source, n, drop int) {
	t.Helper()
	st := &memStore{}
	var alerts []string
	s := &directory.Syncer{Sources: []directory.Source{src}, Store: st, MaxDrop: 0.10,
		Values: map[string]string{"Employee": "internal", "Contractor": "external"},
		Alert:  func(_ context.Context, msg string) { alerts = append(alerts, msg) }}
	ctx := context.Background()
	if _, err := s.Sync(ctx); err != nil || len(st.people) != n {
		t.Fatalf("first sync: %d people, %v", len(st.people), err)
	}
	for i := 1; i <= drop; i++ {
		f.RemoveUser(ID(i))
	}
	_, err := s.Sync(ctx)
	if !errors.Is(err, directory.ErrRefused) || !strings.Contains(err.Error(), fmt.Sprintf("would drop %d of %d people", drop, n)) {
		t.Fatalf("got %v, want the sync refused as suspicious", err)
	}
	f.SetDown(true)
	_, err = s.Sync(ctx)
	f.SetDown(false)
	if !errors.Is(err, directory.ErrRefused) || !strings.Contains(err.Error(), "directory source "+src.Name()+" failed") {
		t.Fatalf("got %v, want the sync refused: the source failed", err)
	}
	if len(st.people) != n || len(alerts) != 2 {
		t.Errorf("got %d people kept and alerts %q; want the last good %d and two alerts", len(st.people), alerts, n)
	}
}
