package bot_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/internal/testenv"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// testPolicy is the shared test policy (internal/testenv) with every
// provider the dryrun one, plus a resource whose group was deleted (jira)
// and one only a ghost and bob approve.
var testPolicy = testenv.Policy(testenv.PolicyParts{
	People: "    - {email: ghost@example.com, department: IT, employment: internal}\n",
	Resources: `  - id: wiki-admins
    name: Wiki administrators
    provider: jira
    group: wiki-admins
    max_duration: 1d
  - id: ghost-tools
    name: Tools only a ghost approves
    provider: dryrun
    group: ghost-tools
    max_duration: 1d
`,
	RulesFirst: `  - name: the ghost approves
    if: {resource: [ghost-tools]}
    then:
      approvals:
        - approvers: [ghost@example.com, bob@example.com]
`,
})

// Slack users of the tests.
const (
	uAlice = "U0ALICE"
	uBob   = "U0BOB"
	uErin  = "U0ERIN"
	uCarol = "U0CAROL"
	uDave  = "U0DAVE"
	uFrank = "U0FRANK"
	uMal   = "U0MALLORY" // in Slack, not in the directory
	cLog   = "C0ITLOG"
	cAcc   = "C0ACCLOG"
	cAlert = "C0ALERTS"
	cGen   = "C0GENERAL"
)

// t0 is the fake clock's start: a fixed instant so golden files are stable.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type env struct {
	t     testing.TB
	srv   *localslack.Server
	db    *store.DB
	svc   *approvals.Service
	bot   *bot.Bot
	clock *clockwork.FakeClock
	dry   *provisioner.DryRun
	cance context.CancelFunc
	wg    sync.WaitGroup
}

type envOptions struct {
	log   *zap.Logger
	slack localslack.Options
	audit func(ctx context.Context, email string) (string, error)
	// policy replaces testPolicy; users are added to the local Slack.
	policy string
	users  []localslack.User
	// botConfig adjusts the bot's configuration before it is built.
	botConfig func(*bot.Config)
	// review builds the licence review engine over the env's store.
	review func(e *env) bot.Reviewer
	// certify builds the certification engine over the env's store.
	certify func(e *env) bot.Certifier
}

func newEnv(t testing.TB) *env { return newEnvWith(t, envOptions{}) }

func newEnvWith(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t}
	src := testPolicy
	if o.policy != "" {
		src = o.policy
	}
	te := testenv.New(t, testenv.Options{Policy: src, At: t0,
		Providers: func(db *store.DB) map[string]approvals.Provisioner {
			e.dry = provisioner.NewDryRun(db, nil)
			return map[string]approvals.Provisioner{"dryrun": e.dry, "jira": deletedGroup{}}
		},
		Config: func(c *approvals.Config) {
			c.Retry = approvals.RetryPolicy{Base: time.Second, Cap: time.Second, MaxAttempts: 3}
		}})
	e.db, e.svc, e.clock = te.DB, te.Svc, te.Clock
	ctx := te.Ctx
	var err error
	if o.slack.Now == nil {
		o.slack.Now = e.clock.Now // Slack's pace and Retry-After run on the test's clock
	}
	e.srv = localslack.New(t, o.slack)
	for _, u := range []localslack.User{
		{ID: uAlice, Name: "alice", RealName: "Alice Archer", Email: "alice@example.com"},
		{ID: uBob, Name: "bob", RealName: "Bob Baker", Email: "bob@example.com"},
		{ID: uErin, Name: "erin", RealName: "Erin External", Email: "erin@partner.io", IsRestricted: true},
		{ID: uCarol, Name: "carol", RealName: "Carol Chen", Email: "carol@example.com"},
		{ID: uDave, Name: "dave", RealName: "Dave Dunn", Email: "dave@example.com"},
		{ID: uFrank, Name: "frank", RealName: "Frank Fox", Email: "frank@example.com"},
		{ID: uMal, Name: "mallory", RealName: "Mallory", Email: "mallory@elsewhere.example"},
	} {
		e.srv.AddUser(u)
	}
	for _, u := range o.users {
		e.srv.AddUser(u)
	}
	e.srv.AddUserGroup("S0ITLEADS", "it-leads", uDave)
	e.srv.AddUserGroup("S0IT", "it", uDave, uFrank)
	e.srv.AddChannel(cLog, "it-access-log")
	e.srv.AddChannel(cAcc, "access-log")
	e.srv.AddChannel(cAlert, "jitbot-alerts")
	e.srv.AddChannel(cGen, "general")

	cfg := bot.Config{
		Service:      e.svc,
		BotToken:     e.srv.BotToken(),
		AppToken:     e.srv.AppToken(),
		APIURL:       e.srv.APIURL(),
		AlertChannel: cAlert,
		ITGroup:      "it",
		Audit:        o.audit,
		ChannelRate:  rate.Inf,
		Log:          o.log,
	}
	if o.review != nil {
		cfg.Review = o.review(e)
	}
	if o.certify != nil {
		cfg.Certify = o.certify(e)
	}
	if o.botConfig != nil {
		o.botConfig(&cfg)
	}
	e.bot, err = bot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Attach(e.bot)
	if err := e.bot.Check(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	e.cance = cancel
	e.wg.Add(2)
	go func() { defer e.wg.Done(); _ = e.bot.Run(runCtx) }()
	go func() { defer e.wg.Done(); _ = e.svc.Run(runCtx) }()
	t.Cleanup(e.stop)
	if !e.srv.WaitConnections(1, 5*time.Second) {
		t.Fatal("the bot did not connect over Socket Mode")
	}
	return e
}

// deletedGroup is a provider whose group was deleted: every call fails
// permanently, as the jira provider reports a 404.
type deletedGroup struct{}

func (deletedGroup) AddMember(context.Context, approvals.Membership) error {
	return approvals.Permanent(errors.New("group wiki-admins was deleted"))
}
func (deletedGroup) RemoveMember(context.Context, approvals.Membership) error {
	return approvals.Permanent(errors.New("group wiki-admins was deleted"))
}
func (deletedGroup) IsMember(context.Context, approvals.Membership) (bool, error) {
	return false, approvals.Permanent(errors.New("group wiki-admins was deleted"))
}

func (e *env) stop() {
	e.cance()
	e.wg.Wait()
}

// wait polls cond until it holds or fails the test after 10 s, showing
// the jobs still pending.
func (e *env) wait(what string, cond func() bool) {
	e.t.Helper()
	if !e.srv.WaitFor(10*time.Second, cond) {
		if os.Getenv("JITBOT_DEBUG_WAIT") != "" { // what every goroutine was doing, for a timeout hard to reproduce
			buf := make([]byte, 1<<22)
			e.t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
		e.t.Fatalf("timed out waiting for %s (test clock %s); pending jobs:\n%s", what, e.clock.Now().Format(time.RFC3339Nano), e.jobDump())
	}
}

// jobDump lists the pending jobs, for failure messages.
func (e *env) jobDump() string {
	rows, err := e.db.ReadDB().Query(`SELECT id, kind, lane, job_key, note, attempts, claims, run_at, lease_owner <> '', last_error
		FROM jobs WHERE state = 'pending' ORDER BY id`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var (
			id, attempts, claims, runAt int64
			kind, lane, key, note, last string
			leased                      bool
		)
		if err := rows.Scan(&id, &kind, &lane, &key, &note, &attempts, &claims, &runAt, &leased, &last); err != nil {
			return err.Error()
		}
		fmt.Fprintf(&b, "  %d %s/%s key=%s note=%q attempts=%d claims=%d run_at=%s leased=%v last_error=%q\n",
			id, lane, kind, key, note, attempts, claims, time.UnixMilli(runAt).UTC().Format(time.RFC3339Nano), leased, last)
	}
	return b.String()
}

// cmd runs a slash command as user in #general.
func (e *env) cmd(user, text string) {
	e.t.Helper()
	if _, err := e.srv.SlashCommand(user, cGen, "/access", text); err != nil {
		e.t.Fatal(err)
	}
}

// ephemeralWith waits for an ephemeral to user that contains all of want.
func (e *env) ephemeralWith(user string, want ...string) localslack.Ephemeral {
	e.t.Helper()
	var got localslack.Ephemeral
	e.wait("an ephemeral to "+user+" saying "+strings.Join(want, " … "), func() bool {
		for _, m := range e.srv.Ephemerals(user) {
			if containsAll(m.AllText(), want...) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// dmWith waits for a DM to user whose current text contains all of want.
func (e *env) dmWith(user string, want ...string) localslack.Message {
	e.t.Helper()
	var got localslack.Message
	e.wait("a DM to "+user+" saying "+strings.Join(want, " … "), func() bool {
		for _, m := range e.srv.DMsTo(user) {
			if containsAll(m.AllText(), want...) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// postIn waits for a post in channel whose text contains all of want.
func (e *env) postIn(channel string, want ...string) {
	e.t.Helper()
	e.wait("a post in "+channel+" saying "+strings.Join(want, " … "), func() bool {
		for _, m := range e.srv.Messages(channel) {
			if containsAll(m.AllText(), want...) {
				return true
			}
		}
		return false
	})
}

// only returns the one DM to user about request id, failing if there are more.
func (e *env) only(user, short string) localslack.Message {
	e.t.Helper()
	var found []localslack.Message
	for _, m := range e.srv.DMsTo(user) {
		if strings.Contains(m.AllText(), short) && !strings.Contains(m.AllText(), "Reminder") && !strings.Contains(m.AllText(), "ends soon") && !strings.Contains(m.AllText(), "ends <!date") {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("want exactly one DM to %s about %s, got %d", user, short, len(found))
	}
	return found[0]
}

// pendingJobs counts the pending outbox jobs of a lane.
func (e *env) pendingJobs(lane approvals.Lane) int {
	e.t.Helper()
	var n int
	if err := e.db.ReadDB().QueryRow(`SELECT count(*) FROM jobs WHERE state = 'pending' AND lane = ?`, string(lane)).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// leasedJobs counts the jobs a worker holds right now.
func (e *env) leasedJobs() int {
	e.t.Helper()
	var n int
	if err := e.db.ReadDB().QueryRow(`SELECT count(*) FROM jobs WHERE state = 'pending' AND lease_owner <> ''`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// posted counts the messages posted in user's DM.
func (e *env) posted(user string) int { return len(e.srv.DMsTo(user)) }

func containsAll(s string, want ...string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// request returns the newest request of requester.
func (e *env) request(requester string) *approvals.Request {
	e.t.Helper()
	rs, err := e.svc.List(context.Background(), approvals.RequestFilter{Requester: requester})
	if err != nil || len(rs) == 0 {
		e.t.Fatalf("no request of %s (%v)", requester, err)
	}
	newest := rs[0]
	for _, r := range rs {
		if r.CreatedAt.After(newest.CreatedAt) {
			newest = r
		}
	}
	return newest
}

func (e *env) state(id string) approvals.State {
	e.t.Helper()
	r, err := e.svc.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.State
}

func (e *env) waitState(id string, want approvals.State) {
	e.t.Helper()
	e.wait("request "+approvals.Short(id)+" to be "+string(want), func() bool { return e.state(id) == want })
}

func (e *env) member(group, email string) bool {
	ok, err := e.dry.IsMember(context.Background(), approvals.Membership{Provider: "dryrun", Group: group, Person: email})
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// click clicks a button in a message and fails the test if the emulator
// refuses (no such button).
func (e *env) click(user string, m localslack.Message, action string) {
	e.t.Helper()
	if _, err := e.srv.ClickButton(user, m.Channel, m.TS, action); err != nil {
		e.t.Fatal(err)
	}
}
