package evidence_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/evidence"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
)

// seedYear writes a year of a company of people (JITBOT_BENCH_PEOPLE,
// default 5,000) into a new SQLite database: grants requests (default
// 50,000; every tenth an admin escalation approved in two steps, the
// rest by the manager or a rule), each submitted, approved, provisioned,
// expired and removed, plus a weekly licence review's answers, about
// 370,000 events in all (the 200,000 is four a grant; the real flow writes seven or eight). It returns the database's path.
func seedYear(b *testing.B, people, grants int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "jitbot.db")
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	step := 364 * 24 * time.Hour / time.Duration(grants) // all in the year, their removals too
	const batch = 1000
	for first := 0; first < grants; first += batch {
		err := db.Update(context.Background(), func(tx approvals.Tx) error {
			if first == 0 {
				if err := tx.Append(&approvals.Event{Time: start.Add(-time.Hour), Actor: approvals.ActorSystem, Action: approvals.ActionPolicyLoaded,
					Data: map[string]string{"file": "policy.yaml", "sha256": strings.Repeat("ab", 32)}}); err != nil {
					return err
				}
			}
			for i := first; i < min(first+batch, grants); i++ {
				at := start.Add(time.Duration(i) * step)
				person, manager := fmt.Sprintf("p%05d@example.com", i%people), fmt.Sprintf("m%03d@example.com", i%people/50)
				admin := i%10 == 0
				r := &approvals.Request{ID: uuid.NewString(), Requester: person, Resource: "confluence-space", Admin: admin,
					Duration: 4 * time.Hour, Reason: "work on ticket", Rule: "managers approve", State: approvals.StateExpired,
					Steps: []approvals.Step{{Approvers: []string{manager}, Quorum: 1}}, CreatedAt: at, DecidedAt: at.Add(time.Minute),
					StartsAt: at.Add(time.Minute), EndsAt: at.Add(4*time.Hour + time.Minute), EndedAt: at.Add(4*time.Hour + time.Minute)}
				if admin {
					r.Resource, r.Rule = "jira-admins", "admin escalation"
					r.Steps = append(r.Steps, approvals.Step{Approvers: []string{"it1@example.com", "it2@example.com"}, Quorum: 1})
				}
				if err := tx.InsertRequest(r); err != nil {
					return err
				}
				g := &approvals.Grant{ID: uuid.NewString(), RequestID: r.ID, Person: person, Resource: r.Resource, Provider: "jira",
					Group: r.Resource, State: approvals.GrantEnded, CreatedAt: r.DecidedAt, UpdatedAt: r.EndedAt}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
				ev := func(t time.Time, actor, action string, data map[string]string) error {
					e := &approvals.Event{Time: t, Actor: actor, Action: action, Subject: person, Resource: r.Resource, RequestID: r.ID, Rule: r.Rule, Data: data}
					if strings.HasPrefix(action, "grant.") {
						e.GrantID = g.ID
					}
					return tx.Append(e)
				}
				steps := []string{manager}
				if admin {
					steps = append(steps, "it1@example.com")
				}
				if err := ev(at, person, approvals.ActionRequestSubmitted, nil); err != nil {
					return err
				}
				for n, who := range steps {
					if err := tx.InsertDecision(&approvals.Decision{RequestID: r.ID, Step: n, Approver: who, Approve: true, At: at.Add(30 * time.Second)}); err != nil {
						return err
					}
					if err := ev(at.Add(30*time.Second), who, approvals.ActionApprovalRecorded, map[string]string{"step": strconv.Itoa(n + 1)}); err != nil {
						return err
					}
				}
				for _, e := range []struct {
					t      time.Time
					action string
					data   map[string]string
				}{
					{r.DecidedAt, approvals.ActionRequestApproved, nil},
					{r.DecidedAt, approvals.ActionGrantProvisioned, map[string]string{"provider": "jira", "group": r.Resource}},
					{r.StartsAt, approvals.ActionClockStarted, map[string]string{"ends_at": r.EndsAt.Format(time.RFC3339)}},
					{r.EndsAt, approvals.ActionRequestExpired, nil},
					{r.EndsAt.Add(time.Duration(i%90) * time.Second), approvals.ActionGrantRemoved, map[string]string{"provider": "jira", "group": r.Resource}},
				} {
					if err := ev(e.t, approvals.ActorSystem, e.action, e.data); err != nil {
						return err
					}
				}
				if i%5 == 0 { // a licence review answer now and then
					if err := tx.Append(&approvals.Event{Time: at, Actor: manager, Action: review.ActionDecided, Subject: person, Rule: "employees",
						Reason: "still on the project", Data: map[string]string{"decision": "keep"}}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return path
}

// BenchmarkPackYear: the evidence pack of a seeded year (5,000 people,
// 50,000 grants, about 370,000 events; JITBOT_BENCH_PEOPLE and
// JITBOT_BENCH_GRANTS change them) from a read-only SQLite database:
// the time to build and write it, the events read, and the process's
// peak RSS (VmHWM, reset after seeding). Targets: under 10 s, under 300 MB.
//
//	go test -run '^$' -bench BenchmarkPackYear -benchtime 1x -timeout 30m ./evidence/
func BenchmarkPackYear(b *testing.B) {
	people, grants := envInt("JITBOT_BENCH_PEOPLE", 5000), envInt("JITBOT_BENCH_GRANTS", 50000)
	path := seedYear(b, people, grants)
	for range b.N {
		db, err := store.Open(context.Background(), path, store.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		debug.FreeOSMemory() // what seeding left behind is not the pack's
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		b.StartTimer()
		start := time.Now()
		p, err := evidence.Build(context.Background(), db, evidence.Options{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Generated: time.Now(), Command: "jitbot evidence pack --from 2026-01-01 --to 2026-12-31 --out year"})
		if err != nil {
			b.Fatal(err)
		}
		built := time.Since(start)
		if err := evidence.Write(filepath.Join(b.TempDir(), "year"), p); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		db.Close()
		s := p.Stats()
		if s.Grants != grants || !p.Chain.Verified {
			b.Fatalf("%d grants, chain verified %v", s.Grants, p.Chain.Verified)
		}
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(float64(p.Chain.Events), "events")
		b.ReportMetric(vmHWM(), "peak-RSS-MiB")
		b.Logf("%d people, %d grants (%d privileged), %d decisions, %d review answers, %d events: built in %v, written in %v; peak RSS %.1f MiB",
			people, s.Grants, s.Privileged, s.Decisions, s.Answers, p.Chain.Events, built.Round(time.Millisecond), (took - built).Round(time.Millisecond), vmHWM())
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// vmHWM reads the process's peak RSS in MiB (Linux).
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
