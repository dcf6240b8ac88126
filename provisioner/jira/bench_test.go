package jira_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/internal/atlassianfake"
	"github.com/jitbot/jitbot/policies"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/jira"
	"github.com/jitbot/jitbot/store"
	"github.com/jonboulle/clockwork"
)

func envNumber(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkExpire10kAtRateLimit: 10,000 grants (JITBOT_BENCH_GRANTS) end
// at the same instant; the fake Jira allows R requests per second
// (JITBOT_BENCH_RATE, default 200) and answers 429 beyond; the provider has
// its defaults, as a new user's does: it learns the pace from the answers.
// One sweep expires them all, then the outbox worker (engine defaults: 8
// workers) revokes them. Reported: revocations
// per second between the first and the last removal, that as a fraction of
// R, the time from the sweep's start until the last membership is out,
// and the 429s the fake answered (each one was retried; all grants end
// removed or the benchmark fails; a 429's retry waits on the real clock, so
// the fake clock is not advanced). JITBOT_BENCH_WORKERS sets the engine's
// access-lane workers, JITBOT_BENCH_MESSAGE_WORKERS its message-lane
// workers, and JITBOT_BENCH_FAKE_BURST the fake's bucket size (default R).
// JITBOT_BENCH_TX_STATS=1 counts and times the engine's write transactions
// after the sweep (statStore) and logs how busy SQLite's write connection was.
func BenchmarkExpire10kAtRateLimit(b *testing.B) {
	r := envNumber("JITBOT_BENCH_RATE", 200)
	n := int(envNumber("JITBOT_BENCH_GRANTS", 10000))
	workers := int(envNumber("JITBOT_BENCH_WORKERS", 0))
	messageWorkers := int(envNumber("JITBOT_BENCH_MESSAGE_WORKERS", 0))
	txStats := os.Getenv("JITBOT_BENCH_TX_STATS") == "1"
	burst := int(envNumber("JITBOT_BENCH_FAKE_BURST", 0)) // the fake's bucket; default one second's worth
	for range b.N {
		b.StopTimer()
		f := atlassianfake.New(b, atlassianfake.Options{})
		f.AddGroup("confluence-finance")
		clock := clockwork.NewFakeClockAt(t0)
		db, err := store.Open(ctx, filepath.Join(b.TempDir(), "jitbot.db"), store.Options{Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		pol, err := policies.Parse("policy.yaml", []byte(enginePolicy([]string{"user0@example.com"}, "remove")), nil)
		if err != nil {
			b.Fatal(err)
		}
		seedExpiring(b, f, db, n)
		o := f.Options()
		p, err := jira.New(jira.Config{SiteURL: f.URL(), Email: o.Email, Token: atlassian.Secret(o.Token), Cache: db,
			Transport: atlassian.Options{HTTPClient: f.Client()}})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.CheckGroups(ctx, []string{"confluence-finance"}); err != nil {
			b.Fatal(err)
		}
		var engineStore approvals.Store = db
		var stats *statStore
		if txStats {
			stats = newStatStore(db)
			engineStore = stats
		}
		svc := approvals.New(approvals.Config{Store: engineStore, Policy: pol, Clock: clock, Workers: workers,
			MessageWorkers: messageWorkers, Providers: map[string]approvals.Provisioner{"jira": p}})
		f.SetFaults(atlassianfake.Faults{RateLimit: r, RateBurst: burst})
		before := f.Requests()
		time.Sleep(time.Second) // let the fake's bucket fill, as after a quiet second

		b.StartTimer()
		start := time.Now()
		res, err := svc.Sweep(ctx)
		if err != nil || res.Expired != n {
			b.Fatalf("sweep: %+v %v", res, err)
		}
		swept := time.Since(start)
		if stats != nil {
			stats.reset()
		}
		// The engine's own loops revoke them: the access lane's workers
		// pull jobs continuously.
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan struct{})
		go func() { defer close(ran); _ = svc.Run(runCtx) }()
		for {
			var pending int
			if err := db.ReadDB().QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE state = 'pending' AND lane = 'access'`).Scan(&pending); err != nil {
				b.Fatal(err)
			}
			if pending == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		<-ran
		b.StopTimer()

		if m := f.Members("confluence-finance"); len(m) != 0 {
			b.Fatalf("%d members left after every grant ended", len(m))
		}
		var done, ended int
		if err := db.ReadDB().QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'ended' AND note = 'removed') FROM grants`).Scan(&done, &ended); err != nil {
			b.Fatal(err)
		}
		if ended != n {
			b.Fatalf("grants ended and removed: %d of %d", ended, done)
		}
		var walls []time.Time
		for _, c := range f.Changes() {
			if c.Op == "remove" {
				walls = append(walls, c.Wall)
			}
		}
		if len(walls) != n {
			b.Fatalf("removals: %d, want %d", len(walls), n)
		}
		sort.Slice(walls, func(i, j int) bool { return walls[i].Before(walls[j]) })
		perSec := float64(n-1) / walls[n-1].Sub(walls[0]).Seconds()
		throttled, limited := f.Throttled()
		st := p.Client().Stats()
		b.ReportMetric(perSec, "revocations/s")
		b.ReportMetric(perSec/r, "fraction_of_R")
		b.ReportMetric(walls[n-1].Sub(start).Seconds(), "s_until_last_out")
		b.ReportMetric(swept.Seconds(), "s_sweep")
		b.ReportMetric(float64(throttled), "429s")
		b.ReportMetric(float64(f.Requests()-before), "requests")
		b.Logf("R=%.0f/s grants=%d: %.1f revocations/s (%.3f R), last out after %s (sweep %s), requests %d, 429s %d (rate limit %d), client %+v",
			r, n, perSec, perSec/r, walls[n-1].Sub(start).Round(time.Millisecond), swept.Round(time.Millisecond), f.Requests()-before, throttled, limited, st)
		if stats != nil {
			b.Logf("after the sweep: %s", stats.report(walls[n-1].Sub(start)-swept))
		}
		db.Close()
	}
}

// seedStore is what seeding needs of a store, SQLite's or PostgreSQL's.
type seedStore interface {
	approvals.Store
	PutAccount(ctx context.Context, provider, email, accountID string) error
}

// seedExpiring stores n active grants that all end at t0, each with the
// membership jitbot added and the account id it looked up, and puts the
// members in the fake.
func seedExpiring(b *testing.B, f *atlassianfake.Server, db seedStore, n int) {
	b.Helper()
	ids := make([]string, n)
	for i := range n {
		email := fmt.Sprintf("user%05d@example.com", i)
		ids[i] = f.AddUser(email)
		f.SetMember("confluence-finance", email, true)
		if err := db.PutAccount(ctx, "jira", email, ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	const chunk = 2000
	for startAt := 0; startAt < n; startAt += chunk {
		err := db.Update(ctx, func(tx approvals.Tx) error {
			for i := startAt; i < startAt+chunk && i < n; i++ {
				id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
				email := fmt.Sprintf("user%05d@example.com", i)
				r := &approvals.Request{ID: id, Requester: email, Resource: "confluence-finance", Duration: time.Hour, Reason: "seed",
					Rule: "seed", Steps: []approvals.Step{}, CorrelationID: id, State: approvals.StateActive,
					CreatedAt: t0.Add(-time.Hour), StartsAt: t0.Add(-time.Hour), EndsAt: t0, WarnAt: t0.Add(-time.Minute), Warned: true}
				if err := tx.InsertRequest(r); err != nil {
					return err
				}
				g := &approvals.Grant{ID: "g" + id, RequestID: id, Person: email, Resource: r.Resource, Provider: "jira",
					Group: "confluence-finance", State: approvals.GrantActive, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
				if _, err := tx.InsertMembership(&approvals.MembershipRecord{Membership: g.Membership(), Origin: approvals.OriginBot, Since: r.StartsAt}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
