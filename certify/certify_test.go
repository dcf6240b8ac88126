package certify_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/certify"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/store"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// groups is a provider whose groups live in memory; it lists members.
type groups struct {
	mu      sync.Mutex
	members map[string]map[string]bool
	removes int
}

var (
	_ approvals.Provisioner  = (*groups)(nil)
	_ approvals.MemberLister = (*groups)(nil)
)

func newGroups(init map[string][]string) *groups {
	g := &groups{members: map[string]map[string]bool{}}
	for grp, ps := range init {
		g.members[grp] = map[string]bool{}
		for _, p := range ps {
			g.members[grp][p] = true
		}
	}
	return g
}

func (g *groups) AddMember(_ context.Context, m approvals.Membership) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m.Group] == nil {
		g.members[m.Group] = map[string]bool{}
	}
	g.members[m.Group][m.Person] = true
	return nil
}

func (g *groups) RemoveMember(_ context.Context, m approvals.Membership) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m.Group][m.Person] {
		g.removes++
	}
	delete(g.members[m.Group], m.Person)
	return nil
}

func (g *groups) IsMember(_ context.Context, m approvals.Membership) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members[m.Group][m.Person], nil
}

func (g *groups) Members(_ context.Context, group string) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for p := range g.members[group] {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func (g *groups) has(group, person string) bool {
	ok, _ := g.IsMember(context.Background(), approvals.Membership{Group: group, Person: person})
	return ok
}

// slackGroups resolves group:HANDLE reviewers.
type slackGroups map[string][]string

func (s slackGroups) GroupMembers(_ context.Context, h string) ([]string, error) { return s[h], nil }

const certPolicy = `certifications:
  - name: finance quarterly
    resources: [confluence-finance]
    reviewers: [owner, manager]
    schedule: "0 9 1 1,4,7,10 *"
    answer_within: 14d
    escalate_to: [group:it-leads]
    default: remove
  - name: admins
    resources: [jira-admins, confluence-finance]
    reviewers: [manager]
    schedule: "@monthly"
`

// world is an engine over a real store with the groups provider, jobs of
// the message lane recorded as delivered.
type world struct {
	*testenv.Engine
	prov      *groups
	cert      *certify.Engine
	mu        sync.Mutex
	delivered map[approvals.JobKind][]string
}

func newWorld(t testing.TB, prov *groups, path string, hooks *certify.Hooks) *world {
	t.Helper()
	env := testenv.New(t, testenv.Options{
		Policy: testenv.Policy(testenv.PolicyParts{Provider: "jira",
			People: "    - {email: zed@example.com, department: Finance, manager: carol@example.com}\n"}) + certPolicy,
		At:   t0,
		Path: path,
		Providers: func(*store.DB) map[string]approvals.Provisioner {
			return map[string]approvals.Provisioner{"jira": prov, "dryrun": prov}
		},
		Config: func(c *approvals.Config) { c.Groups = slackGroups{"it-leads": {"frank@example.com"}} },
	})
	w := &world{Engine: env, prov: prov, delivered: map[approvals.JobKind][]string{}}
	w.cert = certify.New(certify.Config{Store: env.DB, Access: env.Svc, Clock: env.Clock, Hooks: hooks,
		Resolver: slackGroups{"it-leads": {"frank@example.com"}}})
	for _, k := range append(certify.MessageJobs, approvals.JobNotify) {
		env.Svc.Register(k, approvals.JobType{Lane: approvals.LaneMessage, Run: func(_ context.Context, j *approvals.Job) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.delivered[j.Kind] = append(w.delivered[j.Kind], j.Ref)
			return nil
		}})
	}
	return w
}

func (w *world) items(c *certify.Campaign) map[string]*certify.Item {
	w.T.Helper()
	_, items, err := w.cert.Campaign(w.Ctx, c.ID)
	if err != nil {
		w.T.Fatal(err)
	}
	out := map[string]*certify.Item{}
	for _, it := range items {
		out[it.Group+" "+it.Person] = it
	}
	return out
}

func rule(t *testing.T, w *world, name string) *policies.CertRule {
	r, ok := w.Policy.CertRule(name)
	if !ok {
		t.Fatalf("no rule %q", name)
	}
	return r
}

func code(err error) string { return approvals.ErrorCode(err) }

func TestCampaign(t *testing.T) {
	prov := newGroups(map[string][]string{
		// alice: standing; dave: recorded as standing from before jitbot;
		// carol: the owner, a member herself; ghost: left the company.
		"confluence-finance": {"alice@example.com", "carol@example.com", "dave@example.com", "ghost@example.com"},
	})
	w := newWorld(t, prov, "", nil)
	// erin is a member just in time: an active grant covers her.
	r := w.Submit(approvals.SubmitInput{Requester: "erin@partner.io", Resource: "confluence-finance", Duration: 24 * time.Hour, Reason: "close"})
	w.Approve(r.ID, "bob@example.com")
	w.Approve(r.ID, "carol@example.com")
	w.Settle()
	if !prov.has("confluence-finance", "erin@partner.io") {
		t.Fatal("erin's grant was not provisioned")
	}
	if err := w.DB.Update(w.Ctx, func(tx approvals.Tx) error {
		_, err := tx.InsertMembership(&approvals.MembershipRecord{Membership: approvals.Membership{Provider: "jira",
			Group: "confluence-finance", Person: "dave@example.com"}, Origin: approvals.OriginStanding, Since: t0.Add(-400 * 24 * time.Hour)})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	c, err := w.cert.Start(w.Ctx, rule(t, w, "finance quarterly"), certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != certify.CampaignOpen {
		t.Fatalf("campaign state: got %s, want open", c.State)
	}
	items := w.items(c)
	var keys []string
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"confluence-finance alice@example.com", "confluence-finance carol@example.com",
		"confluence-finance dave@example.com", "confluence-finance ghost@example.com"}
	if !slices.Equal(keys, want) {
		t.Fatalf("items: got %v, want %v (erin's grant covers her)", keys, want)
	}
	alice, carol, dave, ghost := items[want[0]], items[want[1]], items[want[2]], items[want[3]]
	for _, tc := range []struct {
		it       *certify.Item
		reviewer string
	}{{alice, "carol@example.com"}, {carol, "bob@example.com"}, {dave, "carol@example.com"}, {ghost, "carol@example.com"}} {
		if tc.it.Reviewer != tc.reviewer {
			t.Errorf("%s: reviewer got %q, want %q (the owner reviews, but not herself)", tc.it.Person, tc.it.Reviewer, tc.reviewer)
		}
	}
	if !dave.Standing || !dave.MemberSince.Equal(t0.Add(-400*24*time.Hour)) || alice.Standing || !alice.MemberSince.Equal(t0) {
		t.Errorf("standing and member since: dave %v %s, alice %v %s", dave.Standing, dave.MemberSince, alice.Standing, alice.MemberSince)
	}
	if ghost.InDirectory {
		t.Error("ghost: got in the directory, want not (left)")
	}
	if !dave.EscalateAt.Equal(t0.Add(7*24*time.Hour)) || !dave.AnswerBy.Equal(t0.Add(14*24*time.Hour)) {
		t.Errorf("deadlines: escalate %s, answer by %s", dave.EscalateAt, dave.AnswerBy)
	}
	w.Settle()
	if got := w.delivered[certify.JobPrompt]; len(got) != 2 {
		t.Errorf("prompts: got %v, want one for carol and one for bob", got)
	}

	// Answers: keep needs a reason; nobody certifies themself; only a reviewer answers.
	if _, err := w.cert.Answer(w.Ctx, alice.ID, "carol@example.com", policies.CertKeep, ""); code(err) != approvals.EInvalid {
		t.Errorf("keep without a reason: got %v, want invalid", err)
	}
	if _, err := w.cert.Answer(w.Ctx, carol.ID, "carol@example.com", policies.CertKeep, "I own it"); code(err) != certify.ESelfReview {
		t.Errorf("carol on herself: got %v, want self_review", err)
	}
	if _, err := w.cert.Answer(w.Ctx, ghost.ID, "bob@example.com", policies.CertRemove, ""); code(err) != certify.ENotReviewer {
		t.Errorf("bob on ghost: got %v, want not_reviewer", err)
	}
	if _, err := w.cert.Answer(w.Ctx, alice.ID, "carol@example.com", policies.CertKeep, "month-end close"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.cert.Answer(w.Ctx, alice.ID, "carol@example.com", policies.CertRemove, ""); code(err) != approvals.EConflict {
		t.Errorf("second answer: got %v, want conflict", err)
	}
	if _, err := w.cert.Answer(w.Ctx, ghost.ID, "carol@example.com", policies.CertRemove, ""); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if prov.has("confluence-finance", "ghost@example.com") || !prov.has("confluence-finance", "alice@example.com") {
		t.Error("after the answers: ghost must be removed, alice kept")
	}
	if !prov.has("confluence-finance", "erin@partner.io") {
		t.Error("erin's grant was touched")
	}

	// Halfway: escalation; frank (it-leads) may answer dave now, not before.
	if _, err := w.cert.Answer(w.Ctx, dave.ID, "frank@example.com", policies.CertConvert, ""); code(err) != certify.ENotReviewer {
		t.Errorf("frank before escalation: got %v, want not_reviewer", err)
	}
	w.Clock.Advance(7 * 24 * time.Hour)
	if err := w.cert.Tick(w.Ctx); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if got := w.delivered[certify.JobEscalation]; len(got) != 1 {
		t.Errorf("escalations: got %v, want one", got)
	}
	if _, err := w.cert.Answer(w.Ctx, dave.ID, "frank@example.com", policies.CertConvert, ""); err != nil {
		t.Fatalf("frank after escalation: %v", err)
	}
	w.Settle()
	if prov.has("confluence-finance", "dave@example.com") {
		t.Error("convert: dave is still a member")
	}
	if got := w.delivered[certify.JobConverted]; len(got) != 1 || got[0] != dave.ID {
		t.Errorf("converted notices: got %v, want dave's", got)
	}
	// dave asks for it just in time, through the normal flow.
	r2 := w.Submit(approvals.SubmitInput{Requester: "dave@example.com", Resource: "confluence-finance", Duration: 4 * time.Hour, Reason: "audit"})
	w.Settle()
	if got := w.Get(r2.ID).State; got != approvals.StateActive || !prov.has("confluence-finance", "dave@example.com") {
		t.Fatalf("dave's request: got %s, want active and a member", got)
	}
	w.Clock.Advance(5 * time.Hour)
	if _, err := w.Svc.Sweep(w.Ctx); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if prov.has("confluence-finance", "dave@example.com") {
		t.Error("dave's grant ended but the membership stayed: the standing record must be gone")
	}

	// The end: carol's item takes the default (remove); the campaign closes.
	w.Clock.Advance(7 * 24 * time.Hour)
	if err := w.cert.Tick(w.Ctx); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	items = w.items(c)
	for k, want := range map[string]certify.ItemState{want[0]: certify.ItemKept, want[1]: certify.ItemRemoved,
		want[2]: certify.ItemRemoved, want[3]: certify.ItemRemoved} {
		if items[k].State != want {
			t.Errorf("%s: got %s, want %s", k, items[k].State, want)
		}
	}
	if it := items[want[1]]; !it.Defaulted || it.DecidedBy != approvals.ActorSystem || it.Answer != policies.CertRemove {
		t.Errorf("carol's default: got %+v", it)
	}
	if c, _, _ := w.cert.Campaign(w.Ctx, c.ID); c.State != certify.CampaignClosed {
		t.Errorf("campaign: got %s, want closed", c.State)
	}
	counts := map[string]int{}
	if err := w.DB.Events(w.Ctx, time.Time{}, time.Time{}, func(e *approvals.Event) error {
		if strings.HasPrefix(e.Action, "certification.") {
			counts[e.Action]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	wantCounts := map[string]int{certify.ActionStarted: 1, certify.ActionListed: 1, certify.ActionAnswered: 3,
		certify.ActionDefaulted: 1, certify.ActionEscalated: 2, certify.ActionRemoved: 3, certify.ActionClosed: 1}
	for a, n := range wantCounts {
		if counts[a] != n {
			t.Errorf("audit %s: got %d, want %d (all: %v)", a, counts[a], n, counts)
		}
	}
}

// A removal whose membership went meanwhile ends "gone"; one a grant
// covers by then is kept for the grant to end.
func TestRemove_GoneAndCovered(t *testing.T) {
	prov := newGroups(map[string][]string{"confluence-finance": {"alice@example.com", "zed@example.com"}})
	w := newWorld(t, prov, "", nil)
	c, err := w.cert.Start(w.Ctx, rule(t, w, "finance quarterly"), certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	items := w.items(c)
	alice, zed := items["confluence-finance alice@example.com"], items["confluence-finance zed@example.com"]
	prov.RemoveMember(w.Ctx, zed.Membership())
	r := w.Submit(approvals.SubmitInput{Requester: "alice@example.com", Resource: "confluence-finance", Duration: 4 * time.Hour, Reason: "x"})
	w.Settle()
	if w.Get(r.ID).State != approvals.StateActive {
		t.Fatal("alice's request did not activate")
	}
	for _, it := range []*certify.Item{alice, zed} {
		if _, err := w.cert.Answer(w.Ctx, it.ID, "carol@example.com", policies.CertRemove, ""); err != nil {
			t.Fatal(err)
		}
	}
	w.Settle()
	items = w.items(c)
	if got := items["confluence-finance zed@example.com"].State; got != certify.ItemGone {
		t.Errorf("zed: got %s, want gone", got)
	}
	if got := items["confluence-finance alice@example.com"].State; got != certify.ItemCovered {
		t.Errorf("alice: got %s, want covered", got)
	}
	if !prov.has("confluence-finance", "alice@example.com") {
		t.Fatal("alice's grant lost its membership")
	}
	// Her grant's end removes it: the reviewer said remove.
	w.Clock.Advance(5 * time.Hour)
	if _, err := w.Svc.Sweep(w.Ctx); err != nil {
		t.Fatal(err)
	}
	w.Settle()
	if prov.has("confluence-finance", "alice@example.com") {
		t.Error("alice's membership stayed after her grant ended")
	}
}

var errCrash = errors.New("crash")

// A crash after the first group: the next start resumes the campaign,
// lists each member once and asks each reviewer once; answers given are
// not asked again.
func TestCampaign_CrashResumes(t *testing.T) {
	prov := newGroups(map[string][]string{
		"confluence-finance": {"alice@example.com", "zed@example.com"},
		"jira-admins":        {"alice@example.com", "carol@example.com"},
	})
	path := t.TempDir() + "/jitbot.db"
	crashed := false
	w := newWorld(t, prov, path, &certify.Hooks{AfterGroup: func(*certify.Campaign, policies.CertTarget) error {
		if !crashed {
			crashed = true
			return errCrash
		}
		return nil
	}})
	if _, err := w.cert.Start(w.Ctx, rule(t, w, "admins"), certify.TriggerSchedule); !errors.Is(err, errCrash) {
		t.Fatalf("got %v, want the crash", err)
	}
	w.DB.Close()

	w2 := newWorld(t, prov, path, nil)
	if err := w2.cert.Tick(w2.Ctx); err != nil {
		t.Fatal(err)
	}
	cs, err := w2.cert.Campaigns(w2.Ctx, certify.CampaignFilter{Rule: "admins"})
	if err != nil || len(cs) != 1 || cs[0].State != certify.CampaignOpen {
		t.Fatalf("campaigns after resume: got %v %v, want one open", cs, err)
	}
	items := w2.items(cs[0])
	if len(items) != 4 {
		t.Fatalf("items: got %d, want 4", len(items))
	}
	w2.Settle()
	if got := w2.delivered[certify.JobPrompt]; len(got) != 2 { // bob (alice's manager) and carol (zed's)
		t.Errorf("prompts: got %v, want 2", got)
	}
	if _, err := w2.cert.Answer(w2.Ctx, items["jira-admins alice@example.com"].ID, "bob@example.com", policies.CertKeep, "on call"); err != nil {
		t.Fatal(err)
	}
	// Another start of the same rule while one is open is a new campaign
	// only when asked; resuming again asks nobody.
	if err := w2.cert.Resume(w2.Ctx); err != nil {
		t.Fatal(err)
	}
	w2.Settle()
	if got := w2.delivered[certify.JobPrompt]; len(got) != 2 {
		t.Errorf("prompts after a second resume: got %v, want still 2", got)
	}
}

// The scheduler starts a campaign at the rule's next run, not at once.
func TestTick_Schedule(t *testing.T) {
	prov := newGroups(map[string][]string{"confluence-finance": {"alice@example.com"}})
	w := newWorld(t, prov, "", nil)
	if err := w.cert.Tick(w.Ctx); err != nil {
		t.Fatal(err)
	}
	if cs, _ := w.cert.Campaigns(w.Ctx, certify.CampaignFilter{}); len(cs) != 0 {
		t.Fatalf("first tick: got %d campaigns, want none", len(cs))
	}
	next, ok, err := w.cert.NextWake(w.Ctx)
	if err != nil || !ok || !next.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("next wake: got %s %v %v, want 1 January (admins, @monthly)", next, ok, err)
	}
	w.Clock.Advance(next.Sub(w.Clock.Now()))
	if err := w.cert.Tick(w.Ctx); err != nil {
		t.Fatal(err)
	}
	cs, _ := w.cert.Campaigns(w.Ctx, certify.CampaignFilter{})
	if len(cs) != 1 || cs[0].Rule != "admins" {
		t.Fatalf("campaigns at midnight: got %v, want admins'", cs)
	}
	w.Clock.Advance(9 * time.Hour) // finance quarterly: 09:00
	if err := w.cert.Tick(w.Ctx); err != nil {
		t.Fatal(err)
	}
	if cs, _ := w.cert.Campaigns(w.Ctx, certify.CampaignFilter{}); len(cs) != 2 || cs[0].Rule != "finance quarterly" {
		t.Fatalf("campaigns at 09:00: got %v, want finance quarterly's too", cs)
	}
}

// One campaign of a rule at a time: a second start is refused while the
// first is open, and the scheduler skips the slot.
func TestStart_OneOpenCampaign(t *testing.T) {
	prov := newGroups(map[string][]string{"confluence-finance": {"alice@example.com"}})
	w := newWorld(t, prov, "", nil)
	r := rule(t, w, "finance quarterly")
	first, err := w.cert.Start(w.Ctx, r, certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.cert.Start(w.Ctx, r, certify.TriggerCLI)
	if code(err) != certify.EOpen || again == nil || again.ID != first.ID {
		t.Fatalf("a second start: got %v %v, want EOpen naming the first", again, err)
	}
	if cs, _ := w.cert.Campaigns(w.Ctx, certify.CampaignFilter{Rule: r.Name}); len(cs) != 1 {
		t.Errorf("campaigns: got %d, want 1", len(cs))
	}
}

// An item no reviewer term could take goes to IT: members of the IT group
// answer it, nobody else.
func TestAnswer_IT(t *testing.T) {
	prov := newGroups(map[string][]string{"jira-admins": {"bob@example.com"}})
	w := newWorld(t, prov, "", nil)
	it2 := certify.New(certify.Config{Store: w.DB, Access: w.Svc, Clock: w.Clock, ITGroup: "it-leads",
		Resolver: slackGroups{"it-leads": {"frank@example.com"}}})
	c, err := it2.Start(w.Ctx, rule(t, w, "admins"), certify.TriggerCLI) // reviewers: [manager]; bob has none
	if err != nil {
		t.Fatal(err)
	}
	bob := w.items(c)["jira-admins bob@example.com"]
	if bob == nil || bob.Reviewer != "" {
		t.Fatalf("bob's item: got %+v, want it for IT", bob)
	}
	if _, err := it2.Answer(w.Ctx, bob.ID, "alice@example.com", policies.CertRemove, ""); code(err) != certify.ENotReviewer {
		t.Errorf("alice on bob: got %v, want not_reviewer", err)
	}
	if _, err := it2.Answer(w.Ctx, bob.ID, "frank@example.com", policies.CertKeep, "the Jira owner"); err != nil {
		t.Errorf("frank (IT) on bob: %v", err)
	}
}

// A member whose email Atlassian hides is in the standing report, not in
// a campaign: nobody could be asked about them by name.
func TestCampaign_HiddenEmail(t *testing.T) {
	prov := newGroups(map[string][]string{"confluence-finance": {"accountId:5b10ac8d82e05b22cc7d4ef5", "alice@example.com"}})
	w := newWorld(t, prov, "", nil)
	rows, errs := w.cert.StandingReport(w.Ctx, w.Policy.Targets(rule(t, w, "finance quarterly")))
	if len(rows) != 2 || len(errs) != 0 {
		t.Fatalf("standing report: got %d rows %v, want both members", len(rows), errs)
	}
	c, err := w.cert.Start(w.Ctx, rule(t, w, "finance quarterly"), certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	if items := w.items(c); len(items) != 1 || items["confluence-finance alice@example.com"] == nil {
		t.Errorf("items: got %v, want alice's only", items)
	}
}

// flaky removes the member, then fails the call once, as a crash between
// the provider's removal and jitbot's record would look.
type flaky struct {
	*groups
	failed bool
}

func (f *flaky) RemoveMember(ctx context.Context, m approvals.Membership) error {
	err := f.groups.RemoveMember(ctx, m)
	if !f.failed {
		f.failed = true
		return errors.New("the site answered 502 after removing")
	}
	return err
}

// A removal whose first attempt removed the member but failed to record
// is retried: the member is removed once, and the item says removed.
func TestRemove_RetriedAfterTheProviderRemoved(t *testing.T) {
	prov := newGroups(map[string][]string{"confluence-finance": {"alice@example.com"}})
	f := &flaky{groups: prov}
	env := testenv.New(t, testenv.Options{
		Policy: testenv.Policy(testenv.PolicyParts{Provider: "jira"}) + certPolicy,
		At:     t0,
		Providers: func(*store.DB) map[string]approvals.Provisioner {
			return map[string]approvals.Provisioner{"jira": f, "dryrun": f}
		},
	})
	eng := certify.New(certify.Config{Store: env.DB, Access: env.Svc, Clock: env.Clock})
	for _, k := range certify.MessageJobs {
		env.Svc.Register(k, approvals.JobType{Lane: approvals.LaneMessage, Run: func(context.Context, *approvals.Job) error { return nil }})
	}
	r, _ := env.Policy.CertRule("finance quarterly")
	c, err := eng.Start(env.Ctx, r, certify.TriggerCLI)
	if err != nil {
		t.Fatal(err)
	}
	_, items, _ := eng.Campaign(env.Ctx, c.ID)
	if _, err := eng.Answer(env.Ctx, items[0].ID, "carol@example.com", policies.CertRemove, ""); err != nil {
		t.Fatal(err)
	}
	env.Settle() // the first attempt fails after removing
	env.Clock.Advance(time.Minute)
	env.Settle()
	it, err := eng.Item(env.Ctx, items[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if it.State != certify.ItemRemoved || prov.removes != 1 {
		t.Errorf("got %s after %d removals, want removed once", it.State, prov.removes)
	}
}
