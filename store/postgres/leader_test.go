package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store/postgres"
)

// terms records when each replica led, to check that no two overlap.
type terms struct {
	mu   sync.Mutex
	runs []termRun
}

type termRun struct {
	who        string
	start, end time.Time
}

func (ts *terms) lead(who string) func(ctx context.Context) {
	return func(ctx context.Context) {
		ts.mu.Lock()
		i := len(ts.runs)
		ts.runs = append(ts.runs, termRun{who: who, start: time.Now()})
		ts.mu.Unlock()
		<-ctx.Done()
		ts.mu.Lock()
		ts.runs[i].end = time.Now()
		ts.mu.Unlock()
	}
}

func (ts *terms) snapshot() []termRun {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]termRun(nil), ts.runs...)
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("not within %s", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// One of two replicas leads; when it goes away cleanly the other leads at
// once; when it is cut off from the database (no goodbye, no renewal) the
// other leads within the lease, and the cut-off one had stopped leading
// before: no two terms overlap. (A leader killed outright is
// TestFailover_LeaderKilled in cmd/jitbot.)
func TestElector_Failover(t *testing.T) {
	url, _ := pgtest.Schema(t)
	const lease = 900 * time.Millisecond
	a, b, c := openURL(t, url), openURL(t, url), openURL(t, url)
	var ts terms
	start := func(db *postgres.DB, who string) (*postgres.Elector, context.CancelFunc) {
		e := postgres.NewElector(db, postgres.ElectorOptions{ID: who, Lease: lease})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); e.Run(ctx) }()
		go func() { defer wg.Done(); e.Lead(ctx, ts.lead(who)) }()
		t.Cleanup(func() { cancel(); wg.Wait() })
		return e, func() { cancel(); wg.Wait() }
	}
	ea, stopA := start(a, "a")
	waitFor(t, 5*time.Second, ea.Leading)
	eb, stopB := start(b, "b")
	time.Sleep(2 * lease)
	if !ea.Leading() || eb.Leading() {
		t.Fatalf("while a renews: a leads %v, b leads %v; want a only", ea.Leading(), eb.Leading())
	}
	if holder, _, running, err := a.Leader(context.Background(), "engine"); err != nil || holder != "a" || !running {
		t.Fatalf("leader row: %q %v %v", holder, running, err)
	}

	// a stops cleanly: it gives the lease up and b leads at once.
	stopA()
	if took := waitFor(t, 5*time.Second, eb.Leading); took > lease/2 {
		t.Errorf("after a clean stop b took %s to lead, want well under the lease (%s)", took, lease)
	}

	// c joins; b is cut off from the database without a word.
	ec, _ := start(c, "c")
	time.Sleep(lease)
	if ec.Leading() {
		t.Fatal("c leads while b renews")
	}
	died := time.Now()
	eb.CutOff()
	took := waitFor(t, 5*time.Second, ec.Leading)
	if took > lease+300*time.Millisecond {
		t.Errorf("after b died c took %s to lead, want within the lease (%s)", took, lease)
	}
	waitFor(t, 2*time.Second, func() bool { return !eb.Leading() })
	stopB()
	t.Logf("b died at %s; c led %s later", died.Format("15:04:05.000"), took.Round(time.Millisecond))

	runs := ts.snapshot()
	for i := 1; i < len(runs); i++ {
		prev, cur := runs[i-1], runs[i]
		if prev.end.IsZero() || cur.start.Before(prev.end) {
			t.Errorf("terms overlap: %s led %s–%s, %s from %s", prev.who, prev.start.Format("05.000"), prev.end.Format("05.000"), cur.who, cur.start.Format("05.000"))
		}
	}
	if got := len(runs); got != 3 || runs[0].who != "a" || runs[1].who != "b" || runs[2].who != "c" {
		t.Errorf("terms: got %+v, want a, b, c", runs)
	}
}
