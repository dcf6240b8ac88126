package bot_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/localslack"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// benchEnvInt reads a positive number from the environment, else def.
func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// BenchmarkBurstJiraRateLimited: 200 requesters (JITBOT_BENCH_REQUESTERS)
// ask at once for one Jira group, through the local Slack and the real
// slack-go client over Socket Mode, the real bot (Slack's pace: 1 post a
// second per channel, bursts of 4), the engine's lanes (Service.Run), the
// SQLite store and the jira provider against the fake Jira site limited to
// R requests a second (JITBOT_BENCH_RATE, default 50; the provider has its
// defaults, as a new user does: it learns the pace from the answers). The
// requesters are spread over 10 approvers, then all under one. Each run
// goes:
//
//  1. filing: 200 /access commands at once; their acks (wall clock, as the
//     local Slack measured them);
//  2. placing: the test clock is moved on in steps of 100 ms each time the
//     message lane has done what it can, until every request has an
//     Approve button in its approver's DMs (a card, or a page listing
//     waiting requests); reported on the test clock;
//  3. clicks: every Approve is clicked at once; click→added is the wall
//     time from a click to the membership at the fake Jira;
//  4. expiry: the grants all end at one instant of the test clock (the test
//     clock stood still while they were provisioned); the clock is moved
//     to the warning, then to the deadline; expiry→removed is the wall time
//     from that move to the removal at the fake Jira.
//
// The rate limit alone makes the i-th of N changes wait i/R: the ideal
// latency distribution is {0, 1/R, …, (N-1)/R}. excess is, rank by rank,
// the measured latency minus the ideal one (target p99 < 1 s).
//
// Peak RSS is the benchmark process's VmHWM, reset (/proc/self/clear_refs)
// once everything is connected: it holds the bot, the engine, SQLite and
// both fakes with their spec validators. JITBOT_BENCH_GROUP_MEMBERS puts
// that many standing members in the group first; JITBOT_BENCH_KNOWN_ACCOUNTS=1
// stores every requester's Jira account id first (no user search);
// JITBOT_BENCH_PAGE_SIZE sets the bot's PageSize (requests listed per page);
// JITBOT_BENCH_CLICK_AFTER_LOOKUPS=1 has the approvers click once the engine
// has looked up every requester's account, as it does while requests wait
// (approvals.Preparer), instead of at once: people read before they click;
// JITBOT_BENCH_CONNECTIONS sets the bot's Socket Mode connections (default
// 2), over which the local Slack spreads envelopes as Slack does;
// JITBOT_BENCH_CLICK_RATE=N spreads the clicks at N a second (all
// approvers together) instead of all in one instant.
//
//	go test -run '^$' -bench BenchmarkBurstJiraRateLimited -benchtime 1x -timeout 30m ./bot/
func BenchmarkBurstJiraRateLimited(b *testing.B) {
	n := benchEnvInt("JITBOT_BENCH_REQUESTERS", 200)
	r := benchEnvInt("JITBOT_BENCH_RATE", 50)
	for _, k := range []int{10, 1} {
		b.Run(fmt.Sprintf("approvers=%d", k), func(b *testing.B) {
			for range b.N {
				runBurst(b, burstSetup{requesters: n, approvers: k, rate: r,
					standing: benchEnvInt("JITBOT_BENCH_GROUP_MEMBERS", 0), knownAccounts: os.Getenv("JITBOT_BENCH_KNOWN_ACCOUNTS") == "1",
					pageSize: benchEnvInt("JITBOT_BENCH_PAGE_SIZE", 0), clickAfterLookups: os.Getenv("JITBOT_BENCH_CLICK_AFTER_LOOKUPS") == "1",
					connections: benchEnvInt("JITBOT_BENCH_CONNECTIONS", 0), clickRate: float64(benchEnvInt("JITBOT_BENCH_CLICK_RATE", 0))})
			}
		})
	}
}

type burstSetup struct {
	requesters, approvers, rate int
	standing                    int
	knownAccounts               bool
	pageSize                    int // 0: the bot's default
	clickAfterLookups           bool
	connections                 int     // Socket Mode connections; 0: the bot's default (2)
	clickRate                   float64 // clicks a second, all approvers together; 0: all at once
}

// burstGroup is the Jira group of the benchmark's one resource.
const burstGroup = "ops-tools"

// newBurstEnv wires the pieces as production does, with the jira provider
// against a fake site: the same env the other bot tests use, built here
// because newEnv's providers are the dryrun one.
func newBurstEnv(b *testing.B, s burstSetup) (*env, *atlassianfake.Server, *jira.Provider) {
	pol, users := lanesPolicy(s.requesters, s.approvers)
	if strings.Count(pol, "provider: dryrun") != 1 {
		b.Fatal("lanesPolicy changed: want one dryrun resource to point at Jira")
	}
	pol = strings.Replace(pol, "provider: dryrun", "provider: jira", 1)
	e := &env{t: b, clock: clockwork.NewFakeClockAt(t0)}
	// Slack spreads an app's envelopes over its Socket Mode connections.
	e.srv = localslack.New(b, localslack.Options{Now: e.clock.Now, Spread: true})
	for _, u := range users {
		e.srv.AddUser(u)
	}
	e.srv.AddChannel(cAlert, "jitbot-alerts")
	e.srv.AddChannel(cGen, "general")
	p, err := policies.Parse("policy.yaml", []byte(pol), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	e.db, err = store.Open(ctx, filepath.Join(b.TempDir(), "jitbot.db"), store.Options{Now: e.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.db.Close() })

	f := atlassianfake.New(b, atlassianfake.Options{})
	f.AddGroup(burstGroup)
	for i := range s.requesters {
		_, email := person(i)
		id := f.AddUser(email)
		if s.knownAccounts {
			if err := e.db.PutAccount(ctx, "jira", email, id); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range s.standing {
		email := fmt.Sprintf("standing%05d@example.com", i)
		f.AddUser(email)
		f.SetMember(burstGroup, email, true)
	}
	o := f.Options()
	prov, err := jira.New(jira.Config{SiteURL: f.URL(), Email: o.Email, Token: atlassian.Secret(o.Token), Cache: e.db,
		Transport: atlassian.Options{HTTPClient: f.Client()}})
	if err != nil {
		b.Fatal(err)
	}
	if err := prov.CheckGroups(ctx, []string{burstGroup}); err != nil {
		b.Fatal(err)
	}

	e.svc = approvals.New(approvals.Config{Store: e.db, Policy: p, Clock: e.clock,
		Providers: map[string]approvals.Provisioner{"jira": prov}})
	// The bot's defaults: Slack's pace of 1 post a second per channel,
	// bursts of 4, cards then pages.
	e.bot, err = bot.New(bot.Config{Service: e.svc, BotToken: e.srv.BotToken(), AppToken: e.srv.AppToken(),
		APIURL: e.srv.APIURL(), AlertChannel: cAlert, PageSize: s.pageSize, Connections: s.connections})
	if err != nil {
		b.Fatal(err)
	}
	e.svc.Attach(e.bot)
	if err := e.bot.Check(ctx); err != nil {
		b.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	e.cance = cancel
	e.wg.Add(2)
	go func() { defer e.wg.Done(); _ = e.bot.Run(runCtx) }()
	go func() { defer e.wg.Done(); _ = e.svc.Run(runCtx) }()
	b.Cleanup(e.stop)
	conns := s.connections
	if conns == 0 {
		conns = 2 // the bot's default
	}
	if !e.srv.WaitConnections(conns, 5*time.Second) {
		b.Fatal("the bot did not connect over Socket Mode")
	}
	f.SetFaults(atlassianfake.Faults{RateLimit: float64(s.rate)})
	return e, f, prov
}

// approveTarget is where an approver clicks Approve for one request.
type approveTarget struct {
	user, channel, ts, action string
}

// approveButtons reads every approver's DMs once and returns, by request
// id, the Approve button for it.
func (e *env) approveButtons(approvers int) map[string]approveTarget {
	out := map[string]approveTarget{}
	for m := range approvers {
		user := fmt.Sprintf("U0M%02d", m)
		for _, msg := range e.srv.DMsTo(user) {
			var blocks []struct {
				Elements []struct {
					ActionID string `json:"action_id"`
					Value    string `json:"value"`
				} `json:"elements"`
			}
			if json.Unmarshal(msg.Blocks, &blocks) != nil {
				continue
			}
			for _, bl := range blocks {
				for _, el := range bl.Elements {
					if el.Value != "" && (el.ActionID == "approve" || el.ActionID == "approve."+el.Value) {
						out[el.Value] = approveTarget{user: user, channel: msg.Channel, ts: msg.TS, action: el.ActionID}
					}
				}
			}
		}
	}
	return out
}

// latencyStats summarises latencies against the rate limit's own queueing.
type latencyStats struct {
	p50, p99, max                 time.Duration
	ideal50, ideal99              time.Duration
	excess50, excess99, excessMax time.Duration
	firstToLast, idealSpan        time.Duration
	n, over1sBeyondIdeal          int
}

// queueingStats sorts lat and compares rank i with i/R.
func queueingStats(lat []time.Duration, r int) latencyStats {
	slices.Sort(lat)
	st := latencyStats{n: len(lat)}
	if len(lat) == 0 {
		return st
	}
	ideal := func(i int) time.Duration { return time.Duration(i) * time.Second / time.Duration(r) }
	excess := make([]time.Duration, len(lat))
	for i, l := range lat {
		excess[i] = l - ideal(i)
		if excess[i] > time.Second {
			st.over1sBeyondIdeal++
		}
	}
	slices.Sort(excess)
	st.p50, st.p99, st.max = percentile(lat, 50), percentile(lat, 99), lat[len(lat)-1]
	st.ideal50 = ideal(int(float64(len(lat)-1) * 50 / 100))
	st.ideal99 = ideal(int(float64(len(lat)-1) * 99 / 100))
	st.excess50, st.excess99, st.excessMax = percentile(excess, 50), percentile(excess, 99), excess[len(excess)-1]
	st.idealSpan = ideal(len(lat) - 1)
	return st
}

func (s latencyStats) String() string {
	return fmt.Sprintf("p50 %v p99 %v max %v | rate limit alone p50 %v p99 %v | excess p50 %v p99 %v max %v (%d of %d over 1s)",
		s.p50.Round(time.Millisecond), s.p99.Round(time.Millisecond), s.max.Round(time.Millisecond),
		s.ideal50.Round(time.Millisecond), s.ideal99.Round(time.Millisecond),
		s.excess50.Round(time.Millisecond), s.excess99.Round(time.Millisecond), s.excessMax.Round(time.Millisecond),
		s.over1sBeyondIdeal, s.n)
}

// procStatusKB reads a field (VmHWM, VmRSS) of /proc/self/status in KiB.
func procStatusKB(field string) int {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return v
		}
	}
	return -1
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS() bool { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil }

// jiraCounts reads the fake's request counters of the routes the provider uses.
type jiraCounts struct{ all, search, members, add, remove, throttled int }

func countJira(f *atlassianfake.Server) jiraCounts {
	t, _ := f.Throttled()
	return jiraCounts{all: f.Requests(), search: f.Calls("GET /rest/api/3/user/search"), members: f.Calls("GET /rest/api/3/group/member"),
		add: f.Calls("POST /rest/api/3/group/user"), remove: f.Calls("DELETE /rest/api/3/group/user"), throttled: t}
}

func (c jiraCounts) since(o jiraCounts) jiraCounts {
	return jiraCounts{c.all - o.all, c.search - o.search, c.members - o.members, c.add - o.add, c.remove - o.remove, c.throttled - o.throttled}
}

func (c jiraCounts) String() string {
	return fmt.Sprintf("%d requests (user/search %d, group/member %d, POST group/user %d, DELETE group/user %d), 429s %d",
		c.all, c.search, c.members, c.add, c.remove, c.throttled)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func runBurst(b *testing.B, s burstSetup) {
	b.StopTimer()
	e, f, prov := newBurstEnv(b, s)
	ctx := context.Background()
	reset := resetPeakRSS()
	rssBefore := procStatusKB("VmRSS")
	goPeak := sampleGoMemory(b)
	b.StartTimer()
	wallStart := time.Now()

	// 1. Filing: everyone at once.
	fileAcks := make([]time.Duration, s.requesters)
	var wg sync.WaitGroup
	for i := range s.requesters {
		wg.Go(func() {
			user, _ := person(i)
			ack, err := e.srv.SlashCommand(user, cGen, "/access", burstGroup+" 1h incident")
			if err != nil {
				b.Error(err)
				return
			}
			fileAcks[i] = ack.Latency
		})
	}
	wg.Wait()
	var ids []string
	if !e.srv.WaitFor(time.Minute, func() bool {
		rs, err := e.svc.List(ctx, approvals.RequestFilter{States: []approvals.State{approvals.StatePending}})
		if err != nil {
			b.Fatal(err)
		}
		ids = ids[:0]
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return len(ids) == s.requesters
	}) {
		b.Fatalf("%d of %d requests filed after a minute", len(ids), s.requesters)
	}

	// 2. Placing, at Slack's pace on the test clock.
	var targets map[string]approveTarget
	placed, ok := e.advanceWhenIdle(100*time.Millisecond, 5*time.Minute, func() bool {
		targets = e.approveButtons(s.approvers)
		for _, id := range ids {
			if _, ok := targets[id]; !ok {
				return false
			}
		}
		return true
	})
	if !ok {
		b.Fatalf("%d of %d requests actionable after %v on the test clock", len(targets), len(ids), placed)
	}
	approverPosts := 0
	for m := range s.approvers {
		approverPosts += len(e.srv.DMsTo(fmt.Sprintf("U0M%02d", m)))
	}
	slackPaced := e.srv.RateLimited("chat.postMessage")

	// 3. Every Approve clicked at once (after the look-ups, if asked).
	if s.clickAfterLookups {
		for f.Calls("GET /rest/api/3/user/search") < s.requesters {
			if time.Since(wallStart) > time.Minute {
				b.Fatalf("%d of %d accounts looked up a minute after filing", f.Calls("GET /rest/api/3/user/search"), s.requesters)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.Logf("look-ups: every account looked up %v after filing", time.Since(wallStart).Round(time.Millisecond))
	}
	requesterOf := map[string]string{}
	for _, id := range ids {
		r, err := e.svc.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		requesterOf[id] = r.Requester
	}
	beforeClicks := countJira(f)
	clickAt := map[string]time.Time{}
	clickAcks := make([]time.Duration, len(ids))
	var mu sync.Mutex
	if path := os.Getenv("JITBOT_BENCH_CLICK_PROFILE"); path != "" {
		// A CPU profile of the clicks alone, until the last is acked.
		out, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			b.Fatal(err)
		}
		defer out.Close()
	}
	paceAtClick := prov.Client().Rate()
	firstClick := time.Now()
	for i, id := range ids {
		t := targets[id]
		if s.clickRate > 0 { // people's pace: one click every 1/clickRate s, all approvers together
			time.Sleep(time.Until(firstClick.Add(time.Duration(float64(i) * float64(time.Second) / s.clickRate))))
		}
		wg.Go(func() {
			at := time.Now()
			ack, err := e.srv.ClickButton(t.user, t.channel, t.ts, t.action)
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			clickAt[requesterOf[id]] = at
			clickAcks[i] = ack.Latency
			mu.Unlock()
		})
	}
	wg.Wait()
	if os.Getenv("JITBOT_BENCH_CLICK_PROFILE") != "" {
		pprof.StopCPUProfile()
	}
	adds := func() []atlassianfake.Change {
		var out []atlassianfake.Change
		for _, c := range f.Changes() {
			if c.Op == "add" && c.Group == burstGroup {
				out = append(out, c)
			}
		}
		return out
	}
	if !e.srv.WaitFor(10*time.Minute, func() bool { time.Sleep(5 * time.Millisecond); return len(adds()) >= len(ids) }) {
		b.Fatalf("%d of %d memberships added", len(adds()), len(ids))
	}
	var addLat []time.Duration
	var lastAdd time.Time
	for _, c := range adds() {
		at, ok := clickAt[c.Email]
		if !ok {
			b.Fatalf("an add for %s, who was not clicked", c.Email)
		}
		addLat = append(addLat, c.Wall.Sub(at))
		if c.Wall.After(lastAdd) {
			lastAdd = c.Wall
		}
	}
	paceAtLastAdd := prov.Client().Rate()
	clickJira := countJira(f).since(beforeClicks)
	addStats := queueingStats(addLat, s.rate)
	addStats.firstToLast = lastAdd.Sub(firstClick)
	addReqFloor := time.Duration(clickJira.all-clickJira.throttled) * time.Second / time.Duration(s.rate)

	// Every request active, all ending at one instant (the test clock
	// stood still).
	var endsAt, warnAt time.Time
	if !e.srv.WaitFor(time.Minute, func() bool {
		rs, err := e.svc.List(ctx, approvals.RequestFilter{States: []approvals.State{approvals.StateActive}})
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) < len(ids) {
			time.Sleep(10 * time.Millisecond)
			return false
		}
		endsAt, warnAt = rs[0].EndsAt, rs[0].WarnAt
		for _, r := range rs {
			if !r.EndsAt.Equal(endsAt) {
				b.Fatalf("grants end at %v and %v: the test clock moved while they were provisioned", endsAt, r.EndsAt)
			}
		}
		return true
	}) {
		b.Fatal("not every request became active")
	}

	// 4. Expiry: the warning first, as it would come a quarter of an hour
	// before; then the deadline.
	e.clock.Advance(warnAt.Sub(e.clock.Now()))
	e.srv.WaitFor(time.Minute, func() bool { time.Sleep(10 * time.Millisecond); return e.messagesDue() == 0 })
	beforeExpiry := countJira(f)
	deadline := time.Now()
	e.clock.Advance(endsAt.Sub(e.clock.Now()))
	removes := func() []atlassianfake.Change {
		var out []atlassianfake.Change
		for _, c := range f.Changes() {
			if c.Op == "remove" && c.Group == burstGroup {
				out = append(out, c)
			}
		}
		return out
	}
	if !e.srv.WaitFor(10*time.Minute, func() bool { time.Sleep(5 * time.Millisecond); return len(removes()) >= len(ids) }) {
		b.Fatalf("%d of %d memberships removed", len(removes()), len(ids))
	}
	var rmLat []time.Duration
	var lastRm time.Time
	for _, c := range removes() {
		rmLat = append(rmLat, c.Wall.Sub(deadline))
		if c.Wall.After(lastRm) {
			lastRm = c.Wall
		}
	}
	expiryJira := countJira(f).since(beforeExpiry)
	paceAtLastRemoval, paceStats := prov.Client().Rate(), prov.Client().Pace()
	rmStats := queueingStats(rmLat, s.rate)
	rmStats.firstToLast = lastRm.Sub(deadline)
	b.StopTimer()
	peak := procStatusKB("VmHWM")
	heapPeak, goTotalPeak := goPeak()
	wall := time.Since(wallStart)

	allAcks := append(slices.Clone(fileAcks), clickAcks...)
	slices.Sort(fileAcks)
	slices.Sort(clickAcks)
	slices.Sort(allAcks)
	b.ReportMetric(ms(percentile(allAcks, 50)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(allAcks, 99)), "ack-p99-ms")
	b.ReportMetric(addStats.p50.Seconds(), "add-p50-s")
	b.ReportMetric(addStats.p99.Seconds(), "add-p99-s")
	b.ReportMetric(addStats.excess99.Seconds(), "add-excess-p99-s")
	b.ReportMetric(rmStats.p50.Seconds(), "rm-p50-s")
	b.ReportMetric(rmStats.p99.Seconds(), "rm-p99-s")
	b.ReportMetric(rmStats.excess99.Seconds(), "rm-excess-p99-s")
	b.ReportMetric(float64(peak)/1024, "peak-rss-MiB")
	b.Logf("requesters=%d approvers=%d R=%d/s standing=%d known-accounts=%v page-size=%d click-after-lookups=%v connections=%d click-rate=%v/s (run took %v wall)",
		s.requesters, s.approvers, s.rate, s.standing, s.knownAccounts, s.pageSize, s.clickAfterLookups, s.connections, s.clickRate, wall.Round(time.Millisecond))
	b.Logf("acks: filing p50 %.1f ms p99 %.1f ms max %.1f ms; clicks p50 %.1f ms p99 %.1f ms max %.1f ms; all %d: p50 %.1f ms p99 %.1f ms",
		ms(percentile(fileAcks, 50)), ms(percentile(fileAcks, 99)), ms(fileAcks[len(fileAcks)-1]),
		ms(percentile(clickAcks, 50)), ms(percentile(clickAcks, 99)), ms(clickAcks[len(clickAcks)-1]),
		len(allAcks), ms(percentile(allAcks, 50)), ms(percentile(allAcks, 99)))
	b.Logf("placing: all %d actionable after %v on the test clock, in %d messages to the approvers; Slack paced %d chat.postMessage",
		len(ids), placed, approverPosts, slackPaced)
	b.Logf("click→added: %v; first click to last add %v; Jira in this phase: %s; those requests alone at R take %v; the pace learnt: %.1f/s at the first click, %.1f/s at the last add",
		addStats, addStats.firstToLast.Round(time.Millisecond), clickJira, addReqFloor, paceAtClick, paceAtLastAdd)
	b.Logf("expiry→removed: %v; deadline to last removal %v; Jira in this phase: %s; the pace learnt: %.1f/s at the last removal (in all: %d decreases, %d answers near the limit, %d 429s)",
		rmStats, rmStats.firstToLast.Round(time.Millisecond), expiryJira, paceAtLastRemoval, paceStats.Decreases, paceStats.Near, paceStats.Throttled)
	b.Logf("work: %s; Slack calls: chat.postMessage %d (paced 429s %d), chat.update %d, views.publish %d",
		e.jobsDone(), len(e.srv.Calls("chat.postMessage")), e.srv.RateLimited("chat.postMessage"),
		len(e.srv.Calls("chat.update")), len(e.srv.Calls("views.publish")))
	b.Logf("RSS: %.1f MiB once connected; peak %.1f MiB (VmHWM%s); Go's own peaks: heap objects %.1f MiB, all Go memory %.1f MiB",
		float64(rssBefore)/1024, float64(peak)/1024,
		map[bool]string{true: ", reset once connected", false: " since the process started: clear_refs refused"}[reset],
		float64(heapPeak)/(1<<20), float64(goTotalPeak)/(1<<20))
}

// jobsDone lists the outbox jobs run to completion, by kind.
func (e *env) jobsDone() string {
	e.t.Helper()
	rows, err := e.db.ReadDB().Query(`SELECT kind, count(*) FROM jobs WHERE state = 'done' GROUP BY kind ORDER BY kind`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			e.t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%s %d", kind, n))
	}
	return "jobs done: " + strings.Join(parts, ", ")
}

// sampleGoMemory samples the Go runtime's heap objects and all the memory
// it maps every 20 ms until the benchmark ends (runtime/metrics, no stop
// of the world); the returned func stops it and gives the peaks. What
// VmHWM holds beyond them is SQLite's and the C runtime's memory, and the
// binary itself.
func sampleGoMemory(b *testing.B) func() (heap, total uint64) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	var heap, total uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			heap, total = max(heap, samples[0].Value.Uint64()), max(total, samples[1].Value.Uint64())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	finish := func() (uint64, uint64) {
		once.Do(func() { close(stop); <-done })
		return heap, total
	}
	b.Cleanup(func() { finish() })
	return finish
}

// BenchmarkDecodePageClick measures what slack-go's Socket Mode client does
// with a click on a full page of waiting requests before the bot can ack
// it: decode the envelope (socketmode.Request), then its payload
// (slack.InteractionCallback), which carries the whole message the button
// is in. slack-go does this for every envelope, one after another, on one
// goroutine, so clicks that arrive together are acked no faster than this.
// The page is the bot's own, posted to the local Slack for 30 requests to
// one approver; the envelope is shaped like the local Slack's.
//
//	go test -run '^$' -bench BenchmarkDecodePageClick -benchmem ./bot/
func BenchmarkDecodePageClick(b *testing.B) {
	s := burstSetup{requesters: 30, approvers: 1, rate: 100000}
	e, _, _ := newBurstEnv(b, s)
	for i := range s.requesters {
		user, _ := person(i)
		if _, err := e.srv.SlashCommand(user, cGen, "/access", burstGroup+" 1h incident"); err != nil {
			b.Fatal(err)
		}
	}
	var page localslack.Message
	var action string
	if _, ok := e.advanceWhenIdle(100*time.Millisecond, time.Minute, func() bool {
		for _, m := range e.srv.DMsTo("U0M00") {
			for _, a := range m.ActionIDs() {
				if strings.HasPrefix(a, "approve.") && len(m.Blocks) > len(page.Blocks) {
					page, action = m, a
				}
			}
		}
		return len(page.Blocks) > 0 && strings.Count(string(page.Blocks), `"approve.`) >= 20
	}); !ok {
		b.Fatal("no page listing 20 requests")
	}
	payload := map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U0M00", "name": "m00"}, "api_app_id": "A0JITBOT",
		"container": map[string]any{"type": "message", "message_ts": page.TS, "channel_id": page.Channel},
		"channel":   map[string]any{"id": page.Channel}, "response_url": "http://127.0.0.1/response",
		"message": map[string]any{"type": "message", "text": page.Text, "ts": page.TS, "blocks": page.Blocks},
		"actions": []any{map[string]any{"action_id": action, "block_id": "b", "type": "button", "value": strings.TrimPrefix(action, "approve.")}},
	}
	env, err := json.Marshal(map[string]any{"envelope_id": "e1", "type": "interactive", "accepts_response_payload": true, "payload": payload})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(env)))
	b.ResetTimer()
	for range b.N {
		var req socketmode.Request
		if err := json.Unmarshal(env, &req); err != nil {
			b.Fatal(err)
		}
		var ic slack.InteractionCallback
		if err := json.Unmarshal(req.Payload, &ic); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(strings.Count(string(page.Blocks), `"approve.`)), "requests/page")
	b.ReportMetric(float64(len(env)), "envelope-bytes")
}
