package approvals_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/approvals"
	"github.com/jitbot/jitbot/store"
)

// seedActive stores n active single-grant requests; the first due of them
// end before t0, the rest spread over the following 30 days.
func seedActive(tb testing.TB, db *store.DB, n, due int) {
	tb.Helper()
	ctx := context.Background()
	const chunk = 10000
	for start := 0; start < n; start += chunk {
		err := db.Update(ctx, func(tx approvals.Tx) error {
			for i := start; i < start+chunk && i < n; i++ {
				ends := t0.Add(time.Duration(i-due+1) * 26 * time.Second)
				if i < due {
					ends = t0.Add(-time.Duration(i+1) * time.Second)
				}
				id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
				r := &approvals.Request{ID: id, Requester: fmt.Sprintf("user%d@example.com", i), Resource: "confluence-finance",
					Duration: time.Hour, Reason: "seed", Rule: "seed", Steps: []approvals.Step{}, CorrelationID: id,
					State: approvals.StateActive, CreatedAt: t0.Add(-time.Hour), StartsAt: ends.Add(-time.Hour), EndsAt: ends,
					WarnAt: ends.Add(-time.Minute), Warned: true}
				if err := tx.InsertRequest(r); err != nil {
					return err
				}
				g := &approvals.Grant{ID: "g" + id, RequestID: id, Person: r.Requester, Resource: r.Resource,
					Provider: "jira", Group: "confluence-finance", State: approvals.GrantActive, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt}
				if err := tx.InsertGrant(g); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkNextDeadline: the earliest deadline among 100,000 active grants.
func BenchmarkNextDeadline(b *testing.B) {
	e := newEnv(b)
	seedActive(b, e.db, 100000, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := e.svc.NextDeadline(e.ctx); err != nil || !ok {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweep10kOf100k: 100,000 active grants of which 10,000 are due;
// one sweep expires the 10,000 and queues their revocations.
func BenchmarkSweep10kOf100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnvAt(b, filepath.Join(b.TempDir(), "j.db"))
		seedActive(b, e.db, 100000, 10000)
		b.StartTimer()
		res, err := e.svc.Sweep(e.ctx)
		b.StopTimer()
		if err != nil || res.Expired != 10000 {
			b.Fatalf("sweep: %+v %v", res, err)
		}
		e.db.Close()
		b.StartTimer()
	}
}

// The sweep's queries must read only due rows: each uses its partial index
// with a range on the deadline, never a scan of the table. (The store pins
// the index with INDEXED BY; these are the same queries as the store's, so a
// change that made the index unusable fails here, not in production.)
func TestSweepQueriesUseDeadlineIndexes(t *testing.T) {
	e := newEnv(t)
	seedActive(t, e.db, 2000, 10)
	queries := map[string]string{
		"requests_due_active":  `SELECT id FROM requests INDEXED BY requests_due_active WHERE state = 'active' AND ends_at <= ? ORDER BY ends_at LIMIT 1000`,
		"requests_due_pending": `SELECT id FROM requests INDEXED BY requests_due_pending WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT 1000`,
		"requests_due_remind":  `SELECT id FROM requests INDEXED BY requests_due_remind WHERE state = 'pending' AND reminded = 0 AND remind_at <= ? ORDER BY remind_at LIMIT 1000`,
		"requests_due_warn":    `SELECT id FROM requests INDEXED BY requests_due_warn WHERE state = 'active' AND warned = 0 AND warn_at <= ? ORDER BY warn_at LIMIT 1000`,
		"jobs_due":             `SELECT id FROM jobs INDEXED BY jobs_due WHERE state = 'pending' AND run_at <= ? ORDER BY id LIMIT 256`,
	}
	for index, q := range queries {
		rows, err := e.db.ReadDB().Query("EXPLAIN QUERY PLAN "+q, t0.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			rows.Scan(&id, &parent, &unused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "USING INDEX "+index) && !strings.Contains(got, "USING COVERING INDEX "+index) {
			t.Errorf("%s: plan %q does not use %s", q, got, index)
		}
		if index != "jobs_due" && !strings.Contains(got, "<?") {
			t.Errorf("%s: plan %q is not a range on the deadline", q, got)
		}
	}
}
