package jira_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

const approvalPolicy = `directory:
  people:
    - {email: alice@example.com, department: Engineering, employment: internal}
    - {email: carol@example.com, department: Engineering, employment: internal}
    - {email: boss@example.com, department: Engineering, employment: internal}
resources:
  - id: jira-admins
    name: Jira administrators
    provider: jira
    group: jira-admins
    max_duration: 1d
rules:
  - name: boss decides
    then:
      approvals:
        - approvers: [boss@example.com]
`

// waitFor polls cond for up to 10 s of wall time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// An approval waits for one Jira request: the account is looked up while
// the request waits for its approver, and the add's own answer tells a
// member from a newcomer (no membership read before it). A person who was
// in the group before is recorded as standing access, from that answer.
func TestApprovalWaitsForOneRequest(t *testing.T) {
	f := newFake(t)
	f.AddGroup("jira-admins")
	for _, p := range []string{"alice@example.com", "carol@example.com", "boss@example.com"} {
		f.AddUser(p)
	}
	f.SetMember("jira-admins", "carol@example.com", true)
	clock := clockwork.NewFakeClockAt(t0)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "jitbot.db"), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pol, err := policies.Parse("policy.yaml", []byte(approvalPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, f, db, nil)
	if err := p.CheckGroups(ctx, pol.Groups()["jira"]); err != nil {
		t.Fatal(err)
	}
	svc := approvals.New(approvals.Config{Store: db, Policy: pol, Clock: clock, Providers: map[string]approvals.Provisioner{"jira": p}})
	run, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.Run(run) }()
	t.Cleanup(func() { stop(); <-done })

	for _, tc := range []struct {
		person   string
		standing bool
	}{{"alice@example.com", false}, {"carol@example.com", true}} {
		searches := f.Calls("GET /rest/api/3/user/search")
		r, err := svc.Submit(ctx, approvals.SubmitInput{Requester: tc.person, Resource: "jira-admins", Duration: time.Hour, Reason: "incident"})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, tc.person+"'s account looked up while the request waits", func() bool {
			return f.Calls("GET /rest/api/3/user/search") == searches+1
		})
		before := f.Requests()
		if _, err := svc.Approve(ctx, r.ID, "boss@example.com", ""); err != nil {
			t.Fatal(err)
		}
		var g *approvals.Grant
		waitFor(t, tc.person+"'s grant provisioned", func() bool {
			gs, err := svc.Grants(ctx, r.ID)
			if err != nil || len(gs) != 1 || gs[0].State != approvals.GrantActive {
				return false
			}
			g = gs[0]
			return true
		})
		if n := f.Requests() - before; n != 1 {
			t.Errorf("%s: Jira requests between the approval and the membership: got %d, want 1 (the add)", tc.person, n)
		}
		if g.Standing != tc.standing {
			t.Errorf("%s: standing = %v, want %v", tc.person, g.Standing, tc.standing)
		}
		if !slices.Contains(f.Members("jira-admins"), tc.person) {
			t.Errorf("%s is not in jira-admins", tc.person)
		}
	}
	for _, route := range []string{"GET /rest/api/3/group/member", "GET /rest/api/3/user/groups"} {
		if n := f.Calls(route); n != 0 {
			t.Errorf("%s: %d requests, want none (the add's answer says whether the person was a member)", route, n)
		}
	}
}
