package leader

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// memLeases is a lease table in memory: what the store's leader row does,
// on this process's clock.
type memLeases struct {
	mu     sync.Mutex
	holder string
	term   int64
	until  time.Time
	down   map[string]bool // replicas cut off from the table
}

type memLease struct {
	t  *memLeases
	id string
	d  time.Duration
}

func (l memLease) Acquire(ctx context.Context) (int64, time.Duration, error) {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	if l.t.down[l.id] {
		return 0, 0, errors.New("cut off")
	}
	now := time.Now()
	if l.t.holder != l.id && now.Before(l.t.until) {
		return 0, l.t.until.Sub(now), nil
	}
	if l.t.holder != l.id || !now.Before(l.t.until) {
		l.t.term++
	}
	l.t.holder, l.t.until = l.id, now.Add(l.d)
	return l.t.term, 0, nil
}

func (l memLease) Release(context.Context) error {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	if l.t.holder == l.id {
		l.t.until = time.Now()
	}
	return nil
}

// Two replicas: one leads at a time; a clean stop hands over at once; a
// leader cut off from the lease steps down before its lease runs out, and
// its term's context ends with it.
func TestElector_OneLeaderAtATime(t *testing.T) {
	const lease = time.Second
	table := &memLeases{down: map[string]bool{}}
	var (
		mu     sync.Mutex
		active = map[string]bool{}
		clash  bool
	)
	start := func(id string) (*Elector, context.CancelFunc) {
		e := New(memLease{table, id, lease}, Options{ID: id, Lease: lease})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); e.Run(ctx) }()
		go func() {
			defer wg.Done()
			e.Lead(ctx, func(ctx context.Context) {
				mu.Lock()
				clash = clash || len(active) > 0
				active[id] = true
				mu.Unlock()
				<-ctx.Done()
				mu.Lock()
				delete(active, id)
				mu.Unlock()
			})
		}()
		stop := func() { cancel(); wg.Wait() }
		t.Cleanup(stop)
		return e, stop
	}
	waitFor := func(cond func() bool) time.Duration {
		t.Helper()
		begin := time.Now()
		for !cond() {
			if time.Since(begin) > 5*time.Second {
				t.Fatal("not within 5s")
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(begin)
	}

	a, stopA := start("a")
	waitFor(a.Leading)
	b, _ := start("b")
	time.Sleep(lease)
	if !a.Leading() || b.Leading() {
		t.Fatalf("while a renews: a leads %v, b leads %v", a.Leading(), b.Leading())
	}
	stopA()
	if took := waitFor(b.Leading); took > lease {
		t.Errorf("after a clean stop b took %s to lead", took)
	}

	c, _ := start("c")
	table.mu.Lock()
	table.down["b"] = true
	table.mu.Unlock()
	waitFor(func() bool { return !b.Leading() })
	table.mu.Lock()
	stepped, until := time.Now(), table.until
	table.mu.Unlock()
	if !stepped.Before(until) {
		t.Errorf("b stepped down at %s, after its lease ran out at %s", stepped.Format("05.000"), until.Format("05.000"))
	}
	waitFor(c.Leading)
	mu.Lock()
	defer mu.Unlock()
	if clash {
		t.Error("two replicas led at once")
	}
	if a.Terms() != 1 || b.Terms() != 1 || c.Terms() != 1 {
		t.Errorf("terms a %d, b %d, c %d; want one each", a.Terms(), b.Terms(), c.Terms())
	}
}
