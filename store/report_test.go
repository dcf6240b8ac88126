package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

// The report tests drive the real engine (approvals.Service) over a real
// store with the dry-run provider writing to the store's own ledger, so the
// rows and audit events the reports read are the ones production writes.
// Time is a fake clock: nothing sleeps and nothing runs in the background.

const reportPolicy = `
directory:
  people:
    - {email: alice@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, employment: internal}
    - {email: carol@example.com, department: Finance, manager: bob@example.com, employment: internal}
    - {email: dave@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: erin@example.com, department: Engineering, manager: bob@example.com, employment: internal}
    - {email: frank@example.com, department: Engineering, manager: bob@example.com, employment: internal}
resources:
  - id: wiki
    name: Engineering wiki
    provider: dryrun
    group: wiki
    max_duration: 7d
  - id: vpn
    name: Production VPN
    provider: dryrun
    group: vpn
    max_duration: 7d
  - id: db-admins
    name: Database administrators
    provider: dryrun
    group: db-admins
    max_duration: 7d
    owners: [carol@example.com]
  - id: finance
    name: Finance reports
    provider: dryrun
    group: finance
    max_duration: 7d
  - id: oncall
    name: On-call bundle
    bundle: [wiki, db-admins]
    max_duration: 7d
rules:
  - name: db needs manager and owner
    if: {resource: [db-admins]}
    then:
      approvals:
        - approvers: [manager]
        - approvers: [owner]
      request_ttl: 1h
  - name: finance is automatic
    if: {resource: [finance]}
    then: {auto_approve: true}
  - name: default
    then:
      approvals:
        - approvers: [manager]
      request_ttl: 1h
`

var rt0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const (
	alice    = "alice@example.com"
	bob      = "bob@example.com"
	carol    = "carol@example.com"
	dave     = "dave@example.com"
	erin     = "erin@example.com"
	frank    = "frank@example.com"
	security = "security@example.com"
)

type reportEnv struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	clock *clockwork.FakeClock
	svc   *approvals.Service
}

func newReportEnv(t *testing.T) *reportEnv {
	t.Helper()
	te := testenv.New(t, testenv.Options{Policy: reportPolicy, At: rt0,
		Providers: func(db *store.DB) map[string]approvals.Provisioner {
			return map[string]approvals.Provisioner{"dryrun": provisioner.NewDryRun(db, nil)}
		}})
	return &reportEnv{t: t, ctx: te.Ctx, db: te.DB, clock: te.Clock, svc: te.Svc}
}

func (e *reportEnv) submit(who, resource string, d time.Duration, reason, ticket string) *approvals.Request {
	e.t.Helper()
	r, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: who, Resource: resource, Duration: d, Reason: reason, Ticket: ticket})
	if err != nil {
		e.t.Fatalf("submit %s %s: %v", who, resource, err)
	}
	return r
}

func (e *reportEnv) approve(id, who string) {
	e.t.Helper()
	if _, err := e.svc.Approve(e.ctx, id, who, ""); err != nil {
		e.t.Fatalf("approve by %s: %v", who, err)
	}
	e.settle()
}

func (e *reportEnv) decline(id, who, reason string) {
	e.t.Helper()
	if _, err := e.svc.Decline(e.ctx, id, who, reason); err != nil {
		e.t.Fatalf("decline by %s: %v", who, err)
	}
	e.settle()
}

func (e *reportEnv) revoke(id, by, reason string) {
	e.t.Helper()
	if _, err := e.svc.Revoke(e.ctx, id, by, reason); err != nil {
		e.t.Fatalf("revoke: %v", err)
	}
}

// settle runs every due job until none is left.
func (e *reportEnv) settle() {
	e.t.Helper()
	testenv.Settle(e.t, e.ctx, e.svc)
}

// to moves the clock to at, sweeps and runs the jobs, as the bot's loop would.
func (e *reportEnv) to(at time.Time) {
	e.t.Helper()
	d := at.Sub(e.clock.Now())
	if d < 0 {
		e.t.Fatalf("the clock cannot go back from %s to %s", e.clock.Now(), at)
	}
	e.clock.Advance(d)
	if _, err := e.svc.Sweep(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.settle()
}

func (e *reportEnv) state(id string, want approvals.State) *approvals.Request {
	e.t.Helper()
	r, err := e.svc.Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.State != want {
		e.t.Fatalf("request %s: state %s (%s), want %s", approvals.Short(id), r.State, r.StateReason, want)
	}
	return r
}

// grant returns the only grant of a request of a leaf.
func (e *reportEnv) grant(id string) *approvals.Grant {
	e.t.Helper()
	gs, err := e.svc.Grants(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(gs) != 1 {
		e.t.Fatalf("request %s: %d grants, want 1", approvals.Short(id), len(gs))
	}
	return gs[0]
}

// members is the dry-run provider's view of a group.
func (e *reportEnv) members(group string) []string {
	e.t.Helper()
	m, err := e.db.DryRunMembers(e.ctx, "dryrun", group)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *reportEnv) wantMembers(group string, want ...string) {
	e.t.Helper()
	if got := e.members(group); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		e.t.Fatalf("at %s members of %s: got %v, want %v", e.clock.Now().Format(time.TimeOnly), group, got, want)
	}
}

func (e *reportEnv) wantOps(adds, removes int) {
	e.t.Helper()
	a, r, err := e.db.DryRunOps(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if a != adds || r != removes {
		e.t.Errorf("dry-run membership changes: got %d adds %d removes, want %d and %d", a, r, adds, removes)
	}
}

func (e *reportEnv) accessAt(resource string, at time.Time) []audit.Access {
	e.t.Helper()
	got, err := e.db.AccessAt(e.ctx, resource, at)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// point is one question to the access report and its exact answer.
type point struct {
	name string
	at   time.Time
	want []audit.Access
}

func (e *reportEnv) checkAccess(resource string, points []point) {
	e.t.Helper()
	for _, p := range points {
		got := e.accessAt(resource, p.at)
		if d := diffAccesses(got, p.want); d != "" {
			e.t.Errorf("AccessAt(%s, %s) %s:\n%s", resource, p.at.Format(time.RFC3339Nano), p.name, d)
		}
	}
}

func diffAccesses(got, want []audit.Access) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d rows %s, want %d rows %s", len(got), summary(got), len(want), summary(want))
	}
	var b strings.Builder
	for i := range got {
		for _, d := range diffAccess(got[i], want[i]) {
			fmt.Fprintf(&b, "  row %d (%s): %s\n", i, want[i].Person, d)
		}
	}
	return b.String()
}

func summary(as []audit.Access) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Person+"/"+a.Resource+"/"+approvals.Short(a.RequestID))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// diffAccess compares every field of an access row (times by Equal).
func diffAccess(got, want audit.Access) []string {
	var d []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		name, gv, wv := g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface()
		if gt, ok := gv.(time.Time); ok {
			if wt := wv.(time.Time); !gt.Equal(wt) {
				d = append(d, fmt.Sprintf("%s: got %s, want %s", name, fmtT(gt), fmtT(wt)))
			}
		} else if !reflect.DeepEqual(gv, wv) {
			d = append(d, fmt.Sprintf("%s: got %#v, want %#v", name, gv, wv))
		}
	}
	return d
}

func fmtT(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.UTC().Format("15:04:05.000")
}

// live is a row as it reads while the grant is still in force.
func live(a audit.Access) audit.Access {
	a.Until, a.Ended = time.Time{}, ""
	return a
}

func rows(as ...audit.Access) []audit.Access { return as }

const milli = time.Millisecond

// Two requests by the same person for the same group that overlap in time:
// each row covers exactly its own grant's span, and the membership stays
// until the last of them ends.
func TestReport_OverlappingGrants(t *testing.T) {
	e := newReportEnv(t)
	first := e.submit(alice, "wiki", 2*time.Hour, "release freeze", "OPS-1")
	e.approve(first.ID, bob)
	e.state(first.ID, approvals.StateActive)
	g1 := e.grant(first.ID)

	e.to(rt0.Add(time.Hour))
	second := e.submit(alice, "wiki", 4*time.Hour, "incident 42", "INC-42")
	e.approve(second.ID, bob)
	e.state(second.ID, approvals.StateActive)
	g2 := e.grant(second.ID)

	a1 := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: first.ID, GrantID: g1.ID,
		From: rt0, Until: rt0.Add(2 * time.Hour), PlannedUntil: rt0.Add(2 * time.Hour),
		Ended:  "expired; kept: still covered by request " + approvals.Short(second.ID),
		Reason: "release freeze", Ticket: "OPS-1", Rule: "default", ApprovedBy: []string{bob}}
	a2 := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: second.ID, GrantID: g2.ID,
		From: rt0.Add(time.Hour), Until: rt0.Add(5 * time.Hour), PlannedUntil: rt0.Add(5 * time.Hour),
		Ended: "expired", Reason: "incident 42", Ticket: "INC-42", Rule: "default", ApprovedBy: []string{bob}}

	// While both are in force, neither has an end.
	e.checkAccess("wiki", []point{
		{"before anything", rt0.Add(-milli), nil},
		{"first provisioned", rt0, rows(live(a1))},
		{"second provisioned", rt0.Add(time.Hour), rows(live(a1), live(a2))},
	})
	e.wantMembers("wiki", alice)

	e.to(rt0.Add(2*time.Hour - milli))
	e.state(first.ID, approvals.StateActive)
	e.to(rt0.Add(2 * time.Hour))
	e.state(first.ID, approvals.StateExpired)
	if g := e.grant(first.ID); g.State != approvals.GrantEnded || g.Note != "kept: still covered by request "+approvals.Short(second.ID) {
		t.Fatalf("first grant: %s %q, want ended and kept for the second request", g.State, g.Note)
	}
	e.wantMembers("wiki", alice) // the second grant still needs it
	e.checkAccess("wiki", []point{
		{"first ended, second in force", rt0.Add(2 * time.Hour), rows(live(a2))},
		{"first still in force a millisecond before", rt0.Add(2*time.Hour - milli), rows(a1, live(a2))},
	})

	e.to(rt0.Add(5*time.Hour - milli))
	e.wantMembers("wiki", alice)
	e.to(rt0.Add(5 * time.Hour))
	e.state(second.ID, approvals.StateExpired)
	if g := e.grant(second.ID); g.Note != "removed" {
		t.Fatalf("second grant note: %q, want removed", g.Note)
	}
	e.wantMembers("wiki")
	e.wantOps(1, 1) // one membership, added once and removed once
	e.to(rt0.Add(6 * time.Hour))

	e.checkAccess("wiki", []point{
		{"before the first", rt0.Add(-milli), nil},
		{"first starts (inclusive)", rt0, rows(a1)},
		{"first only", rt0.Add(30 * time.Minute), rows(a1)},
		{"just before the second", rt0.Add(time.Hour - milli), rows(a1)},
		{"second starts (inclusive)", rt0.Add(time.Hour), rows(a1, a2)},
		{"both", rt0.Add(90 * time.Minute), rows(a1, a2)},
		{"last millisecond of the first", rt0.Add(2*time.Hour - milli), rows(a1, a2)},
		{"first ends (exclusive)", rt0.Add(2 * time.Hour), rows(a2)},
		{"only the second covers", rt0.Add(3 * time.Hour), rows(a2)},
		{"last millisecond of the second", rt0.Add(5*time.Hour - milli), rows(a2)},
		{"second ends (exclusive)", rt0.Add(5 * time.Hour), nil},
		{"after", rt0.Add(6 * time.Hour), nil},
	})
	e.checkAccess("vpn", []point{{"another group", rt0.Add(90 * time.Minute), nil}})
}

// An active grant extended with Extend: the extension is a request of its
// own that names the one it extends; coverage has no gap at the boundary.
func TestReport_Extension(t *testing.T) {
	e := newReportEnv(t)
	orig := e.submit(alice, "wiki", 2*time.Hour, "migration", "OPS-7")
	e.approve(orig.ID, bob)
	g1 := e.grant(orig.ID)

	e.to(rt0.Add(105 * time.Minute)) // the expiry warning is due now
	ext, err := e.svc.Extend(e.ctx, orig.ID, alice, 3*time.Hour, "")
	if err != nil {
		t.Fatal(err)
	}
	if ext.ExtendsID != orig.ID {
		t.Fatalf("extension extends %q, want %q", ext.ExtendsID, orig.ID)
	}
	e.state(ext.ID, approvals.StatePending)
	e.checkAccess("wiki", []point{{"a pending extension is no access", rt0.Add(105 * time.Minute), rows(audit.Access{
		Person: alice, Resource: "wiki", Requested: "wiki", RequestID: orig.ID, GrantID: g1.ID, From: rt0,
		PlannedUntil: rt0.Add(2 * time.Hour), Reason: "migration", Ticket: "OPS-7", Rule: "default", ApprovedBy: []string{bob}})}})

	e.to(rt0.Add(110 * time.Minute))
	e.approve(ext.ID, bob)
	e.state(ext.ID, approvals.StateActive)
	g2 := e.grant(ext.ID)

	e.to(rt0.Add(2 * time.Hour))
	e.state(orig.ID, approvals.StateExpired)
	e.wantMembers("wiki", alice)
	e.to(rt0.Add(4*time.Hour + 50*time.Minute))
	e.state(ext.ID, approvals.StateExpired)
	e.wantMembers("wiki")
	e.wantOps(1, 1)

	a1 := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: orig.ID, GrantID: g1.ID,
		From: rt0, Until: rt0.Add(2 * time.Hour), PlannedUntil: rt0.Add(2 * time.Hour),
		Ended:  "expired; kept: still covered by request " + approvals.Short(ext.ID),
		Reason: "migration", Ticket: "OPS-7", Rule: "default", ApprovedBy: []string{bob}}
	// The extension runs from its own approval for its own duration: it
	// overlaps the original rather than starting where the original ends.
	a2 := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: ext.ID, GrantID: g2.ID,
		From: rt0.Add(110 * time.Minute), Until: rt0.Add(4*time.Hour + 50*time.Minute),
		PlannedUntil: rt0.Add(4*time.Hour + 50*time.Minute), Ended: "expired",
		Reason: "extension of " + approvals.Short(orig.ID) + ": migration", Ticket: "OPS-7", Rule: "default",
		ApprovedBy: []string{bob}, ExtendsID: orig.ID}

	e.checkAccess("wiki", []point{
		{"before", rt0.Add(-milli), nil},
		{"original only", rt0.Add(time.Hour), rows(a1)},
		{"extension filed, not yet approved", rt0.Add(110*time.Minute - milli), rows(a1)},
		{"extension provisioned", rt0.Add(110 * time.Minute), rows(a1, a2)},
		{"last millisecond of the original", rt0.Add(2*time.Hour - milli), rows(a1, a2)},
		{"original ended, extension covers", rt0.Add(2 * time.Hour), rows(a2)},
		{"last millisecond of the extension", rt0.Add(4*time.Hour + 50*time.Minute - milli), rows(a2)},
		{"extension ended", rt0.Add(4*time.Hour + 50*time.Minute), nil},
	})
	// No gap anywhere in between, to the millisecond at the handover.
	for at := rt0; at.Before(rt0.Add(4*time.Hour + 50*time.Minute)); at = at.Add(time.Minute) {
		if got := e.accessAt("wiki", at); len(got) == 0 {
			t.Fatalf("no coverage at %s", at.Format(time.TimeOnly))
		}
	}

	// The person's history shows both, linked.
	h, err := e.db.PersonHistory(e.ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Requests) != 2 || h.Requests[0].RequestID != orig.ID || h.Requests[1].RequestID != ext.ID {
		t.Fatalf("history: %+v", h.Requests)
	}
	if gs := h.Requests[1].Grants; len(gs) != 1 || gs[0].ExtendsID != orig.ID {
		t.Fatalf("history: the extension's grant does not name the original: %+v", gs)
	}
	if d := diffAccesses(h.Requests[0].Grants, rows(a1)); d != "" {
		t.Errorf("history of the original:\n%s", d)
	}
	if d := diffAccesses(h.Requests[1].Grants, rows(a2)); d != "" {
		t.Errorf("history of the extension:\n%s", d)
	}
}

// revokedAfter3h files alice's 8-hour request for wiki, has bob approve
// it, and has security revoke it three hours in.
func (e *reportEnv) revokedAfter3h(ticket string) (*approvals.Request, *approvals.Grant) {
	r := e.submit(alice, "wiki", 8*time.Hour, "quarter close", ticket)
	e.approve(r.ID, bob)
	g := e.grant(r.ID)
	e.to(rt0.Add(3 * time.Hour))
	e.revoke(r.ID, security, "left the finance project")
	return r, g
}

// An operator revokes early with a reason: the row ends when the
// membership was removed, not at the planned end, and says who and why.
func TestReport_Revocation(t *testing.T) {
	t.Run("Immediate", func(t *testing.T) {
		e := newReportEnv(t)
		r, g := e.revokedAfter3h("FIN-9")
		e.settle()
		e.state(r.ID, approvals.StateRevoked)
		e.wantMembers("wiki")
		e.to(rt0.Add(9 * time.Hour)) // past the planned end: nothing more happens
		e.wantOps(1, 1)

		a := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: r.ID, GrantID: g.ID,
			From: rt0, Until: rt0.Add(3 * time.Hour), PlannedUntil: rt0.Add(8 * time.Hour),
			Ended:  "revoked by security@example.com: left the finance project",
			Reason: "quarter close", Ticket: "FIN-9", Rule: "default", ApprovedBy: []string{bob}}
		e.checkAccess("wiki", []point{
			{"before", rt0.Add(-milli), nil},
			{"granted", rt0, rows(a)},
			{"last millisecond before the revocation", rt0.Add(3*time.Hour - milli), rows(a)},
			{"revoked (exclusive)", rt0.Add(3 * time.Hour), nil},
			{"before the planned end", rt0.Add(7 * time.Hour), nil},
			{"at the planned end", rt0.Add(8 * time.Hour), nil},
		})
	})

	// The CLI revokes; the bot removes the membership on its next pass. The
	// person kept the membership until then, and the report says so.
	t.Run("RemovedLater", func(t *testing.T) {
		e := newReportEnv(t)
		r, g := e.revokedAfter3h("")
		e.state(r.ID, approvals.StateRevoked)
		a := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: r.ID, GrantID: g.ID,
			From: rt0, PlannedUntil: rt0.Add(8 * time.Hour), Reason: "quarter close", Rule: "default", ApprovedBy: []string{bob}}
		e.checkAccess("wiki", []point{{"revoked, membership not yet removed", rt0.Add(3 * time.Hour), rows(a)}})

		e.clock.Advance(15 * time.Second)
		e.settle()
		e.wantMembers("wiki")
		a.Until = rt0.Add(3*time.Hour + 15*time.Second)
		a.Ended = "revoked by security@example.com: left the finance project"
		e.checkAccess("wiki", []point{
			{"revoked, membership not yet removed", rt0.Add(3*time.Hour + 14*time.Second), rows(a)},
			{"membership removed", rt0.Add(3*time.Hour + 15*time.Second), nil},
		})
	})

	// Revoking a request whose extension is in force ends that request only:
	// the extension still covers the membership and the report says so.
	t.Run("ExtensionStillInForce", func(t *testing.T) {
		e := newReportEnv(t)
		orig := e.submit(alice, "wiki", 2*time.Hour, "migration", "")
		e.approve(orig.ID, bob)
		e.to(rt0.Add(time.Hour))
		ext, err := e.svc.Extend(e.ctx, orig.ID, alice, 4*time.Hour, "more migration")
		if err != nil {
			t.Fatal(err)
		}
		e.approve(ext.ID, bob)
		e.to(rt0.Add(90 * time.Minute))
		e.revoke(orig.ID, security, "suspicious login")
		e.settle()
		e.state(orig.ID, approvals.StateRevoked)
		e.state(ext.ID, approvals.StateActive)
		e.wantMembers("wiki", alice)

		got := e.accessAt("wiki", rt0.Add(90*time.Minute))
		if len(got) != 1 || got[0].RequestID != ext.ID || !got[0].Until.IsZero() || got[0].ExtendsID != orig.ID {
			t.Fatalf("after revoking the original: got %s, want only the extension, in force", summary(got))
		}
		before := e.accessAt("wiki", rt0.Add(90*time.Minute-milli))
		if len(before) != 2 || before[0].RequestID != orig.ID {
			t.Fatalf("before the revocation: got %s", summary(before))
		}
		want := "revoked by security@example.com: suspicious login; kept: still covered by request " + approvals.Short(ext.ID)
		if before[0].Ended != want || !before[0].Until.Equal(rt0.Add(90*time.Minute)) {
			t.Errorf("revoked original: ended %q at %s, want %q at 10:30", before[0].Ended, fmtT(before[0].Until), want)
		}
	})
}

// Two people on one group (one through a bundle, one already a member);
// declined and timed-out requests never show as access.
func TestReport_PeopleDeclinedTimedOut(t *testing.T) {
	e := newReportEnv(t)
	// frank was in the group before jitbot.
	if _, err := e.db.DryRunAdd(e.ctx, approvals.Membership{Provider: "dryrun", Group: "wiki", Person: frank}); err != nil {
		t.Fatal(err)
	}

	ra := e.submit(alice, "wiki", 4*time.Hour, "docs sprint", "")
	e.approve(ra.ID, bob)
	ga := e.grant(ra.ID)

	e.to(rt0.Add(10 * time.Minute))
	re := e.submit(erin, "oncall", 2*time.Hour, "on call this week", "ONC-3")
	e.approve(re.ID, bob)
	ge, err := e.svc.Grants(e.ctx, re.ID)
	if err != nil || len(ge) != 2 || ge[0].Resource != "db-admins" || ge[1].Resource != "wiki" {
		t.Fatalf("bundle grants: %v %v", ge, err)
	}

	e.to(rt0.Add(20 * time.Minute))
	rc := e.submit(carol, "wiki", time.Hour, "curious", "")
	e.decline(rc.ID, bob, "not needed for finance")
	e.state(rc.ID, approvals.StateDeclined)

	e.to(rt0.Add(30 * time.Minute))
	rd := e.submit(dave, "wiki", time.Hour, "nobody answers", "")
	rf := e.submit(frank, "wiki", time.Hour, "already there", "")
	e.approve(rf.ID, bob)
	gf := e.grant(rf.ID)
	if !gf.Standing {
		t.Fatal("frank's grant should be standing")
	}
	e.wantMembers("wiki", alice, erin, frank)

	e.to(rt0.Add(90*time.Minute - milli))
	e.state(rd.ID, approvals.StatePending)
	e.to(rt0.Add(90 * time.Minute))
	e.state(rd.ID, approvals.StateTimedOut)
	e.state(rf.ID, approvals.StateExpired)
	e.wantMembers("wiki", alice, erin, frank) // standing: never removed
	e.to(rt0.Add(130 * time.Minute))
	e.wantMembers("wiki", alice, frank)
	e.to(rt0.Add(4 * time.Hour))
	e.wantMembers("wiki", frank)
	e.to(rt0.Add(5 * time.Hour))

	for _, id := range []string{rc.ID, rd.ID} {
		if gs, _ := e.svc.Grants(e.ctx, id); len(gs) != 0 {
			t.Errorf("request %s has grants: %v", approvals.Short(id), gs)
		}
	}

	aAlice := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: ra.ID, GrantID: ga.ID,
		From: rt0, Until: rt0.Add(4 * time.Hour), PlannedUntil: rt0.Add(4 * time.Hour), Ended: "expired",
		Reason: "docs sprint", Rule: "default", ApprovedBy: []string{bob}}
	erinAccess := func(g *approvals.Grant) audit.Access {
		return audit.Access{Person: erin, Resource: g.Resource, Requested: "oncall", RequestID: re.ID, GrantID: g.ID,
			From: rt0.Add(10 * time.Minute), Until: rt0.Add(130 * time.Minute), PlannedUntil: rt0.Add(130 * time.Minute),
			Ended: "expired", Reason: "on call this week", Ticket: "ONC-3", Rule: "default", ApprovedBy: []string{bob}}
	}
	aErinDB, aErinWiki := erinAccess(ge[0]), erinAccess(ge[1])
	aFrank := audit.Access{Person: frank, Resource: "wiki", Requested: "wiki", RequestID: rf.ID, GrantID: gf.ID,
		From: rt0.Add(30 * time.Minute), Until: rt0.Add(90 * time.Minute), PlannedUntil: rt0.Add(90 * time.Minute),
		Ended:  "expired; kept: standing access from before the grant",
		Reason: "already there", Rule: "default", ApprovedBy: []string{bob}, Standing: true}

	e.checkAccess("wiki", []point{
		{"before", rt0.Add(-milli), nil},
		{"alice only", rt0.Add(5 * time.Minute), rows(aAlice)},
		{"erin through the bundle", rt0.Add(10 * time.Minute), rows(aAlice, aErinWiki)},
		{"carol declined", rt0.Add(25 * time.Minute), rows(aAlice, aErinWiki)},
		{"dave pending, frank standing", rt0.Add(30 * time.Minute), rows(aAlice, aErinWiki, aFrank)},
		{"dave timed out, frank's grant ended", rt0.Add(90 * time.Minute), rows(aAlice, aErinWiki)},
		{"erin ended", rt0.Add(130 * time.Minute), rows(aAlice)},
		{"alice ended", rt0.Add(4 * time.Hour), nil},
	})
	// The bundle's own report lists both of its memberships.
	e.checkAccess("oncall", []point{
		{"bundle", rt0.Add(time.Hour), rows(aErinDB, aErinWiki)},
		{"bundle ended", rt0.Add(130 * time.Minute), nil},
	})
	e.checkAccess("db-admins", []point{{"leaf of the bundle", rt0.Add(time.Hour), rows(aErinDB)}})

	for at := rt0; at.Before(rt0.Add(5 * time.Hour)); at = at.Add(5 * time.Minute) {
		for _, a := range e.accessAt("wiki", at) {
			if a.Person == carol || a.Person == dave {
				t.Fatalf("%s shows as having access at %s through %s", a.Person, at.Format(time.TimeOnly), approvals.Short(a.RequestID))
			}
		}
	}
}

// PersonHistory: every request of a person, in filing order, with its
// state, approvers and outcome.
func TestReport_PersonHistory(t *testing.T) {
	e := newReportEnv(t)

	expired := e.submit(alice, "wiki", 2*time.Hour, "write the runbook", "OPS-1")
	e.approve(expired.ID, bob)

	e.to(rt0.Add(10 * time.Minute))
	declined := e.submit(alice, "db-admins", time.Hour, "fix a migration", "DB-5")
	e.approve(declined.ID, bob) // step 1 of 2
	e.state(declined.ID, approvals.StatePending)
	e.decline(declined.ID, carol, "use the read replica")

	e.to(rt0.Add(20 * time.Minute))
	released := e.submit(" Alice@Example.com", "finance", time.Hour, "budget review", "") // auto-approved
	e.settle()
	e.state(released.ID, approvals.StateActive)
	e.to(rt0.Add(30 * time.Minute))
	if _, err := e.svc.Release(e.ctx, released.ID, alice); err != nil {
		t.Fatal(err)
	}
	e.settle()

	e.to(rt0.Add(40 * time.Minute))
	revoked := e.submit(alice, "vpn", 4*time.Hour, "deploy", "")
	e.approve(revoked.ID, bob)
	e.to(rt0.Add(time.Hour))
	e.revoke(revoked.ID, security, "suspicious login")
	e.settle()

	e.to(rt0.Add(70 * time.Minute))
	cancelled := e.submit(alice, "db-admins", time.Hour, "oops", "")
	if _, err := e.svc.Cancel(e.ctx, cancelled.ID, alice); err != nil {
		t.Fatal(err)
	}

	e.to(rt0.Add(80 * time.Minute))
	timedOut := e.submit(alice, "vpn", time.Hour, "weekend work", "")
	// A refused attempt is audited but is no request.
	if _, err := e.svc.Submit(e.ctx, approvals.SubmitInput{Requester: alice, Resource: "wiki", Duration: 30 * 24 * time.Hour, Reason: "forever"}); err == nil {
		t.Fatal("a 30d request for a 7d resource was accepted")
	}
	e.to(rt0.Add(2 * time.Hour))
	e.state(expired.ID, approvals.StateExpired)
	e.to(rt0.Add(140 * time.Minute))
	e.state(timedOut.ID, approvals.StateTimedOut)

	// Someone else's requests are not alice's.
	other := e.submit(erin, "wiki", time.Hour, "not alice", "")
	e.approve(other.ID, bob)

	// Two steps, both approved, still in force when the report is read.
	e.to(rt0.Add(150 * time.Minute))
	active := e.submit(alice, "db-admins", time.Hour, "index rebuild", "DB-6")
	e.approve(active.ID, bob)
	e.to(rt0.Add(155 * time.Minute))
	e.approve(active.ID, carol)
	e.state(active.ID, approvals.StateActive)

	h, err := e.db.PersonHistory(e.ctx, "  Alice@Example.COM ")
	if err != nil {
		t.Fatal(err)
	}
	if h.Email != alice {
		t.Errorf("email: got %q, want %q", h.Email, alice)
	}
	if len(h.Other) != 0 {
		t.Errorf("other events: got %+v, want none (the refusal is not listed)", h.Other)
	}

	type wantReq struct {
		r        *approvals.Request
		resource string
		state    approvals.State
		filed    time.Duration
		duration time.Duration
		reason   string
		ticket   string
		rule     string
		approved []string
		outcome  string
		grants   []audit.Access
	}
	gExp, gRel, gRev, gAct := e.grant(expired.ID), e.grant(released.ID), e.grant(revoked.ID), e.grant(active.ID)
	want := []wantReq{
		{expired, "wiki", approvals.StateExpired, 0, 2 * time.Hour, "write the runbook", "OPS-1", "default",
			[]string{bob}, "the granted time ran out", rows(audit.Access{Person: alice, Resource: "wiki", Requested: "wiki",
				RequestID: expired.ID, GrantID: gExp.ID, From: rt0, Until: rt0.Add(2 * time.Hour), PlannedUntil: rt0.Add(2 * time.Hour),
				Ended: "expired", Reason: "write the runbook", Ticket: "OPS-1", Rule: "default", ApprovedBy: []string{bob}})},
		{declined, "db-admins", approvals.StateDeclined, 10 * time.Minute, time.Hour, "fix a migration", "DB-5",
			"db needs manager and owner", []string{bob, carol + " (declined)"}, "use the read replica", nil},
		{released, "finance", approvals.StateReleased, 20 * time.Minute, time.Hour, "budget review", "", "finance is automatic",
			[]string{"auto-approved by rule finance is automatic"}, "released early by the requester", rows(audit.Access{
				Person: alice, Resource: "finance", Requested: "finance", RequestID: released.ID, GrantID: gRel.ID,
				From: rt0.Add(20 * time.Minute), Until: rt0.Add(30 * time.Minute), PlannedUntil: rt0.Add(80 * time.Minute),
				Ended:  "released by alice@example.com: released early by the requester",
				Reason: "budget review", Rule: "finance is automatic", ApprovedBy: []string{"auto-approved by rule finance is automatic"}})},
		{revoked, "vpn", approvals.StateRevoked, 40 * time.Minute, 4 * time.Hour, "deploy", "", "default",
			[]string{bob}, "suspicious login", rows(audit.Access{Person: alice, Resource: "vpn", Requested: "vpn",
				RequestID: revoked.ID, GrantID: gRev.ID, From: rt0.Add(40 * time.Minute), Until: rt0.Add(time.Hour),
				PlannedUntil: rt0.Add(280 * time.Minute), Ended: "revoked by security@example.com: suspicious login",
				Reason: "deploy", Rule: "default", ApprovedBy: []string{bob}})},
		{cancelled, "db-admins", approvals.StateCancelled, 70 * time.Minute, time.Hour, "oops", "", "db needs manager and owner",
			nil, "cancelled by the requester", nil},
		{timedOut, "vpn", approvals.StateTimedOut, 80 * time.Minute, time.Hour, "weekend work", "", "default",
			nil, "no decision before the request expired", nil},
		{active, "db-admins", approvals.StateActive, 150 * time.Minute, time.Hour, "index rebuild", "DB-6",
			"db needs manager and owner", []string{bob, carol}, "", rows(audit.Access{Person: alice, Resource: "db-admins",
				Requested: "db-admins", RequestID: active.ID, GrantID: gAct.ID, From: rt0.Add(155 * time.Minute),
				PlannedUntil: rt0.Add(215 * time.Minute), Reason: "index rebuild", Ticket: "DB-6",
				Rule: "db needs manager and owner", ApprovedBy: []string{bob, carol}})},
	}
	if len(h.Requests) != len(want) {
		var got []string
		for _, q := range h.Requests {
			got = append(got, q.Resource+"/"+q.State)
		}
		t.Fatalf("requests: got %d %v, want %d", len(h.Requests), got, len(want))
	}
	for i, w := range want {
		q := h.Requests[i]
		var d []string
		chk := func(name string, g, w any) {
			if !reflect.DeepEqual(g, w) {
				d = append(d, fmt.Sprintf("%s: got %#v, want %#v", name, g, w))
			}
		}
		chk("RequestID", q.RequestID, w.r.ID)
		chk("Resource", q.Resource, w.resource)
		chk("State", q.State, string(w.state))
		if !q.Filed.Equal(rt0.Add(w.filed)) {
			d = append(d, fmt.Sprintf("Filed: got %s, want %s", fmtT(q.Filed), fmtT(rt0.Add(w.filed))))
		}
		chk("Duration", q.Duration, w.duration)
		chk("Reason", q.Reason, w.reason)
		chk("Ticket", q.Ticket, w.ticket)
		chk("Rule", q.Rule, w.rule)
		chk("ApprovedBy", q.ApprovedBy, w.approved)
		chk("Outcome", q.Outcome, w.outcome)
		if s := diffAccesses(q.Grants, w.grants); s != "" {
			d = append(d, "Grants:\n"+s)
		}
		if len(d) > 0 {
			t.Errorf("request %d (%s %s):\n  %s", i, w.resource, w.state, strings.Join(d, "\n  "))
		}
	}

	// Someone who never asked for anything.
	h, err = e.db.PersonHistory(e.ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Requests) != 0 || len(h.Other) != 0 {
		t.Errorf("bob's history: %+v", h)
	}
}

// stuckRemoval adds through the dry-run ledger but cannot remove: Atlassian
// answers 403 for good (say the token's user lost its admin rights).
type stuckRemoval struct{ *provisioner.DryRun }

func (stuckRemoval) RemoveMember(context.Context, approvals.Membership) error {
	return approvals.Permanent(fmt.Errorf("403: the API token's user is not a site admin"))
}

// A removal the bot gave up on does not end the access in the evidence:
// the person may still be in the group, and the report says so instead of
// showing nobody.
func TestReport_FailedRemovalStaysOpen(t *testing.T) {
	e := newReportEnv(t)
	e.svc = approvals.New(approvals.Config{
		Store:     e.db,
		Policy:    e.svc.Policy(),
		Clock:     e.clock,
		Providers: map[string]approvals.Provisioner{"dryrun": stuckRemoval{provisioner.NewDryRun(e.db, nil)}},
		Retry:     approvals.RetryPolicy{Base: time.Second, Cap: time.Minute, MaxAttempts: 4},
	})
	r := e.submit(alice, "wiki", 2*time.Hour, "incident", "")
	e.approve(r.ID, bob)
	g := e.grant(r.ID)
	e.to(rt0.Add(2 * time.Hour))
	e.state(r.ID, approvals.StateExpired)
	if got := e.grant(r.ID); got.State != approvals.GrantFailed {
		t.Fatalf("grant %s, want failed", got.State)
	}
	e.wantMembers("wiki", alice)

	a := audit.Access{Person: alice, Resource: "wiki", Requested: "wiki", RequestID: r.ID, GrantID: g.ID,
		From: rt0, PlannedUntil: rt0.Add(2 * time.Hour),
		Ended:  "removal failed: 403: the API token's user is not a site admin; the membership may still be there",
		Reason: "incident", Rule: "default", ApprovedBy: []string{bob}}
	e.checkAccess("wiki", []point{
		{"before", rt0.Add(-milli), nil},
		{"granted", rt0, rows(a)},
		{"at the planned end", rt0.Add(2 * time.Hour), rows(a)},
		{"a day later", rt0.Add(26 * time.Hour), rows(a)},
	})
}
