package jira_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
	"github.com/jitbot/jitbot/store/postgres"
	"github.com/jonboulle/clockwork"
)

// follower is the Elector of a replica that never leads: in the
// benchmark, the first replica sweeps and both work the lanes.
type follower struct{}

func (follower) Lead(ctx context.Context, _ func(context.Context)) error {
	<-ctx.Done()
	return nil
}

// BenchmarkExpire10kPostgres is BenchmarkExpire10kAtRateLimit on
// PostgreSQL (JITBOT_TEST_POSTGRES), with JITBOT_BENCH_REPLICAS engines
// (default 1) on one schema, each on its own connection pool with its own
// jira provider, as separate processes would be. The first replica sweeps
// (it is the leader); every replica works the access lane. The fake allows
// R requests per second in all (JITBOT_BENCH_RATE, default 200), and each
// replica's token bucket is set to R divided by the replicas, as an
// operator sets ATLASSIAN_RATE for several replicas sharing one site's
// limit. Reported as the SQLite benchmark, plus the replicas and how many
// removals each made.
func BenchmarkExpire10kPostgres(b *testing.B) {
	r := envNumber("JITBOT_BENCH_RATE", 200)
	n := int(envNumber("JITBOT_BENCH_GRANTS", 10000))
	replicas := int(envNumber("JITBOT_BENCH_REPLICAS", 1))
	workers := int(envNumber("JITBOT_BENCH_WORKERS", 0))
	burst := int(envNumber("JITBOT_BENCH_FAKE_BURST", 0))
	for range b.N {
		b.StopTimer()
		url, _ := pgtest.Schema(b)
		url = strings.Replace(url, "pool_max_conns=6", "pool_max_conns=32", 1) // a replica's own default
		f := atlassianfake.New(b, atlassianfake.Options{})
		f.AddGroup("confluence-finance")
		clock := clockwork.NewFakeClockAt(t0)
		pol, err := policies.Parse("policy.yaml", []byte(enginePolicy([]string{"user0@example.com"}, "remove")), nil)
		if err != nil {
			b.Fatal(err)
		}
		var (
			dbs   []*postgres.DB
			svcs  []*approvals.Service
			provs []*jira.Provider
		)
		for i := range replicas {
			db, err := postgres.Open(ctx, url, postgres.Options{Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			dbs = append(dbs, db)
			if i == 0 {
				seedExpiring(b, f, db, n)
			}
			o := f.Options()
			p, err := jira.New(jira.Config{SiteURL: f.URL(), Email: o.Email, Token: atlassian.Secret(o.Token), Cache: db,
				Transport: atlassian.Options{HTTPClient: f.Client()}})
			if err != nil {
				b.Fatal(err)
			}
			if err := p.CheckGroups(ctx, []string{"confluence-finance"}); err != nil {
				b.Fatal(err)
			}
			provs = append(provs, p)
			var leader approvals.Elector
			if i > 0 {
				leader = follower{}
			}
			svcs = append(svcs, approvals.New(approvals.Config{Store: db, Policy: pol, Clock: clock, Workers: workers, Leader: leader,
				Providers: map[string]approvals.Provisioner{"jira": p}}))
		}
		f.SetFaults(atlassianfake.Faults{RateLimit: r, RateBurst: burst})
		before := f.Requests()
		time.Sleep(time.Second)

		b.StartTimer()
		start := time.Now()
		res, err := svcs[0].Sweep(ctx)
		if err != nil || res.Expired != n {
			b.Fatalf("sweep: %+v %v", res, err)
		}
		swept := time.Since(start)
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan struct{}, replicas)
		for _, svc := range svcs {
			go func() { defer func() { ran <- struct{}{} }(); _ = svc.Run(runCtx) }()
		}
		for {
			var pending int
			if err := dbs[0].Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE state = 'pending' AND lane = 'access'`).Scan(&pending); err != nil {
				b.Fatal(err)
			}
			if pending == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		for range svcs {
			<-ran
		}
		b.StopTimer()

		if m := f.Members("confluence-finance"); len(m) != 0 {
			b.Fatalf("%d members left after every grant ended", len(m))
		}
		var ended int
		if err := dbs[0].Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'ended' AND note = 'removed') FROM grants`).Scan(&ended); err != nil {
			b.Fatal(err)
		}
		if ended != n {
			b.Fatalf("grants ended and removed: %d of %d", ended, n)
		}
		var walls []time.Time
		for _, c := range f.Changes() {
			if c.Op == "remove" {
				walls = append(walls, c.Wall)
			}
		}
		if len(walls) != n {
			b.Fatalf("removals: %d, want %d (each membership removed once)", len(walls), n)
		}
		sort.Slice(walls, func(i, j int) bool { return walls[i].Before(walls[j]) })
		perSec := float64(n-1) / walls[n-1].Sub(walls[0]).Seconds()
		throttled, limited := f.Throttled()
		var share []int64
		for _, p := range provs {
			share = append(share, p.Client().Stats().Attempts)
		}
		b.ReportMetric(perSec, "revocations/s")
		b.ReportMetric(perSec/r, "fraction_of_R")
		b.ReportMetric(walls[n-1].Sub(start).Seconds(), "s_until_last_out")
		b.ReportMetric(swept.Seconds(), "s_sweep")
		b.ReportMetric(float64(throttled), "429s")
		b.Logf("PostgreSQL, %d replica(s), R=%.0f/s grants=%d: %.1f revocations/s (%.3f R), last out after %s (sweep %s), requests %d, 429s %d (rate limit %d), requests per replica %v",
			replicas, r, n, perSec, perSec/r, walls[n-1].Sub(start).Round(time.Millisecond), swept.Round(time.Millisecond), f.Requests()-before, throttled, limited, share)
		for _, db := range dbs {
			db.Close()
		}
	}
}
