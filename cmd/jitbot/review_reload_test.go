package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/directory"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/internal/idpfake"
	"github.com/jitbot/jitbot/review"
)

// reviewIdPPolicy is a policy whose licence reviews suspend at the
// identity provider, with directory sources sources (none: no
// directory.sources).
func reviewIdPPolicy(sources string) string {
	dir := ""
	if sources != "" {
		dir = "directory:\n  sources: [" + sources + "]\n  sync_every: 10m\n"
	}
	return dir + `resources:
  - {id: eng-admins, provider: okta, group: Eng Admins}
rules:
  - {name: manager approves, then: {approvals: [{approvers: [manager]}]}}
reviews:
  - {name: staff, if: {user: {email_domain: [example.com]}}, inactive_for: 30d, schedule: "@daily", action: suspend, suspend_at: idp}
  - {name: partners, if: {user: {email_domain: [partner.io]}}, inactive_for: 30d, schedule: "@daily", action: suspend, suspend_at: idp}
`
}

// The licence review's suspensions at the identity provider follow a
// reload as the directory sync does: after a reload that moves the Okta
// source to another org, a suspension and a restore reach the new org and
// never the old one (whose client, built at start for the okta provider,
// still serves the grants); after a reload that removes the source, a
// suspension fails with a plain sentence on the item, calling no org.
func TestRun_ReviewIdPFollowsReload(t *testing.T) {
	oktaA := idpfake.NewOkta(t, idpfake.Options{})
	oktaB := idpfake.NewOkta(t, idpfake.Options{})
	for _, f := range []*idpfake.Okta{oktaA, oktaB} {
		f.AddUser(idpfake.User{ID: "00ualice", Email: "alice@example.com"})
		f.AddUser(idpfake.User{ID: "00ubob", Email: "bob@partner.io"})
		f.AddGroup("Eng Admins")
	}
	admin := atlassianfake.New(t, atlassianfake.Options{})
	for _, email := range []string{"alice@example.com", "bob@partner.io"} {
		admin.PutUser(atlassianfake.User{Email: email, Name: strings.Split(email, "@")[0], Active: true, AddedToOrg: time.Now().Add(-400 * e2eDay),
			Products: []atlassianfake.Product{{Key: "jira-software", LastActive: time.Now().Add(-40 * e2eDay)}}})
	}
	o := admin.Options()
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	must(t, os.WriteFile(policy, []byte(reviewIdPPolicy("{okta: {url: "+oktaA.URL()+"}}")), 0o600))
	m, _, _ := botAt(t, policy, botOptions{}, "OKTA_API_TOKEN", oktaA.Token(),
		"ATLASSIAN_API_URL", admin.URL(), "ATLASSIAN_ORG_ID", o.OrgID, "ATLASSIAN_ADMIN_API_KEY", o.APIKey, "ATLASSIAN_DIRECTORY_ID", o.Directory)
	ctx := context.Background()
	waitFor(t, 30*time.Second, "the directory synced from org A", func() bool {
		people, _, err := m.DB.(directory.Store).Directory(ctx)
		return err == nil && len(people) == 2 && people[1].IDs.Get("okta") == "00ubob"
	})
	reload := func(sources string) {
		t.Helper()
		replace(t, policy, []byte(reviewIdPPolicy(sources)))
		if changed, err := m.reloadPolicy(ctx, "test"); !changed || err != nil {
			t.Fatalf("reload: changed %v, %v; want it in force", changed, err)
		}
	}
	// runRule runs the review rule and waits for its one item's
	// suspension job.
	runRule := func(rule, email string) *review.Item {
		t.Helper()
		if _, err := m.Review.Sync(ctx, nil); err != nil {
			t.Fatal(err)
		}
		r, ok := m.Review.Policy().Review.Rule(rule)
		if !ok {
			t.Fatalf("no review rule %s", rule)
		}
		run, err := m.Review.RunReview(ctx, r, review.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var it *review.Item
		waitFor(t, 30*time.Second, "the suspension of "+email+" done", func() bool {
			m.Service.Wake()
			its, err := m.Review.Items(ctx, review.ItemFilter{RunID: run.ID})
			if err != nil || len(its) != 1 {
				return false
			}
			it = its[0]
			return it.State != review.ItemSuspending
		})
		if it.Email != email {
			t.Fatalf("got the item of %s, want %s", it.Email, email)
		}
		return it
	}
	suspendKey := func(id, op string) string { return "POST /api/v1/users/" + id + "/lifecycle/" + op }

	t.Run("the source moved to another org", func(t *testing.T) {
		reload("{okta: {url: " + oktaB.URL() + "}}")
		// The grants provider stays at org A, and IT is told, once: not
		// again at a reload that leaves the source where it is.
		replace(t, policy, []byte(reviewIdPPolicy("{okta: {url: "+oktaB.URL()+"}}")+"# reloaded again\n"))
		if changed, err := m.reloadPolicy(ctx, "test"); !changed || err != nil {
			t.Fatalf("second reload: changed %v, %v", changed, err)
		}
		var alerts []string
		err := m.DB.(audit.Source).Events(ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
			if e.Action == approvals.ActionAlert && strings.Contains(e.Reason, "directory source now points at") {
				alerts = append(alerts, e.Reason)
			}
			return nil
		})
		if err != nil || len(alerts) != 1 || !strings.Contains(alerts[0], "still go to "+oktaA.URL()) || !strings.Contains(alerts[0], "before restarting") {
			t.Errorf("alerts about the moved source: %q (%v); want one saying okta grants still go to org A", alerts, err)
		}
		it := runRule("staff", "alice@example.com")
		if it.State != review.ItemSuspended {
			t.Fatalf("alice: got %s (%s), want suspended", it.State, it.Reason)
		}
		if got := oktaB.Calls(suspendKey("00ualice", "suspend")); got != 1 {
			t.Errorf("org B: got %d suspensions of alice, want 1", got)
		}
		if got := oktaA.Calls(suspendKey("00ualice", "suspend")); got != 0 {
			t.Errorf("org A, no longer in the policy: got %d suspensions of alice, want 0", got)
		}
		if _, err := m.Review.Restore(ctx, "alice@example.com", "it@example.com"); err != nil {
			t.Fatal(err)
		}
		if a, b := oktaA.Calls(suspendKey("00ualice", "unsuspend")), oktaB.Calls(suspendKey("00ualice", "unsuspend")); a != 0 || b != 1 {
			t.Errorf("restore: got %d calls at org A and %d at org B, want 0 and 1", a, b)
		}
	})

	t.Run("the source removed", func(t *testing.T) {
		reload("")
		it := runRule("partners", "bob@partner.io")
		want := "no directory source configured as a provider lists bob@partner.io"
		if it.State != review.ItemFailed || !strings.Contains(it.Reason, want) {
			t.Fatalf("bob: got %s (%q), want failed saying %q", it.State, it.Reason, want)
		}
		for name, f := range map[string]*idpfake.Okta{"A": oktaA, "B": oktaB} {
			if got := f.Calls(suspendKey("00ubob", "suspend")); got != 0 {
				t.Errorf("org %s: got %d suspensions of bob, want 0", name, got)
			}
		}
	})
}
