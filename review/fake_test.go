package review_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/postgres"
	"github.com/jonboulle/clockwork"
)

// t0 is a Tuesday morning.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const day = policies.Day

// fakeOrg is an in-memory Atlassian organisation: the directory with its
// product activity, groups and memberships, and v2 suspend/restore.
type fakeOrg struct {
	mu        sync.Mutex
	users     map[string]*review.DirectoryUser // by account id
	groups    map[string]review.Group          // by id
	members   map[string]map[string]bool       // group id → account ids
	pageSize  int
	pages     int
	suspends  map[string]int // calls per account
	restores  map[string]int
	suspendFn func(accountID string) error // fault injection
}

var (
	_ review.Directory = (*fakeOrg)(nil)
	_ review.Accounts  = (*fakeOrg)(nil)
)

func newFakeOrg() *fakeOrg {
	return &fakeOrg{users: map[string]*review.DirectoryUser{}, groups: map[string]review.Group{}, members: map[string]map[string]bool{},
		pageSize: 3, suspends: map[string]int{}, restores: map[string]int{}}
}

// put adds or replaces a user; id defaults to "acc-" + the email's local part.
func (o *fakeOrg) put(u review.DirectoryUser) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if u.AccountID == "" {
		u.AccountID = "acc-" + strings.Split(u.Email, "@")[0]
	}
	if u.AccountType == "" {
		u.AccountType = review.AccountTypePerson
	}
	if u.AccountStatus == "" {
		u.AccountStatus = review.AccountActive
	}
	if u.MembershipStatus == "" {
		u.MembershipStatus = "active"
	}
	if u.ManagementSource == "" {
		u.ManagementSource = "invited"
	}
	o.users[u.AccountID] = &u
	return u.AccountID
}

func (o *fakeOrg) remove(accountID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.users, accountID)
}

func (o *fakeOrg) addGroup(name string) review.Group {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := review.Group{ID: "grp-" + name, Name: name}
	o.groups[g.ID] = g
	o.members[g.ID] = map[string]bool{}
	return g
}

func (o *fakeOrg) deleteGroup(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.groups, "grp-"+name)
	delete(o.members, "grp-"+name)
}

func (o *fakeOrg) setMember(group, accountID string, member bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if member {
		o.members["grp-"+group][accountID] = true
	} else {
		delete(o.members["grp-"+group], accountID)
	}
}

func (o *fakeOrg) groupNames(accountID string) []string {
	gs, _ := o.GroupsOf(context.Background(), accountID)
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

func (o *fakeOrg) Users(ctx context.Context, fn func([]review.DirectoryUser) error) error {
	o.mu.Lock()
	ids := make([]string, 0, len(o.users))
	for id := range o.users {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var all []review.DirectoryUser
	for _, id := range ids {
		u := *o.users[id]
		u.Products = slices.Clone(u.Products)
		u.Groups = []string{}
		for gid, ms := range o.members {
			if ms[id] {
				u.Groups = append(u.Groups, o.groups[gid].Name)
			}
		}
		sort.Strings(u.Groups)
		all = append(all, u)
	}
	o.mu.Unlock()
	for i := 0; i < len(all); i += o.pageSize {
		o.mu.Lock()
		o.pages++
		o.mu.Unlock()
		if err := fn(all[i:min(i+o.pageSize, len(all))]); err != nil {
			return err
		}
	}
	return nil
}

func (o *fakeOrg) Suspend(ctx context.Context, accountID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.suspends[accountID]++
	u := o.users[accountID]
	if u == nil {
		return approvals.Permanent(fmt.Errorf("no account %s", accountID))
	}
	if o.suspendFn != nil {
		if err := o.suspendFn(accountID); err != nil {
			return err
		}
	}
	if u.ManagementSource == review.ManagedBySync {
		return approvals.Permanent(fmt.Errorf("ADMIN-403: %w", review.ErrManagedByIdP))
	}
	if u.MembershipStatus == review.MembershipSuspended {
		return approvals.Permanent(fmt.Errorf("ADMIN-409: %w", review.ErrAlreadySuspended))
	}
	u.MembershipStatus = review.MembershipSuspended
	return nil
}

func (o *fakeOrg) Restore(ctx context.Context, accountID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.restores[accountID]++
	if u := o.users[accountID]; u != nil {
		u.MembershipStatus = "active"
	}
	return nil
}

func (o *fakeOrg) GroupsOf(ctx context.Context, accountID string) ([]review.Group, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []review.Group
	for gid, ms := range o.members {
		if ms[accountID] {
			out = append(out, o.groups[gid])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (o *fakeOrg) AddToGroup(ctx context.Context, g review.Group, accountID, email string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.groups[g.ID]; !ok {
		return fmt.Errorf("group %s: %w", g.Name, review.ErrGroupNotFound)
	}
	o.members[g.ID][accountID] = true
	return nil
}

func (o *fakeOrg) suspendCalls(accountID string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.suspends[accountID]
}

// sent is a message-lane job the front end would deliver.
type sent struct {
	Kind    approvals.JobKind
	Ref     string
	Payload string
	RunAt   time.Time
}

// testDB is what the tests need of a store: SQLite's, or PostgreSQL's with
// JITBOT_REVIEW_STORE=postgres (and JITBOT_TEST_POSTGRES), which .ci/run
// sets for a second run of this package.
type testDB interface {
	approvals.Store
	review.Store
	provisioner.Ledger
	audit.Source
	PersonHistory(ctx context.Context, email string) (*audit.PersonReport, error)
	Close() error
}

// onPostgres reports whether this run keeps the review in PostgreSQL.
func onPostgres() bool { return os.Getenv("JITBOT_REVIEW_STORE") == "postgres" }

// env is an engine on a real SQLite file (or a PostgreSQL schema), a fake
// clock and a fake org, with the approvals engine beside it (dry-run
// provider) for JIT grants.
type env struct {
	t      *testing.T
	path   string
	url    string // the PostgreSQL schema, when onPostgres
	clock  *clockwork.FakeClock
	db     testDB
	org    *fakeOrg
	policy *policies.Policy
	eng    *review.Engine
	svc    *approvals.Service
	hooks  *review.Hooks
	idps   review.IdPs // set before open: suspend_at idp and auto

	mu   sync.Mutex
	sent []sent
}

const testPeople = `directory:
  people:
    - {email: boss@example.com, department: Engineering, employment: internal}
    - {email: alice@example.com, department: Engineering, manager: boss@example.com, employment: internal}
    - {email: bob@example.com, department: Engineering, manager: boss@example.com, employment: internal}
    - {email: newbie@example.com, department: Engineering, manager: boss@example.com, employment: internal}
    - {email: ghost@example.com, department: Sales, manager: boss@example.com, employment: internal}
    - {email: erin@partner.io, department: Engineering, manager: boss@example.com, employment: external}
    - {email: ida@partner.io, department: Engineering, manager: boss@example.com, employment: external}
resources:
  - {id: confluence-finance, provider: dryrun, group: confluence-finance, max_duration: 30d}
rules:
  - {name: all, then: {auto_approve: true, max_duration: 30d}}
`

// The two rules of the issue, verbatim.
const exampleReviews = `reviews:
  - name: employees
    if: {user: {employment: internal}}
    products: [jira-software, confluence]
    inactive_for: 30d
    schedule: "0 9 * * MON"
    action: prompt_manager
    answer_within: 5d
    default: keep
    keep_for: 90d
    digest: "#it-licences"
  - name: external consultants
    if: {user: {email_domain: [partner.io]}}
    inactive_for: 2d
    schedule: "@daily"
    action: suspend
    warn_before: 1d
    exclude: [svc-*@example.com, group:jira-admins-standing]
    dry_run: false
    digest: "#it-licences"
licence_costs: {jira-software: 8.60, confluence: 6.05}
`

func newEnv(t *testing.T, reviews string) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "jitbot.db"), clock: clockwork.NewFakeClockAt(t0), org: newFakeOrg(), hooks: &review.Hooks{}}
	p, err := policies.Parse("policy.yaml", []byte(testPeople+reviews), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.policy = p
	if onPostgres() {
		e.url, _ = pgtest.Schema(t)
	}
	e.open()
	t.Cleanup(func() { e.db.Close() })
	return e
}

// open (re)opens the database and builds the engines, as a restart does.
func (e *env) open() {
	e.t.Helper()
	var (
		db  testDB
		err error
	)
	if e.url != "" {
		db, err = postgres.Open(context.Background(), e.url, postgres.Options{Now: e.clock.Now})
	} else {
		db, err = store.Open(context.Background(), e.path, store.Options{Now: e.clock.Now})
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	dry := provisioner.NewDryRun(db, nil)
	e.svc = approvals.New(approvals.Config{Store: db, Policy: e.policy, Clock: e.clock,
		Providers: map[string]approvals.Provisioner{"dryrun": dry}})
	e.eng = review.New(review.Config{Store: db, Policy: e.policy, Directory: e.org, Accounts: e.org, Access: e.svc,
		Clock: e.clock, Hooks: e.hooks, IdPs: e.idps})
	e.eng.RegisterJobs(e.svc)
	for _, k := range review.MessageJobs {
		e.svc.Register(k, approvals.JobType{Lane: approvals.LaneMessage, Run: e.record})
	}
}

// restart closes the database and opens it again.
func (e *env) restart() {
	e.t.Helper()
	e.db.Close()
	e.open()
}

func (e *env) rule(name string) *policies.ReviewRule {
	e.t.Helper()
	r, ok := e.policy.Review.Rule(name)
	if !ok {
		e.t.Fatalf("no review rule %q", name)
	}
	return r
}

func (e *env) sync() *review.SyncRecord {
	e.t.Helper()
	rec, err := e.eng.Sync(context.Background(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func (e *env) run(rule string, opt review.RunOptions) *review.Run {
	e.t.Helper()
	run, err := e.eng.RunReview(context.Background(), e.rule(rule), opt)
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

// drain runs every due outbox job through the approvals engine's lanes:
// suspensions through the review engine, revocations through approvals,
// and review messages into e.sent, as a front end would deliver them. It
// returns the messages sent by this call.
func (e *env) drain() []sent {
	e.t.Helper()
	e.mu.Lock()
	before := len(e.sent)
	e.mu.Unlock()
	if _, err := e.svc.RunJobs(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]sent(nil), e.sent[before:]...)
	slices.SortFunc(out, func(a, b sent) int { return strings.Compare(string(a.Kind)+a.Ref, string(b.Kind)+b.Ref) })
	return out
}

// record is the test front end's handler of review message jobs.
func (e *env) record(ctx context.Context, j *approvals.Job) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sent = append(e.sent, sent{Kind: j.Kind, Ref: j.Ref, Payload: j.Note, RunAt: j.RunAt})
	return nil
}

// pendingJobs returns the review jobs not yet done, due or not.
func (e *env) pendingJobs() []sent {
	e.t.Helper()
	var out []sent
	for _, j := range e.jobs("") {
		out = append(out, sent{Kind: j.Kind, Ref: j.Ref, Payload: j.Note, RunAt: j.RunAt})
	}
	return out
}

// jobs returns the pending review jobs (of one kind, unless kind is "").
func (e *env) jobs(kind approvals.JobKind) []*approvals.Job {
	e.t.Helper()
	var out []*approvals.Job
	err := e.db.View(context.Background(), func(tx approvals.Tx) error {
		all, err := tx.(interface {
			PendingJobs(lane approvals.Lane) ([]*approvals.Job, error)
		}).PendingJobs("")
		for _, j := range all {
			if strings.HasPrefix(string(j.Kind), "review.") && (kind == "" || j.Kind == kind) {
				out = append(out, j)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) items(runID string) map[string]*review.Item {
	e.t.Helper()
	its, err := e.eng.Items(context.Background(), review.ItemFilter{RunID: runID})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]*review.Item{}
	for _, it := range its {
		out[it.Email] = it
	}
	return out
}

// events returns the audit actions about subject, in order.
func (e *env) events(subject string) []string {
	e.t.Helper()
	var out []string
	if err := e.db.Events(context.Background(), time.Time{}, time.Time{}, func(ev *approvals.Event) error {
		if subject == "" || ev.Subject == subject {
			out = append(out, ev.Action)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func ago(d time.Duration) time.Time { return t0.Add(-d) }

func used(key string, at time.Time) review.ProductActivity {
	return review.ProductActivity{Key: key, LastActive: at}
}

func wantState(t *testing.T, items map[string]*review.Item, email string, want review.ItemState) *review.Item {
	t.Helper()
	it := items[email]
	if it == nil {
		t.Fatalf("%s: no item, want %s", email, want)
	}
	if it.State != want {
		t.Fatalf("%s: got state %s, want %s (reason %q, finding %q)", email, it.State, want, it.Reason, it.Finding)
	}
	return it
}

func noItem(t *testing.T, items map[string]*review.Item, email string) {
	t.Helper()
	if it := items[email]; it != nil {
		t.Errorf("%s: got an item in state %s (%s), want none", email, it.State, it.Finding)
	}
}

func kinds(ss []sent) []string {
	var out []string
	for _, s := range ss {
		out = append(out, string(s.Kind)+" "+s.Ref)
	}
	sort.Strings(out)
	return out
}
