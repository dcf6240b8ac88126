package review_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/okta"
	"github.com/jitbot/jitbot/review"
)

// oktaIdPs says Okta manages everyone it lists.
type oktaIdPs struct {
	f *idpfake.Okta
	p *okta.Okta
}

func (o oktaIdPs) For(email string) (string, review.IdPAccounts, error) {
	if _, ok := o.f.User(email); !ok {
		return "", nil, nil
	}
	return okta.Name, o.p, nil
}

// The licence review at the IdP: erin's Atlassian account is
// provisioned by the IdP (Atlassian would refuse to suspend it); with
// suspend_at: auto she is suspended at Okta, her memberships recorded; the
// IdP's deprovisioning then drops her Atlassian groups; jitbot users
// restore unsuspends her at Okta and brings her groups back.
func TestRunSuspendJob_AtTheIdP(t *testing.T) {
	e := newEnv(t, strings.Replace(exampleReviews, "    dry_run: false\n", "    dry_run: false\n    suspend_at: auto\n", 1))
	f := idpfake.NewOkta(t, idpfake.Options{})
	f.AddUser(idpfake.User{Email: "erin@partner.io"})
	p, err := okta.New(okta.Config{URL: f.URL(), Token: atlassian.Secret(f.Token())})
	if err != nil {
		t.Fatal(err)
	}
	e.idps = oktaIdPs{f: f, p: p}
	e.restart()
	erin := e.org.put(review.DirectoryUser{Email: "erin@partner.io", AddedToOrg: ago(100 * day), ManagementSource: review.ManagedBySync})
	g := e.org.addGroup("confluence-users")
	e.org.setMember(g.Name, erin, true)
	e.sync()
	ctx := context.Background()
	run := e.run("external consultants", review.RunOptions{})
	e.clock.Advance(day)
	e.eng.Sweep(ctx)
	e.drain()
	wantState(t, e.items(run.ID), "erin@partner.io", review.ItemSuspended)
	if u, _ := f.User("erin@partner.io"); !u.Suspended {
		t.Fatal("erin is not suspended at Okta")
	}
	if n := e.org.suspendCalls(erin); n != 0 {
		t.Errorf("Atlassian was asked to suspend erin %d times, want 0: the IdP manages her", n)
	}
	if got := f.Calls("POST /api/v1/users/" + mustID(t, f, "erin@partner.io") + "/lifecycle/suspend"); got != 1 {
		t.Errorf("got %d lifecycle/suspend calls, want 1", got)
	}
	ev := e.events("erin@partner.io")
	if !slices.Contains(ev, review.ActionSuspended) {
		t.Fatalf("erin's events: %v, want a suspension", ev)
	}

	e.org.setMember(g.Name, erin, false) // the IdP's deprovisioning took her groups
	rep, err := e.eng.Restore(ctx, "erin@partner.io", "it@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := f.User("erin@partner.io"); u.Suspended {
		t.Error("erin is still suspended at Okta")
	}
	if len(rep.ReAdded) != 1 || rep.ReAdded[0].Name != "confluence-users" {
		t.Errorf("re-added %v, want confluence-users", rep.ReAdded)
	}
	if !slices.Contains(e.org.groupNames(erin), "confluence-users") {
		t.Errorf("erin's groups after the restore: %v", e.org.groupNames(erin))
	}
	var ops []string
	for _, c := range f.Changes() {
		ops = append(ops, c.Op)
	}
	if strings.Join(ops, ",") != "suspend,unsuspend" {
		t.Errorf("Okta's changes: %v, want suspend then unsuspend", ops)
	}
}

// suspend_at: idp for a person no IdP lists is a permanent failure, said
// in words, never a silent suspension at Atlassian.
func TestRunSuspendJob_AtTheIdPUnknown(t *testing.T) {
	e := newEnv(t, strings.Replace(exampleReviews, "    dry_run: false\n", "    dry_run: false\n    suspend_at: idp\n", 1))
	erin := e.org.put(review.DirectoryUser{Email: "erin@partner.io", AddedToOrg: ago(100 * day)})
	e.sync()
	ctx := context.Background()
	run := e.run("external consultants", review.RunOptions{})
	e.clock.Advance(day)
	e.eng.Sweep(ctx)
	e.drain()
	it := wantState(t, e.items(run.ID), "erin@partner.io", review.ItemFailed)
	if !strings.Contains(it.Reason, "no directory source configured as a provider lists erin@partner.io") {
		t.Errorf("reason: %q", it.Reason)
	}
	if n := e.org.suspendCalls(erin); n != 0 {
		t.Errorf("Atlassian suspended erin %d times", n)
	}
}

// brokenIdPs cannot say which IdP lists anyone (a source that cannot be
// set up, a directory that cannot be read).
type brokenIdPs struct{}

func (brokenIdPs) For(email string) (string, review.IdPAccounts, error) {
	return "", nil, errors.New("the okta directory source lists " + email + " but could not be set up; it is tried again")
}

// suspend_at: idp when the person's IdP cannot be asked now: the
// suspension waits and is tried again, saying why, rather than failing as
// if no IdP listed the person, or going to Atlassian.
func TestRunSuspendJob_AtTheIdPCannotAsk(t *testing.T) {
	e := newEnv(t, strings.Replace(exampleReviews, "    dry_run: false\n", "    dry_run: false\n    suspend_at: idp\n", 1))
	e.idps = brokenIdPs{}
	e.restart()
	erin := e.org.put(review.DirectoryUser{Email: "erin@partner.io", AddedToOrg: ago(100 * day)})
	e.sync()
	ctx := context.Background()
	run := e.run("external consultants", review.RunOptions{})
	e.clock.Advance(day)
	e.eng.Sweep(ctx)
	e.drain()
	wantState(t, e.items(run.ID), "erin@partner.io", review.ItemSuspending)
	jobs := e.jobs(review.JobSuspend)
	if len(jobs) != 1 || jobs[0].Attempts != 1 || !strings.Contains(jobs[0].LastError, "could not be set up") {
		t.Fatalf("the suspension job: %+v; want it waiting to be tried again, saying why", jobs)
	}
	if n := e.org.suspendCalls(erin); n != 0 {
		t.Errorf("Atlassian suspended erin %d times", n)
	}
}

func mustID(t *testing.T, f *idpfake.Okta, email string) string {
	t.Helper()
	u, ok := f.User(email)
	if !ok {
		t.Fatalf("%s is not at Okta", email)
	}
	return u.ID
}
